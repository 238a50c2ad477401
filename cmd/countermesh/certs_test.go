package main

import (
	"bytes"
	"crypto/x509"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/countermesh/countermesh/topology/pki"
)

// certsFiles are the files certs init writes for testTopology, under certs/.
var certsFiles = []string{
	"ca.crt", "gossip.key", "frontend.token", "admin.token", "token.secret",
	"eu-1.crt", "eu-1.key", "us-1.crt", "us-1.key",
}

// secretFiles are those of certsFiles that must be private.
var secretFiles = []string{"gossip.key", "frontend.token", "admin.token", "token.secret", "eu-1.key", "us-1.key"}

// initCerts writes testTopology in a new directory and runs certs init for it
// with --out dir/certs; it returns the topology file and the output directory.
func initCerts(t *testing.T) (file, out string) {
	t.Helper()
	dir := t.TempDir()
	file = writeTopology(t, dir, "t.yaml", testTopology)
	out = filepath.Join(dir, "certs")
	if code, _, stderr := runCmd(t, "certs", "init", "--topology", file, "--out", out); code != 0 {
		t.Fatalf("certs init: exit %d\n%s", code, stderr)
	}
	return file, out
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestCertsInitWritesEverything(t *testing.T) {
	dir := t.TempDir()
	file := writeTopology(t, dir, "t.yaml", testTopology)
	out := filepath.Join(dir, "certs")
	code, stdout, stderr := runCmd(t, "certs", "init", "--topology", file, "--out", out)
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	for _, name := range certsFiles {
		if !strings.Contains(stdout, "wrote "+filepath.Join(out, name)+" (") {
			t.Errorf("stdout does not name %s:\n%s", name, stdout)
		}
		info, err := os.Stat(filepath.Join(out, name))
		if err != nil {
			t.Fatal(err)
		}
		want := fs.FileMode(0o644)
		if slices.Contains(secretFiles, name) {
			want = 0o600
		}
		if info.Mode().Perm() != want {
			t.Errorf("%s has mode %v, want %v", name, info.Mode().Perm(), want)
		}
	}
	entries, err := os.ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != len(certsFiles) {
		t.Errorf("%d files in %s, want %d (no temporary files left)", len(entries), out, len(certsFiles))
	}

	// The CA key is apart from everything peers get, and private.
	caKey := filepath.Join(dir, "ca-key", "ca.key")
	if info, err := os.Stat(caKey); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("CA key: %v, %v", info, err)
	}
	if !strings.Contains(stdout, "wrote "+caKey+" (CA key: keep it offline, only certs issue needs it)") {
		t.Errorf("stdout does not say to keep the CA key offline:\n%s", stdout)
	}
	ca, err := pki.LoadCA(readFile(t, filepath.Join(out, "ca.crt")), readFile(t, caKey))
	if err != nil {
		t.Fatalf("LoadCA: %v", err)
	}
	if ca.Mesh() != "test" {
		t.Errorf("CA of mesh %q", ca.Mesh())
	}
	cert, err := pki.ParseCertificatePEM(readFile(t, filepath.Join(out, "eu-1.crt")))
	if err != nil {
		t.Fatal(err)
	}
	id, err := pki.VerifyPeer(cert, ca.Pool(), x509.ExtKeyUsageServerAuth)
	if err != nil || id.String() != "countermesh://test/eu/eu-1" {
		t.Errorf("eu-1 certificate: %v, %v", id, err)
	}
	if !slices.Equal(cert.DNSNames, []string{"eu-1", "localhost"}) || len(cert.IPAddresses) != 1 || !cert.IPAddresses[0].Equal(net.IPv4(127, 0, 0, 1)) {
		t.Errorf("eu-1 certificate names %v and %v, want eu-1, localhost and 127.0.0.1", cert.DNSNames, cert.IPAddresses)
	}
	if _, err := pki.ParseGossipKey(readFile(t, filepath.Join(out, "gossip.key"))); err != nil {
		t.Errorf("gossip key: %v", err)
	}
	front, admin := readFile(t, filepath.Join(out, "frontend.token")), readFile(t, filepath.Join(out, "admin.token"))
	if len(bytes.TrimSpace(front)) != 43 || bytes.Equal(front, admin) {
		t.Errorf("tokens %q and %q", front, admin)
	}
	// testTopology lists no token secret: one is made, and the note says how
	// to list it.
	if _, err := pki.ParseTokenSecret(readFile(t, filepath.Join(out, "token.secret"))); err != nil {
		t.Errorf("token secret: %v", err)
	}
	if !strings.Contains(stdout, "lists no token_secrets, and serve needs one; add to its security section:\n"+
		"  token_secrets:\n    - id: k1\n      file: certs/token.secret\n") {
		t.Errorf("stdout does not say how to list the token secret:\n%s", stdout)
	}
}

