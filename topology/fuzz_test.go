package topology

import (
	"os"
	"testing"
)

// FuzzParse checks that Parse never panics, and that it returns either a
// topology or an *Error with at least one problem.
func FuzzParse(f *testing.F) {
	example, err := os.ReadFile("examples/three-regions.yaml")
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{
		string(example),
		base,
		base + apRegion,
		"",
		"mesh: demo\n",
		"- a\n",
		"a: &x [*x]\n",
		"regions: [{name: eu, peers: [{name: a, gossip: 'h:1'}]}]\n",
		"mesh: [\n",
		"%YAML 1.1\n---\nmesh: demo\n---\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		topo, err := Parse("f.yaml", data)
		switch {
		case err == nil && topo == nil:
			t.Fatal("no topology and no error")
		case err != nil && topo != nil:
			t.Fatal("a topology and an error")
		case err != nil:
			if lines := problemLines(t, err); len(lines) == 0 {
				t.Fatal("an error with no problem")
			}
		default:
			if len(topo.Peers()) == 0 || len(topo.ReactionKinds) == 0 {
				t.Fatalf("valid topology without peers or kinds: %+v", topo)
			}
		}
	})
}
