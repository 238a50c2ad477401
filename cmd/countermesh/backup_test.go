package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/countermesh/countermesh/persist"
)

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// newPeerDir makes a stopped peer's data directory holding a few writes, and
// returns it with its replica id.
func newPeerDir(t *testing.T) (string, string) {
	t.Helper()
	dir := t.TempDir()
	opts := persist.SmallOptions(dir)
	opts.Logger = quietLogger()
	s, err := persist.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = s.Write(context.Background(),
		persist.Add("video:abc", "claps", 7),
		persist.React("video:abc", "u1", "like"))
	if err != nil {
		t.Fatal(err)
	}
	return dir, s.Replica().String()
}

func TestBackupAndRestoreCommands(t *testing.T) {
	data, replica := newPeerDir(t)
	out := filepath.Join(t.TempDir(), "peer.backup")

	code, stdout, stderr := runCmd(t, "backup", "--data", data, "--out", out)
	if code != 0 || !strings.Contains(stdout, "backed up replica "+replica) {
		t.Fatalf("backup: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	code, _, stderr = runCmd(t, "backup", "--data", data, "--out", out)
	if code != 1 || !strings.Contains(stderr, "exists; use --force") {
		t.Errorf("backup over an existing file: exit %d, stderr %q; want 1 and a refusal", code, stderr)
	}
	if code, _, stderr = runCmd(t, "backup", "--data", data, "--out", out, "--force"); code != 0 {
		t.Errorf("backup --force: exit %d, stderr %q", code, stderr)
	}

	restored := filepath.Join(t.TempDir(), "restored")
	code, stdout, stderr = runCmd(t, "restore", "--in", out, "--data", restored)
	if code != 0 || !strings.Contains(stdout, "as a NEW replica") {
		t.Fatalf("restore: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	opts := persist.SmallOptions(restored)
	opts.Logger = quietLogger()
	s, err := persist.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Replica().String() == replica || !strings.Contains(stdout, s.Replica().String()) {
		t.Errorf("restored replica %s (old %s), stdout %q: want the new id printed", s.Replica(), replica, stdout)
	}
	if v, err := s.ReadItem("video:abc", "u1"); err != nil || v.Counters["claps"] != 7 || v.Tallies["like"] != 1 {
		t.Errorf("restored item = %+v, %v", v, err)
	}

	code, _, stderr = runCmd(t, "restore", "--in", out, "--data", data)
	if code != 1 || !strings.Contains(stderr, "empty or absent") {
		t.Errorf("restore into a non-empty dir: exit %d, stderr %q", code, stderr)
	}
}

func TestBackupRefusals(t *testing.T) {
	data, _ := newPeerDir(t)
	opts := persist.SmallOptions(data)
	opts.Logger = quietLogger()
	running, err := persist.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer running.Close()
	out := filepath.Join(t.TempDir(), "b")
	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no flags", []string{"backup"}, 2, "--data and --out are required"},
		{"extra argument", []string{"backup", "--data", data, "--out", out, "x"}, 2, `unexpected argument "x"`},
		{"help", []string{"backup", "-h"}, 0, "restore loads a backup"},
		{"bad flag", []string{"backup", "--nope"}, 2, "flag provided but not defined"},
		{"not a store", []string{"backup", "--data", t.TempDir(), "--out", out}, 1, "no store in"},
		{"running peer", []string{"backup", "--data", data, "--out", out}, 1, "stop the peer first"},
	}
	for _, c := range cases {
		code, stdout, stderr := runCmd(t, c.args...)
		if code != c.code || !strings.Contains(stdout+stderr, c.want) {
			t.Errorf("%s: exit %d, output %q; want %d and %q", c.name, code, stdout+stderr, c.code, c.want)
		}
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("a failed backup left %s (%v)", out, err)
	}
	if tmps, _ := filepath.Glob(filepath.Join(filepath.Dir(out), ".*tmp*")); len(tmps) > 0 {
		t.Errorf("temporary files left: %v", tmps)
	}
}

func TestRestoreRefusals(t *testing.T) {
	data, _ := newPeerDir(t)
	good := filepath.Join(t.TempDir(), "good")
	if code, _, stderr := runCmd(t, "backup", "--data", data, "--out", good); code != 0 {
		t.Fatalf("backup: %s", stderr)
	}
	b, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(t.TempDir(), "cut")
	if err := os.WriteFile(cut, b[:len(b)-20], 0o600); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(t.TempDir(), "target")
	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no flags", []string{"restore"}, 2, "--in and --data are required"},
		{"extra argument", []string{"restore", "--in", good, "--data", target, "x"}, 2, `unexpected argument "x"`},
		{"missing file", []string{"restore", "--in", good + ".nope", "--data", target}, 1, "no such file"},
		{"truncated", []string{"restore", "--in", cut, "--data", target}, 1, "not a whole backup"},
		{"not a backup", []string{"restore", "--in", filepath.Join(data, "MANIFEST"), "--data", target}, 1, "no backup header"},
	}
	for _, c := range cases {
		code, stdout, stderr := runCmd(t, c.args...)
		if code != c.code || !strings.Contains(stdout+stderr, c.want) {
			t.Errorf("%s: exit %d, output %q; want %d and %q", c.name, code, stdout+stderr, c.code, c.want)
		}
		if _, err := os.Stat(target); !os.IsNotExist(err) {
			t.Errorf("%s: left %s behind (%v)", c.name, target, err)
		}
	}
}

func TestHumanBytes(t *testing.T) {
	cases := map[uint64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB",
		5 << 20: "5.0 MiB", 3 << 30: "3.0 GiB", 2 << 40: "2.0 TiB", 4 << 50: "4096.0 TiB"}
	for n, want := range cases {
		if got := humanBytes(n); got != want {
			t.Errorf("humanBytes(%d) = %q, want %q", n, got, want)
		}
	}
}
