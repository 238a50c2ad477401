package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Every command answers -h and --help with a synopsis, its flags and an
// example, on stdout, exit 0, doing nothing else; a bad flag is a usage error
// on stderr, exit 2.
func TestEveryCommandHelpsTheSameWay(t *testing.T) {
	for _, cmd := range [][]string{
		{"serve"}, {"dev"}, {"status"}, {"certs", "init"}, {"certs", "issue"}, {"topology", "check"},
		{"topology", "diff"}, {"backup"}, {"restore"}, {"bench"}, {"monitoring", "rules"}, {"monitoring", "dashboard"},
	} {
		name := strings.Join(cmd, " ")
		for _, h := range []string{"-h", "--help"} {
			code, stdout, stderr := runCmd(t, append(append([]string{}, cmd...), h)...)
			if code != 0 || stderr != "" || !strings.Contains(stdout, "Usage") || !strings.Contains(stdout, "Example") {
				t.Errorf("%s %s: exit %d, stderr %q, stdout %q; want 0, nothing on stderr, a usage with an example",
					name, h, code, stderr, stdout)
			}
		}
		code, stdout, stderr := runCmd(t, append(append([]string{}, cmd...), "--no-such-flag")...)
		if code != 2 || stdout != "" || !strings.Contains(stderr, "no-such-flag") || !strings.Contains(stderr, name+" -h") {
			t.Errorf("%s --no-such-flag: exit %d, stdout %q, stderr %q; want 2, a usage error on stderr pointing at -h",
				name, code, stdout, stderr)
		}
	}
}

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}} {
		code, stdout, stderr := runCmd(t, args...)
		if code != 0 || stderr != "" || !strings.HasPrefix(stdout, "countermesh ") || strings.Count(stdout, "\n") != 1 {
			t.Errorf("%v: exit %d, %q %q", args, code, stdout, stderr)
		}
	}
	if code, _, stderr := runCmd(t, "version", "extra"); code != 2 || !strings.Contains(stderr, "no arguments") {
		t.Errorf("version extra: exit %d, stderr %q; want 2", code, stderr)
	}
}

// A usage error is reported before any work or output; an error says each
// prefix once.
func TestUsageErrorsBeforeAnyWork(t *testing.T) {
	code, stdout, stderr := runCmd(t, "bench", "--scenarios", "nope")
	if code != 2 || stdout != "" || !strings.Contains(stderr, `unknown scenario "nope"`) {
		t.Errorf("bench --scenarios nope: exit %d, stdout %q, stderr %q; want 2 and nothing on stdout", code, stdout, stderr)
	}
	code, stdout, stderr = runCmd(t, "bench", "--peer-in-process", "--peer-memory", "1GiB")
	if code != 2 || stdout != "" || !strings.Contains(stderr, "no peer is served") {
		t.Errorf("bench --peer-in-process --peer-memory 1GiB: exit %d, stdout %q, stderr %q; want 2 and nothing on stdout", code, stdout, stderr)
	}
	junk := filepath.Join(t.TempDir(), "junk.backup")
	if err := os.WriteFile(junk, []byte("not a backup"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = runCmd(t, "restore", "--in", junk, "--data", filepath.Join(t.TempDir(), "data"))
	if code != 1 || strings.Count(stderr, "persist:") != 1 || strings.Count(stderr, "restore") != 1 {
		t.Errorf("restore of junk: exit %d, stderr %q; want 1, each prefix once", code, stderr)
	}
}

// certs init needs no --out: the files go where the topology names them.
func TestCertsInitWritesWhereTheTopologyNamesTheFiles(t *testing.T) {
	dir := t.TempDir()
	example, err := os.ReadFile(filepath.Join("..", "..", "topology", "examples", "three-regions.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	topo := filepath.Join(dir, "mesh.yaml")
	if err := os.WriteFile(topo, example, 0o600); err != nil {
		t.Fatal(err)
	}
	if code, stdout, stderr := runCmd(t, "certs", "init", "--topology", topo); code != 0 {
		t.Fatalf("certs init without --out: exit %d\n%s%s", code, stdout, stderr)
	}
	if code, stdout, stderr := runCmd(t, "topology", "check", topo); code != 0 {
		t.Errorf("topology check after certs init: exit %d\n%s%s", code, stdout, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "ca-key", "ca.key")); err != nil {
		t.Errorf("the CA key is not apart, beside the certificates: %v", err)
	}
}
