package bench

import (
	"math"
	"testing"

	"github.com/countermesh/countermesh/crdt"
	"github.com/countermesh/countermesh/persist"
)

// The mixed workload is mixedReadPct percent page reads of distinct items, the
// rest writes split as the workload says: reactions of every kind, and claps.
func TestMixedProportions(t *testing.T) {
	w := workload{items: 1_000, users: 10_000, reactPct: 80}
	g := w.generator(7)
	const n, page = 50_000, 20
	reads, reacts, claps := 0, 0, 0
	kinds := map[string]int{}
	for range n {
		s := g.mixed(page)
		if s.read {
			reads++
			seen := map[string]bool{}
			for _, it := range s.items {
				seen[it] = true
			}
			if len(s.items) != page || len(seen) != page || s.user == "" {
				t.Fatalf("a page of %d items (%d distinct) for user %q, want %d distinct", len(s.items), len(seen), s.user, page)
			}
			continue
		}
		switch s.op.Kind {
		case persist.OpAdd:
			claps++
			if s.op.Counter != clapCounter || s.op.By != 1 {
				t.Fatalf("a clap of %q by %d", s.op.Counter, s.op.By)
			}
		default:
			reacts++
			kinds[s.op.Reaction]++
		}
	}
	near := func(what string, got, want, tol float64) {
		t.Helper()
		if math.Abs(got-want) > tol {
			t.Errorf("%s: %.3f, want %.3f ± %.3f", what, got, want, tol)
		}
	}
	near("reads of all calls", float64(reads)/n, float64(mixedReadPct)/100, 0.01)
	writes := float64(reacts + claps)
	near("writes of all calls", writes/n, 1-float64(mixedReadPct)/100, 0.01)
	near("reactions of the writes", float64(reacts)/writes, 0.8, 0.03)
	for _, k := range []string{"like", "dislike", crdt.None} {
		near("reaction "+k+" of the reactions", float64(kinds[k])/float64(reacts), 1.0/3, 0.04)
	}
}
