package tests

import (
	"fmt"
	"slices"
	"strings"
)

// Module is the module path of countermesh.
const Module = "github.com/countermesh/countermesh"

// Layers lists the project's packages in the order of DESIGN.md §7: a package may
// import only packages listed before it (and its own sub-packages). That alone
// keeps region/httpapi for region/node, cmd/countermesh and tests, the only
// layers after it.
var Layers = []string{
	"crdt",
	"crdt/codec",
	"persist",
	"topology/pki",
	"sync/transport",
	"sync/exchange",
	"topology",
	"region",
	"region/httpapi",
	"region/node",
	"cmd/countermesh",
	"tests",
}

// ThirdPartyHome names, for each third-party dependency with a home, the one layer
// allowed to import it.
var ThirdPartyHome = map[string]string{
	"github.com/vmihailenco/msgpack/v5": "crdt/codec",
	"github.com/dgraph-io/badger/v4":    "persist",
	"github.com/quic-go/quic-go":        "sync/transport",
	"github.com/hashicorp/memberlist":   "region",
}

// TestKit is the leaf package of test support. The test files of every layer may
// import it, whatever its place in Layers; in return it may import nothing of the
// project.
const TestKit = "tests/testkit"

// StdlibOnly names layers that may import nothing outside the standard library.
var StdlibOnly = []string{"crdt", "topology/pki"}

// Package is what the layout rules need to know of one package.
type Package struct {
	ImportPath  string   // full import path
	Imports     []string // imports of its non-test files
	TestImports []string // imports of its test files
}

// layerOf returns the layer a package of ours belongs to — the longest layer that
// is its path or a parent of it — and its index in Layers, or -1 if none.
func layerOf(rel string) (string, int) {
	best, idx := "", -1
	for i, l := range Layers {
		if (rel == l || strings.HasPrefix(rel, l+"/")) && len(l) > len(best) {
			best, idx = l, i
		}
	}
	return best, idx
}

// isStdlib reports whether an import path is of the standard library.
func isStdlib(path string) bool {
	first, _, _ := strings.Cut(path, "/")
	return !strings.Contains(first, ".")
}

// CheckLayout returns one message per broken rule of DESIGN.md §7.
func CheckLayout(pkgs []Package) []string {
	var problems []string
	for _, p := range pkgs {
		rel, ok := strings.CutPrefix(p.ImportPath, Module+"/")
		if !ok {
			continue
		}
		layer, idx := layerOf(strings.TrimSuffix(rel, "_test"))
		if strings.TrimSuffix(rel, "_test") == TestKit {
			problems = append(problems, checkTestKit(rel, p.Imports)...)
		}
		if idx < 0 {
			problems = append(problems, fmt.Sprintf("%s: not in any layer of DESIGN.md §7", rel))
			continue
		}
		for _, imp := range p.Imports {
			if msg := checkImport(rel, layer, idx, imp, false); msg != "" {
				problems = append(problems, msg)
			}
		}
		for _, imp := range p.TestImports {
			if msg := checkImport(rel, layer, idx, imp, true); msg != "" {
				problems = append(problems, msg+" (in a test)")
			}
		}
	}
	return problems
}

// checkTestKit reports each package of the project that TestKit imports.
func checkTestKit(rel string, imports []string) []string {
	var problems []string
	for _, imp := range imports {
		if impRel, ours := strings.CutPrefix(imp, Module+"/"); ours {
			problems = append(problems, fmt.Sprintf("%s imports %s: %s may import nothing of the project", rel, impRel, TestKit))
		}
	}
	return problems
}

// checkImport checks one import of rel, a package of layer idx. Tests may use
// third-party test libraries even in a standard-library-only layer, and TestKit
// from any layer.
func checkImport(rel, layer string, idx int, imp string, inTest bool) string {
	stdlibOnly := slices.Contains(StdlibOnly, layer) && !inTest
	if impRel, ours := strings.CutPrefix(imp, Module+"/"); ours {
		if inTest && impRel == TestKit {
			return ""
		}
		impLayer, impIdx := layerOf(impRel)
		switch {
		case impIdx < 0:
			return fmt.Sprintf("%s imports %s, which is in no layer", rel, impRel)
		case impIdx > idx:
			return fmt.Sprintf("%s (%s) imports %s (%s), a layer listed after it", rel, layer, impRel, impLayer)
		case stdlibOnly && impLayer != layer:
			return fmt.Sprintf("%s imports %s: %s may use the standard library only", rel, impRel, layer)
		}
		return ""
	}
	if isStdlib(imp) {
		return ""
	}
	if stdlibOnly {
		return fmt.Sprintf("%s imports %s: %s may use the standard library only", rel, imp, layer)
	}
	for dep, home := range ThirdPartyHome {
		if (imp == dep || strings.HasPrefix(imp, dep+"/")) && home != layer {
			return fmt.Sprintf("%s imports %s, which only %s may import", rel, imp, home)
		}
	}
	return ""
}
