package crdt_test

import (
	"testing"

	"github.com/countermesh/countermesh/crdt"
	"pgregory.net/rapid"
)

// TestConcurrentLikeCountsOnce: the same user likes one item on two replicas
// before either hears of the other. Whatever the clocks and the delivery order,
// the like tally is 1 everywhere afterwards — a user is never counted twice.
func TestConcurrentLikeCountsOnce(t *testing.T) {
	tests := []struct {
		name         string
		wallA, wallB int64 // ms after baseWall
		bFirst       bool  // deliver A's delta to B before B's to A
	}{
		{name: "same millisecond", wallA: 0, wallB: 0},
		{name: "same millisecond, other order", wallA: 0, wallB: 0, bFirst: true},
		{name: "A ahead", wallA: 1_500, wallB: 0},
		{name: "B ahead", wallA: 0, wallB: 1_500, bFirst: true},
		{name: "B behind by more than a second", wallA: 2_000, wallB: 0, bFirst: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := newTestReplica(1, baseWall+tc.wallA)
			b := newTestReplica(2, baseWall+tc.wallB)
			da := a.state.SetReaction("video:a", "ann", "like", a.clock.Now())
			db := b.state.SetReaction("video:a", "ann", "like", b.clock.Now())
			if tc.bFirst {
				b.receive(t, da)
				a.receive(t, db)
			} else {
				a.receive(t, db)
				b.receive(t, da)
			}
			for _, r := range []*simReplica{a, b} {
				if got := itemTallies(r.state, "video:a"); !got.Equal(crdt.Tallies{"like": 1}) {
					t.Errorf("replica %v: tallies %v, want like=1", r.state.Replica(), got)
				}
			}
			checkSameState(t, a.state, b.state)
		})
	}
}

// newTestReplica returns a replica whose wall clock stands at ms.
func newTestReplica(id crdt.ReplicaID, ms int64) *simReplica {
	w := newFakeWall(ms)
	return &simReplica{state: crdt.NewState(id), clock: crdt.NewClock(w.Now, 0), wall: w}
}

// receive observes every timestamp in d and applies it, checking invariant 2.
func (r *simReplica) receive(t *testing.T, d crdt.Delta) {
	t.Helper()
	for _, reg := range d.Registers {
		if err := r.clock.Observe(reg.TS); err != nil {
			t.Fatalf("replica %v: Observe: %v", r.state.Replica(), err)
		}
	}
	r.state.Apply(d)
	checkExact(t, "after receive", r.state)
}

// nextKind is the reaction after kind in the cycle like → dislike → none → like.
func nextKind(kind string) string {
	switch kind {
	case "like":
		return "dislike"
	case "dislike":
		return crdt.None
	default:
		return "like"
	}
}

// TestReactionTogglesKeepTalliesExact: users toggle like → dislike → none on
// three replicas, each toggling from what its own replica shows, while deltas are
// delivered in random order and duplicated. Tallies equal the registers after
// every apply and end equal everywhere.
func TestReactionTogglesKeepTalliesExact(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m := newMesh(t, 3)
		steps := rapid.IntRange(1, 100).Draw(t, "steps")
		for range steps {
			if len(m.inflight) == 0 || rapid.Bool().Draw(t, "toggle") {
				m.toggle(t)
				continue
			}
			j := rapid.IntRange(0, len(m.inflight)-1).Draw(t, "message")
			// Delivered messages stay in flight half the time: a duplicate later.
			if m.deliver(t, m.inflight[j]) && rapid.Bool().Draw(t, "drop after delivery") {
				m.inflight = append(m.inflight[:j], m.inflight[j+1:]...)
			}
		}
		m.heal(t)
		for _, r := range m.replicas[1:] {
			checkSameState(t, m.replicas[0].state, r.state)
		}
		for _, r := range m.replicas {
			m.model.check(t, r.state)
		}
	})
}

// toggle moves one user on one replica to the next reaction in the cycle.
func (m *mesh) toggle(t *rapid.T) {
	i := rapid.IntRange(0, len(m.replicas)-1).Draw(t, "replica")
	user := rapid.SampledFrom(testUsers[:2]).Draw(t, "user")
	r := m.replicas[i]
	kind := nextKind(itemRegisters(r.state, "video:a")[user].Kind)
	ts := r.clock.Now()
	d := r.state.SetReaction("video:a", user, kind, ts)
	m.model.write(t, crdt.RegisterKey{Item: "video:a", User: user}, crdt.Register{Kind: kind, TS: ts, Replica: r.state.Replica()})
	m.broadcast(i, d)
}