// TestCertsInitWritesTokenSecrets: each token secret the topology lists gets
// its own new secret, and the topology then checks.
func TestCertsInitWritesTokenSecrets(t *testing.T) {
	dir := t.TempDir()
	src := strings.Replace(testTopology, "regions:\n",
		"  token_secrets:\n    - {id: k2, file: certs/k2.secret}\n    - {id: k1, file: certs/k1.secret}\nregions:\n", 1)
	file := writeTopology(t, dir, "t.yaml", src)
	code, stdout, stderr := runCmd(t, "certs", "init", "--topology", file, "--out", filepath.Join(dir, "certs"))
	if code != 0 || stderr != "" || strings.Contains(stdout, "token.secret") || strings.Contains(stdout, "note:") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	k1, err := pki.ParseTokenSecret(readFile(t, filepath.Join(dir, "certs", "k1.secret")))
	if err != nil {
		t.Fatal(err)
	}
	k2, err := pki.ParseTokenSecret(readFile(t, filepath.Join(dir, "certs", "k2.secret")))
	if err != nil || bytes.Equal(k1, k2) {
		t.Fatalf("k2 %x (%v), k1 %x: want two different secrets", k2, err, k1)
	}
	code, stdout, _ = runCmd(t, "topology", "check", file)
	if code != 0 || !strings.Contains(stdout, "2 reaction kinds, 2 token secrets, 2 API tokens") {
		t.Errorf("topology check: exit %d, %q", code, stdout)
	}
}

func TestCertsInitRefusesToOverwrite(t *testing.T) {
	file, out := initCerts(t)
	before := readFile(t, filepath.Join(out, "ca.crt"))
	// With some of the files gone, it still writes none.
	for _, name := range []string{"us-1.crt", "us-1.key"} {
		if err := os.Remove(filepath.Join(out, name)); err != nil {
			t.Fatal(err)
		}
	}
	code, stdout, stderr := runCmd(t, "certs", "init", "--topology", file, "--out", out)
	if code != 1 || stdout != "" {
		t.Fatalf("second init: exit %d, stdout %q; want exit 1 and nothing", code, stdout)
	}
	for _, name := range certsFiles {
		listed := strings.Contains(stderr, "  "+filepath.Join(out, name)+"\n")
		if exists := !strings.HasPrefix(name, "us-1."); listed != exists {
			t.Errorf("%s listed: %v, want %v\n%s", name, listed, exists, stderr)
		}
	}
	if !strings.Contains(stderr, "certs init: 8 files exist already; wrote nothing (use --force to overwrite them)") {
		t.Errorf("stderr:\n%s", stderr)
	}
	if !bytes.Equal(before, readFile(t, filepath.Join(out, "ca.crt"))) {
		t.Error("ca.crt was overwritten")
	}
	if _, err := os.Stat(filepath.Join(out, "us-1.crt")); err == nil {
		t.Error("us-1.crt was written")
	}
}

