package crdt

import (
	"errors"
	"maps"
	"math"
	"math/bits"
	"slices"
)

// PN is one replica's entry in a PNCounter: the grow-only totals of everything that
// replica ever added (P) and subtracted (N).
type PN struct {
	P uint64 // total increments by this replica
	N uint64 // total decrements by this replica
}

// max returns the pointwise maximum of pn and o.
func (pn PN) max(o PN) PN { return PN{P: max(pn.P, o.P), N: max(pn.N, o.N)} }

// ErrOverflow reports a counter entry that would pass 2^64-1.
var ErrOverflow = errors.New("crdt: counter entry overflow")

// PNCounter is a positive-negative counter: a map replica → PN joined by pointwise
// max, whose value is ΣP − ΣN. Only the owning replica raises its own entry, through
// Add. The zero value is an empty counter, ready to use. A PNCounter is a value
// holding a map: use Clone before handing one to code that may join into it.
type PNCounter struct {
	entries map[ReplicaID]PN
}

// Value is ΣP − ΣN, saturated to the int64 range: a counter whose true value
// is above math.MaxInt64 reads math.MaxInt64, one below math.MinInt64 reads
// math.MinInt64. The entries keep the exact totals, so a counter brought back
// into range reads exactly again. Writes are not refused for it: each replica
// only sees its own increments, and two regions may each take half of a value
// that only their merge puts out of range.
func (c PNCounter) Value() int64 {
	var pHi, pLo, nHi, nLo, carry uint64 // ΣP and ΣN in 128 bits
	for _, e := range c.entries {
		pLo, carry = bits.Add64(pLo, e.P, 0)
		pHi += carry
		nLo, carry = bits.Add64(nLo, e.N, 0)
		nHi += carry
	}
	if pHi > nHi || (pHi == nHi && pLo >= nLo) { // ΣP ≥ ΣN
		lo, borrow := bits.Sub64(pLo, nLo, 0)
		if pHi-nHi-borrow != 0 || lo > math.MaxInt64 {
			return math.MaxInt64
		}
		return int64(lo)
	}
	lo, borrow := bits.Sub64(nLo, pLo, 0)
	if nHi-pHi-borrow != 0 || lo > 1<<63 {
		return math.MinInt64
	}
	return int64(-lo) // -(1<<63) wraps to MinInt64, as it should
}

// Len is the number of replicas with an entry.
func (c PNCounter) Len() int { return len(c.entries) }

// Entry returns replica r's totals (zero when r has none).
func (c PNCounter) Entry(r ReplicaID) PN { return c.entries[r] }

// Replicas returns the replicas with an entry, in ascending order (the order used
// wherever a counter must be encoded byte-stably).
func (c PNCounter) Replicas() []ReplicaID {
	return slices.Sorted(maps.Keys(c.entries))
}

// AppendReplicas appends the replicas with an entry to dst in ascending order and
// returns the extended slice; with a dst of enough capacity it allocates nothing.
func (c PNCounter) AppendReplicas(dst []ReplicaID) []ReplicaID {
	start := len(dst)
	for r := range c.entries {
		dst = append(dst, r)
	}
	slices.Sort(dst[start:])
	return dst
}

// Clone returns a counter that shares nothing with c.
func (c PNCounter) Clone() PNCounter { return PNCounter{entries: maps.Clone(c.entries)} }

// Equal reports whether c and o hold the same entries.
func (c PNCounter) Equal(o PNCounter) bool { return maps.Equal(c.entries, o.entries) }

// JoinEntry joins one replica's entry into c (pointwise max) and reports whether c
// changed.
func (c *PNCounter) JoinEntry(r ReplicaID, pn PN) bool {
	old, ok := c.entries[r]
	joined := old.max(pn)
	if ok && joined == old {
		return false
	}
	if !ok && pn == (PN{}) {
		return false
	}
	if c.entries == nil {
		c.entries = make(map[ReplicaID]PN, 1)
	}
	c.entries[r] = joined
	return true
}

// Join joins o into c (pointwise max) and reports whether c changed. Join is
// commutative, associative and idempotent.
func (c *PNCounter) Join(o PNCounter) bool {
	changed := false
	for r, pn := range o.entries {
		if c.JoinEntry(r, pn) {
			changed = true
		}
	}
	return changed
}

// Add adds by (negative to subtract) on behalf of replica r, which must be the
// replica that owns c's copy, and returns the delta it produced: a counter holding
// only r's new entry. Adding zero changes nothing and returns an empty delta.
func (c *PNCounter) Add(r ReplicaID, by int64) (PNCounter, error) {
	if by == 0 {
		return PNCounter{}, nil
	}
	e := c.entries[r]
	switch {
	case by > 0:
		if e.P > math.MaxUint64-uint64(by) {
			return PNCounter{}, ErrOverflow
		}
		e.P += uint64(by)
	default:
		mag := uint64(-(by + 1)) + 1 // |by| without overflowing on MinInt64
		if e.N > math.MaxUint64-mag {
			return PNCounter{}, ErrOverflow
		}
		e.N += mag
	}
	if c.entries == nil {
		c.entries = make(map[ReplicaID]PN, 1)
	}
	c.entries[r] = e
	return PNCounter{entries: map[ReplicaID]PN{r: e}}, nil
}
