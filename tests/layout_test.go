package tests

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"strings"
	"testing"
)

// TestLayoutRules enforces DESIGN.md §7 on the real tree: layer order, who may
// import region/httpapi, where each third-party dependency lives, and a crdt
// package of the standard library only.
func TestLayoutRules(t *testing.T) {
	pkgs := listPackages(t)
	if len(pkgs) < 3 {
		t.Fatalf("go list found only %d packages", len(pkgs))
	}
	for _, p := range CheckLayout(pkgs) {
		t.Error(p)
	}
}

// TestCheckLayoutCatchesViolations makes sure the checker itself can fail.
func TestCheckLayoutCatchesViolations(t *testing.T) {
	m := Module + "/"
	cases := []struct {
		name string
		pkg  Package
		want string // substring of the single expected problem; "" for none
	}{
		{"upward import", Package{m + "crdt", []string{m + "persist"}, nil}, "listed after it"},
		{"upward import in a test", Package{m + "crdt/codec", nil, []string{m + "persist"}}, "listed after it (in a test)"},
		{"crdt uses a third party", Package{m + "crdt", []string{"pgregory.net/rapid"}, nil}, "standard library only"},
		{"crdt tests use rapid", Package{m + "crdt", nil, []string{"pgregory.net/rapid"}}, ""},
		{"badger outside persist", Package{m + "crdt/codec", []string{"github.com/dgraph-io/badger/v4/options"}, nil}, "only persist"},
		{"badger in another package's test", Package{m + "region", nil, []string{"github.com/dgraph-io/badger/v4"}}, "only persist"},
		{"msgpack outside codec", Package{m + "persist", []string{"github.com/vmihailenco/msgpack/v5"}, nil}, "only crdt/codec"},
		{"msgpack in the protocol", Package{m + "sync/exchange", []string{"github.com/vmihailenco/msgpack/v5/msgpcode"}, nil}, "only crdt/codec"},
		{"persist imports the protocol", Package{m + "persist", []string{m + "sync/exchange"}, nil}, "listed after it"},
		{"codec imports persist", Package{m + "crdt/codec", []string{m + "persist"}, nil}, "listed after it"},
		{"digest uses a third party", Package{m + "crdt/digest", []string{"github.com/vmihailenco/msgpack/v5"}, nil}, "standard library only"},
		{"digest uses the codec", Package{m + "crdt/digest", []string{m + "crdt/codec"}, nil}, "listed after it"},
		{"transport imports topology", Package{m + "sync/transport", []string{m + "topology"}, nil}, "listed after it"},
		{"transport imports pki", Package{m + "sync/transport", []string{m + "topology/pki"}, nil}, ""},
		{"pki imports transport", Package{m + "topology/pki", []string{m + "sync/transport"}, nil}, "listed after it"},
		{"httpapi from region", Package{m + "region", []string{m + "region/httpapi"}, nil}, "listed after it"},
		{"unknown package", Package{m + "util", nil, nil}, "not in any layer"},
		{"allowed downward", Package{m + "persist", []string{m + "crdt", m + "crdt/digest", m + "crdt/codec", "github.com/dgraph-io/badger/v4"}, nil}, ""},
		{"sub-package of a layer", Package{m + "persist/persisttest", []string{m + "persist"}, nil}, ""},
		{"httpapi from cmd", Package{m + "cmd/countermesh", []string{m + "region/httpapi"}, nil}, ""},
		{"node from region", Package{m + "region/regiontest", []string{m + "region/node"}, nil}, "listed after it"},
		{"persist tests use the test kit", Package{m + "persist", nil, []string{m + "tests/testkit"}}, ""},
		{"crdt tests use the test kit", Package{m + "crdt", nil, []string{m + "tests/testkit", "go.uber.org/goleak"}}, ""},
		{"persist code uses the test kit", Package{m + "persist", []string{m + "tests/testkit"}, nil}, "listed after it"},
		{"persist tests use other test support", Package{m + "persist", nil, []string{m + "tests/chaos"}}, "listed after it (in a test)"},
		{"test kit imports the project", Package{m + "tests/testkit", []string{"go.uber.org/goleak", m + "crdt"}, nil}, "may import nothing of the project"},
		{"test kit uses goleak", Package{m + "tests/testkit", []string{"testing", "go.uber.org/goleak"}, nil}, ""},
		{"node uses httpapi", Package{m + "region/node", []string{m + "region/httpapi", m + "region"}, nil}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := CheckLayout([]Package{c.pkg})
			switch {
			case c.want == "" && len(got) != 0:
				t.Errorf("unexpected problems: %v", got)
			case c.want != "" && (len(got) != 1 || !strings.Contains(got[0], c.want)):
				t.Errorf("problems = %v, want one containing %q", got, c.want)
			}
		})
	}
}

// listPackages runs go list over the module, counting test imports too.
func listPackages(t *testing.T) []Package {
	t.Helper()
	cmd := exec.Command("go", "list", "-json", Module+"/...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	var pkgs []Package
	for {
		var p struct {
			ImportPath                         string
			Imports, TestImports, XTestImports []string
		}
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("decode go list output: %v", err)
		}
		pkgs = append(pkgs, Package{
			ImportPath:  p.ImportPath,
			Imports:     p.Imports,
			TestImports: append(p.TestImports, p.XTestImports...),
		})
	}
	return pkgs
}
