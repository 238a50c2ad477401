package crdt_test

import (
	"slices"
	"testing"

	"github.com/countermesh/countermesh/crdt"
	"pgregory.net/rapid"
)

// observers are replicas that never write: each is fed the same history a
// different way, and all must end in the same state.
type observers struct {
	deltas  *crdt.State // every delta any writer produced, shuffled and duplicated
	full    *crdt.State // full states of writers, taken at random moments
	changes *crdt.State // only the parts of deltas that changed the deltas observer
}

// TestDeltasMatchFullState checks the fast path (shipping deltas) against the
// dumb one (shipping whole states): a replica fed only deltas, in any order and
// with duplicates, ends equal to one fed only full states, and to one fed only
// what State.Apply reported as changed.
func TestDeltasMatchFullState(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		writers := newMesh(t, 3)
		obs := observers{deltas: crdt.NewState(100), full: crdt.NewState(101), changes: crdt.NewState(102)}
		var produced []crdt.Delta
		steps := rapid.IntRange(1, 60).Draw(t, "steps")
		for range steps {
			switch rapid.IntRange(0, 5).Draw(t, "op") {
			case 0, 1:
				writers.add(t)
			case 2, 3:
				writers.react(t)
			case 4:
				// A writer catches up with another, so later writes overwrite earlier ones.
				from := rapid.IntRange(0, len(writers.replicas)-1).Draw(t, "from")
				to := rapid.IntRange(0, len(writers.replicas)-1).Draw(t, "to")
				writers.deliver(t, message{to: to, d: writers.replicas[from].state.Full()})
			case 5:
				i := rapid.IntRange(0, len(writers.replicas)-1).Draw(t, "snapshot of")
				obs.full.Apply(writers.replicas[i].state.Full())
				checkExact(t, "full observer", obs.full)
			}
			for _, msg := range writers.inflight {
				produced = append(produced, msg.d)
			}
			writers.inflight = nil
		}
		obs.feedDeltas(t, produced)
		for _, w := range writers.replicas {
			obs.full.Apply(w.state.Full())
		}
		checkSameState(t, obs.deltas, obs.full)
		checkSameState(t, obs.deltas, obs.changes)
		writers.model.check(t, obs.full)
	})
}

// feedDeltas applies every produced delta to the deltas observer in random order,
// some twice, and forwards what each application changed to the changes observer.
func (obs observers) feedDeltas(t *rapid.T, produced []crdt.Delta) {
	dups := rapid.SliceOfN(rapid.IntRange(0, max(len(produced)-1, 0)), 0, len(produced)).Draw(t, "duplicates")
	feed := slices.Clone(produced)
	for _, j := range dups {
		if j < len(produced) {
			feed = append(feed, produced[j])
		}
	}
	for _, d := range rapid.Permutation(feed).Draw(t, "order") {
		changed := obs.deltas.Apply(d)
		checkExact(t, "deltas observer", obs.deltas)
		if again := obs.deltas.Apply(d); again.Len() != 0 {
			t.Fatalf("applying %+v twice changed %+v", d, again)
		}
		obs.changes.Apply(changed)
		checkExact(t, "changes observer", obs.changes)
	}
}
