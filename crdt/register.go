package crdt

import "strings"

// None is the reaction kind of a register holding no reaction: never written, or
// cleared by the user.
const None = ""

// Register is a last-writer-wins register holding one user's reaction to one item.
// Registers are ordered by (TS, Replica): the larger wins. Kind breaks the tie that
// well-behaved replicas never produce (one replica never issues one timestamp
// twice), so that Merge stays commutative even on malformed input.
// The zero Register is the bottom element: never written, reaction None.
type Register struct {
	Kind    string    // reaction kind, or None
	TS      Timestamp // when it was written, by the writer's hybrid logical clock
	Replica ReplicaID // the replica that wrote it
}

// Wins reports whether r orders strictly after o.
func (r Register) Wins(o Register) bool {
	if c := r.TS.Compare(o.TS); c != 0 {
		return c > 0
	}
	if r.Replica != o.Replica {
		return r.Replica > o.Replica
	}
	return strings.Compare(r.Kind, o.Kind) > 0
}

// IsZero reports whether r was never written.
func (r Register) IsZero() bool { return r == Register{} }

// Merge returns the winner of r and o and the tally adjustment of replacing r by
// it. Merge is commutative in its winner, associative and idempotent.
func (r Register) Merge(o Register) (Register, TallyAdjust) {
	if !o.Wins(r) {
		return r, TallyAdjust{}
	}
	return o, TallyAdjust{From: r.Kind, To: o.Kind}
}