func TestCertsInitForceOverwrites(t *testing.T) {
	file, out := initCerts(t)
	before := readFile(t, filepath.Join(out, "ca.crt"))
	keyFile := filepath.Join(out, "eu-1.key")
	if err := os.Chmod(keyFile, 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runCmd(t, "certs", "init", "--topology", file, "--out", out, "--force")
	if code != 0 || strings.Count(stdout, "wrote ") != len(certsFiles)+1 { // and the CA key
		t.Fatalf("init --force: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if bytes.Equal(before, readFile(t, filepath.Join(out, "ca.crt"))) {
		t.Error("ca.crt was not overwritten")
	}
	if info, err := os.Stat(keyFile); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("overwritten key: %v, %v; want mode 0600", info.Mode(), err)
	}
	if code, stdout, stderr := runCmd(t, "topology", "check", file); code != 0 {
		t.Errorf("check after --force: exit %d\n%s%s", code, stdout, stderr)
	}
}

func TestCertsInitOutsideTheTopologysPaths(t *testing.T) {
	dir := t.TempDir()
	file := writeTopology(t, dir, "t.yaml", strings.ReplaceAll(testTopology, "certs/", "/etc/countermesh/"))
	out := filepath.Join(dir, "elsewhere")
	code, stdout, stderr := runCmd(t, "certs", "init", "--topology", file, "--out", out)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	for _, name := range certsFiles {
		if _, err := os.Stat(filepath.Join(out, name)); err != nil {
			t.Errorf("default file: %v", err)
		}
	}
	for _, want := range []string{
		"note: the topology names these files outside " + out,
		"  " + filepath.Join(out, "ca.crt") + " (topology: /etc/countermesh/ca.crt)\n",
		"  " + filepath.Join(out, "us-1.key") + " (topology: /etc/countermesh/us-1.key)\n",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	if strings.Contains(stdout, "(topology: "+filepath.Join(dir, "ca-key", "ca.key")) {
		t.Error("ca.key, which the topology does not name, is in the note")
	}
}

func TestCertsInitErrors(t *testing.T) {
	dir := t.TempDir()
	good := writeTopology(t, dir, "good.yaml", testTopology)
	bad := writeTopology(t, dir, "bad.yaml", strings.Replace(testTopology, "api: 127.0.0.2:7301", "api: 127.0.0.2", 1))
	clash := writeTopology(t, dir, "clash.yaml", strings.NewReplacer(
		"name: us-1", "name: ca", "certs/us-1.crt", "/x/ca.crt", "certs/us-1.key", "/x/ca.key").Replace(testTopology))
	out := filepath.Join(dir, "out")
	cases := []struct {
		args []string
		code int
		out  string // expected in stdout+stderr
	}{
		{[]string{"certs"}, 2, "want a subcommand: init or issue"},
		{[]string{"certs", "renew"}, 2, `unknown subcommand "renew"`},
		{[]string{"certs", "-h"}, 0, "countermesh certs issue --topology FILE --ca-key FILE --peer NAME --out DIR [--force]"},
		{[]string{"certs", "init", "--topology", good, "--out", out, "--ca-key", filepath.Join(out, "keys", "ca.key")}, 1,
			"the CA key would be " + filepath.Join(out, "keys", "ca.key") + ", among the files peers get"},
		{[]string{"certs", "init", "-h"}, 0, "overwrite files that exist"},
		{[]string{"certs", "init", "--out", out}, 2, "--topology is required"},
		{[]string{"certs", "init", "--topology", good, "--out", out, "extra"}, 2, `unexpected argument "extra"`},
		{[]string{"certs", "init", "--topology", filepath.Join(dir, "none.yaml"), "--out", out}, 1, "no such file or directory"},
		{[]string{"certs", "init", "--topology", bad, "--out", out}, 1, bad + `:25: bad api address "127.0.0.2": missing port in address`},
		{[]string{"certs", "init", "--topology", clash, "--out", out}, 1, "the certificate of peer ca and the CA certificate would both be " + filepath.Join(out, "ca.crt")},
	}
	for _, c := range cases {
		code, stdout, stderr := runCmd(t, c.args...)
		if code != c.code || !strings.Contains(stdout+stderr, c.out) {
			t.Errorf("countermesh %v: exit %d, output %q; want exit %d and %q", c.args, code, stdout+stderr, c.code, c.out)
		}
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("a failed certs init created the output directory")
	}
}
