package crdt

import "maps"

// TallyAdjust is the change in tallies implied by one register changing: one user
// leaves kind From and joins kind To. None on either side counts nothing; From ==
// To (including two Nones) adjusts nothing.
type TallyAdjust struct {
	From string // kind that loses a user, or None
	To   string // kind that gains a user, or None
}

// IsZero reports whether a changes no tally.
func (a TallyAdjust) IsZero() bool { return a.From == a.To }

// Tallies is the number of users per reaction kind on one item. Tallies are never
// replicated: each replica derives them from its registers, adjusting them on every
// register change, so they converge because the registers do. Kinds with no user
// may be absent.
type Tallies map[string]int64

// Apply adjusts t by a. t must be non-nil unless a.IsZero().
func (t Tallies) Apply(a TallyAdjust) {
	if a.IsZero() {
		return
	}
	if a.From != None {
		t[a.From]--
		if t[a.From] == 0 {
			delete(t, a.From)
		}
	}
	if a.To != None {
		t[a.To]++
	}
}

// Equal reports whether t and o count the same users per kind; absent kinds and
// kinds counted zero are the same.
func (t Tallies) Equal(o Tallies) bool {
	for k, v := range t {
		if o[k] != v {
			return false
		}
	}
	for k, v := range o {
		if t[k] != v {
			return false
		}
	}
	return true
}

// Clone returns a copy of t.
func (t Tallies) Clone() Tallies { return maps.Clone(t) }

// TalliesOf counts registers per kind: the definition every maintained Tallies
// must agree with.
func TalliesOf(registers map[string]Register) Tallies {
	t := Tallies{}
	for _, r := range registers {
		if r.Kind != None {
			t[r.Kind]++
		}
	}
	return t
}
