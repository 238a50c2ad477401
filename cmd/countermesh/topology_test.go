package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runCmd runs a command line and returns its exit code and outputs.
func runCmd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// testTopology is a small valid topology naming its files under certs/.
const testTopology = `mesh: test
reaction_kinds: [like, dislike]
security:
  ca: certs/ca.crt
  gossip_key: certs/gossip.key
  api_tokens:
    - name: frontend
      file: certs/frontend.token
    - name: admin
      file: certs/admin.token
regions:
  - name: eu
    peers:
      - name: eu-1
        gossip: 127.0.0.1:7101
        sync: 127.0.0.1:7201
        api: localhost:7301
        cert: certs/eu-1.crt
        key: certs/eu-1.key
  - name: us
    peers:
      - name: us-1
        gossip: 127.0.0.2:7101
        sync: 127.0.0.2:7201
        api: 127.0.0.2:7301
        cert: certs/us-1.crt
        key: certs/us-1.key
`

// writeTopology writes src to dir/name and returns its path.
func writeTopology(t *testing.T, dir, name, src string) string {
	t.Helper()
	file := filepath.Join(dir, name)
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

func TestTopologyUsage(t *testing.T) {
	cases := []struct {
		args []string
		code int
		out  string // expected in stdout+stderr
	}{
		{[]string{"topology"}, 2, "want a subcommand, check or diff"},
		{[]string{"topology", "lint"}, 2, `unknown subcommand "lint"`},
		{[]string{"topology", "check"}, 2, "topology check: want FILE, got 0 arguments"},
		{[]string{"topology", "check", "a", "b"}, 2, "want FILE, got 2 arguments"},
		{[]string{"topology", "check", "-strict", "a"}, 2, "flag provided but not defined: -strict"},
		{[]string{"topology", "diff", "a"}, 2, "topology diff: want OLD NEW, got 1 argument"},
		{[]string{"topology", "-h"}, 0, "countermesh topology check FILE"},
		{[]string{"topology", "check", "-h"}, 0, "countermesh topology diff OLD NEW"},
		{[]string{"help"}, 0, "countermesh topology check FILE"},
		{[]string{"topology", "check", filepath.Join(t.TempDir(), "none.yaml")}, 1, "no such file or directory"},
	}
	for _, c := range cases {
		code, stdout, stderr := runCmd(t, c.args...)
		if code != c.code || !strings.Contains(stdout+stderr, c.out) {
			t.Errorf("countermesh %v: exit %d, output %q; want exit %d and %q", c.args, code, stdout+stderr, c.code, c.out)
		}
	}
}

func TestTopologyCheckPrintsEveryProblem(t *testing.T) {
	src := strings.Replace(testTopology, "mesh: test", "mesh: Test", 1)
	src = strings.Replace(src, "sync: 127.0.0.2:7201", "sync: 127.0.0.1:7201", 1)
	file := writeTopology(t, t.TempDir(), "t.yaml", src)
	code, stdout, stderr := runCmd(t, "topology", "check", file)
	if code != 1 || stdout != "" {
		t.Errorf("exit %d, stdout %q; want exit 1 and nothing", code, stdout)
	}
	lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
	want := []string{
		file + `:1: bad mesh name "Test": want 1-63 lowercase letters, digits or hyphens, not starting or ending with a hyphen`,
		file + `:4: cannot read ca file "certs/ca.crt": no such file or directory`,
	}
	for i, w := range want {
		if i >= len(lines) || lines[i] != w {
			t.Errorf("line %d of stderr: want %q\nstderr:\n%s", i+1, w, stderr)
		}
	}
	for _, w := range []string{
		file + `:24: sync address 127.0.0.1:7201 of peer "us-1" is also the sync address of peer "eu-1" (line 16)`,
	} {
		if !strings.Contains(stderr, w+"\n") {
			t.Errorf("stderr lacks %q:\n%s", w, stderr)
		}
	}
	if last := lines[len(lines)-1]; last != "countermesh: "+file+" is invalid: 6 problems" {
		t.Errorf("last line %q", last)
	}
}

// TestTopologyCheckAfterCertsInit makes the material of the example topology
// with certs init and checks the topology with it: the README's path.
func TestTopologyCheckAfterCertsInit(t *testing.T) {
	example, err := os.ReadFile("../../topology/examples/three-regions.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	file := writeTopology(t, dir, "three-regions.yaml", string(example))
	if code, _, stderr := runCmd(t, "certs", "init", "--topology", file, "--out", filepath.Join(dir, "certs")); code != 0 {
		t.Fatalf("certs init: exit %d\n%s", code, stderr)
	}
	code, stdout, stderr := runCmd(t, "topology", "check", file)
	want := file + `: ok: mesh "demo", 3 regions, 6 peers, 2 reaction kinds, 1 token secret, 1 API token` + "\n"
	if code != 0 || stdout != want || stderr != "" {
		t.Errorf("topology check: exit %d, stdout %q, stderr %q; want exit 0 and %q", code, stdout, stderr, want)
	}
}

func TestTopologyCheckSaysWhenTheAPIIsOpen(t *testing.T) {
	dir := t.TempDir()
	src := strings.Replace(testTopology, `  api_tokens:
    - name: frontend
      file: certs/frontend.token
    - name: admin
      file: certs/admin.token
`, "", 1)
	file := writeTopology(t, dir, "t.yaml", src)
	if code, _, stderr := runCmd(t, "certs", "init", "-topology", file, "-out", filepath.Join(dir, "certs")); code != 0 {
		t.Fatalf("certs init: exit %d\n%s", code, stderr)
	}
	code, stdout, _ := runCmd(t, "topology", "check", file)
	if code != 0 || !strings.HasSuffix(stdout, "2 peers, 2 reaction kinds, no token_secrets (serve refuses to start), "+
		"HTTP API open (no api_tokens)\n") {
		t.Errorf("exit %d, stdout %q", code, stdout)
	}
}

func TestTopologyDiff(t *testing.T) {
	dir := t.TempDir()
	old := writeTopology(t, dir, "old.yaml", testTopology)
	added := testTopology + `  - name: ap
    peers:
      - name: ap-1
        gossip: 127.0.0.3:7101
        sync: 127.0.0.3:7201
        api: 127.0.0.3:7301
        cert: certs/ap-1.crt
        key: certs/ap-1.key
`
	added = strings.Replace(added, "api: localhost:7301", "api: localhost:7302", 1)
	cases := []struct {
		name, src string
		code      int
		stdout    string
		stderr    string // expected in stderr
	}{
		{"same", testTopology, 0, "no changes\n", ""},
		{"region added", added, 0, "region added: ap\npeer added: ap-1\npeer changed: eu-1 (api)\n", ""},
		{"invalid new", strings.Replace(testTopology, "name: us-1", "name: eu-1", 1), 1, "",
			`new.yaml:22: peer "eu-1" defined twice (first at line 14)`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			newFile := writeTopology(t, dir, "new.yaml", c.src)
			code, stdout, stderr := runCmd(t, "topology", "diff", old, newFile)
			if code != c.code || stdout != c.stdout || !strings.Contains(stderr, c.stderr) {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit %d, %q and %q", code, stdout, stderr, c.code, c.stdout, c.stderr)
			}
		})
	}
	if code, _, stderr := runCmd(t, "topology", "diff", old, filepath.Join(dir, "none.yaml")); code != 1 || !strings.Contains(stderr, "no such file") {
		t.Errorf("diff with a missing file: exit %d, %q", code, stderr)
	}
}
