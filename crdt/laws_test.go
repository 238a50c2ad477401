package crdt_test

import (
	"fmt"
	"math"
	"testing"

	"github.com/countermesh/countermesh/crdt"
	"pgregory.net/rapid"
)

// checkJoinLaws checks that join is commutative, associative and idempotent on
// values drawn from gen. join must not modify its arguments.
func checkJoinLaws[V any](t *testing.T, gen *rapid.Generator[V], join func(a, b V) V, eq func(a, b V) bool) {
	rapid.Check(t, func(t *rapid.T) {
		a, b, c := gen.Draw(t, "a"), gen.Draw(t, "b"), gen.Draw(t, "c")
		if ab, ba := join(a, b), join(b, a); !eq(ab, ba) {
			t.Fatalf("not commutative:\na⊔b = %+v\nb⊔a = %+v", ab, ba)
		}
		if l, r := join(join(a, b), c), join(a, join(b, c)); !eq(l, r) {
			t.Fatalf("not associative:\n(a⊔b)⊔c = %+v\na⊔(b⊔c) = %+v", l, r)
		}
		if aa := join(a, a); !eq(aa, a) {
			t.Fatalf("not idempotent: a⊔a = %+v, a = %+v", aa, a)
		}
		// a ≤ a⊔b: joining the join back into a changes nothing more.
		if ab := join(a, b); !eq(join(ab, a), ab) || !eq(join(ab, b), ab) {
			t.Fatalf("a⊔b = %+v is not an upper bound of a and b", ab)
		}
	})
}

func TestPNCounterJoinLaws(t *testing.T) {
	join := func(a, b crdt.PNCounter) crdt.PNCounter {
		c := a.Clone()
		c.Join(b)
		return c
	}
	checkJoinLaws(t, genCounter(), join, crdt.PNCounter.Equal)
}

func TestRegisterMergeLaws(t *testing.T) {
	join := func(a, b crdt.Register) crdt.Register {
		w, _ := a.Merge(b)
		return w
	}
	eq := func(a, b crdt.Register) bool { return a == b }
	checkJoinLaws(t, genRegister(), join, eq)
}

func TestDeltaJoinLaws(t *testing.T) {
	join := func(a, b crdt.Delta) crdt.Delta {
		c := a.Clone()
		c.Join(b)
		return c
	}
	checkJoinLaws(t, genDelta(), join, crdt.Delta.Equal)
}

func TestKeySetUnionLaws(t *testing.T) {
	join := func(a, b crdt.KeySet) crdt.KeySet {
		var c crdt.KeySet
		c.Union(a)
		c.Union(b)
		return c
	}
	checkJoinLaws(t, genKeySet(), join, crdt.KeySet.Equal)
}

// TestPNCounterJoinEntrywise checks the join against its definition, the
// pointwise max, and that Join reports a change exactly when there was one.
func TestPNCounterJoinEntrywise(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		a, b := genCounter().Draw(t, "a"), genCounter().Draw(t, "b")
		c := a.Clone()
		changed := c.Join(b)
		if changed == c.Equal(a) {
			t.Fatalf("Join reported changed=%v; before %+v, after %+v", changed, a, c)
		}
		for _, r := range testReplicas {
			ea, eb := a.Entry(r), b.Entry(r)
			want := crdt.PN{P: max(ea.P, eb.P), N: max(ea.N, eb.N)}
			if got := c.Entry(r); got != want {
				t.Fatalf("replica %v: joined entry %+v, want %+v", r, got, want)
			}
		}
	})
}

// TestJoinDoesNotAlias checks that a joined or cloned value shares no map with
// its source: growing the result later leaves the source as it was.
func TestJoinDoesNotAlias(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		a, b := genDelta().Draw(t, "a"), genDelta().Draw(t, "b")
		// fmt prints maps sorted: a deep snapshot that does not trust Clone.
		snapA, snapB := fmt.Sprint(a), fmt.Sprint(b)

		c := a.Clone()
		c.Join(b)
		c.Join(bumpAll(b))
		c.Join(bumpAll(a))
		if fmt.Sprint(a) != snapA || fmt.Sprint(b) != snapB {
			t.Fatalf("growing a join changed its inputs:\na %s -> %v\nb %s -> %v", snapA, a, snapB, b)
		}

		st := crdt.NewState(9)
		st.Apply(a)
		full := st.Full()
		snapFull := fmt.Sprint(full)
		st.Apply(bumpAll(a))
		if fmt.Sprint(a) != snapA || fmt.Sprint(full) != snapFull {
			t.Fatalf("State shares maps with the delta applied or the Full it returned")
		}
	})
}

// bumpAll returns a delta that raises every counter entry and wins every
// register of d, under the same keys.
func bumpAll(d crdt.Delta) crdt.Delta {
	var out crdt.Delta
	for k, c := range d.Counters {
		var big crdt.PNCounter
		for _, r := range c.Replicas() {
			big.JoinEntry(r, crdt.PN{P: math.MaxUint64, N: math.MaxUint64})
		}
		out.JoinCounter(k, big)
	}
	for k := range d.Registers {
		out.JoinRegister(k, crdt.Register{Kind: "bumped", TS: crdt.Timestamp{Wall: math.MaxInt64}, Replica: math.MaxUint64})
	}
	return out
}

// TestTalliesFollowMerges merges random registers into an Item and checks after
// every merge that the maintained tallies, and tallies rebuilt only from the
// adjustments Register.Merge returned, both equal TalliesOf(registers).
func TestTalliesFollowMerges(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var it crdt.Item
		fromAdjust := crdt.Tallies{}
		merges := rapid.IntRange(1, 30).Draw(t, "merges")
		for range merges {
			user := rapid.SampledFrom(testUsers).Draw(t, "user")
			r := genRegister().Draw(t, "register")
			old := it.Registers[user]
			_, wantAdj := old.Merge(r)
			changed, adj := it.MergeRegister(user, r)
			if adj != wantAdj {
				t.Fatalf("MergeRegister adjust %+v, Register.Merge adjust %+v", adj, wantAdj)
			}
			if changed != (it.Registers[user] != old) {
				t.Fatalf("MergeRegister changed=%v, register %+v -> %+v", changed, old, it.Registers[user])
			}
			if !adj.IsZero() && (adj.From != old.Kind || adj.To != r.Kind) {
				t.Fatalf("adjust %+v replacing %+v by %+v", adj, old, r)
			}
			fromAdjust.Apply(adj)
			want := crdt.TalliesOf(it.Registers)
			if !it.Tallies.Equal(want) || !fromAdjust.Equal(want) {
				t.Fatalf("tallies %v, from adjustments %v, registers count %v", it.Tallies, fromAdjust, want)
			}
			for k, v := range it.Tallies {
				if v <= 0 {
					t.Fatalf("tallies hold kind %q with count %d: %v", k, v, it.Tallies)
				}
			}
		}
	})
}
