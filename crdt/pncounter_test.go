package crdt_test

import (
	"errors"
	"math"
	"math/big"
	"slices"
	"testing"

	"pgregory.net/rapid"

	"github.com/countermesh/countermesh/crdt"
)

const owner crdt.ReplicaID = 7

func TestPNCounterAdd(t *testing.T) {
	tests := []struct {
		name    string
		start   crdt.PN // owner's entry before the Add
		by      int64
		want    crdt.PN // owner's entry after
		wantErr error
	}{
		{name: "increment", by: 3, want: crdt.PN{P: 3}},
		{name: "decrement", start: crdt.PN{P: 3}, by: -2, want: crdt.PN{P: 3, N: 2}},
		{name: "max int64", by: math.MaxInt64, want: crdt.PN{P: math.MaxInt64}},
		{name: "min int64 magnitude", by: math.MinInt64, want: crdt.PN{N: 1 << 63}},
		{name: "min int64 on top of N", start: crdt.PN{N: 1<<63 - 1}, by: math.MinInt64, want: crdt.PN{N: math.MaxUint64}},
		{name: "P reaches max", start: crdt.PN{P: math.MaxUint64 - 5}, by: 5, want: crdt.PN{P: math.MaxUint64}},
		{name: "P overflows", start: crdt.PN{P: math.MaxUint64 - 5}, by: 6, want: crdt.PN{P: math.MaxUint64 - 5}, wantErr: crdt.ErrOverflow},
		{name: "P at max overflows", start: crdt.PN{P: math.MaxUint64}, by: 1, want: crdt.PN{P: math.MaxUint64}, wantErr: crdt.ErrOverflow},
		{name: "N overflows", start: crdt.PN{N: math.MaxUint64}, by: -1, want: crdt.PN{N: math.MaxUint64}, wantErr: crdt.ErrOverflow},
		{name: "N overflows on min int64", start: crdt.PN{N: 1 << 63}, by: math.MinInt64, want: crdt.PN{N: 1 << 63}, wantErr: crdt.ErrOverflow},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			other := crdt.PN{P: 10, N: 1}
			c := counterOf(map[crdt.ReplicaID]crdt.PN{owner: tc.start, 3: other})
			before := c.Clone()
			d, err := c.Add(owner, tc.by)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Add(%d) error %v, want %v", tc.by, err, tc.wantErr)
			}
			if got := c.Entry(owner); got != tc.want {
				t.Errorf("entry after Add(%d) = %+v, want %+v", tc.by, got, tc.want)
			}
			if got := c.Entry(3); got != other {
				t.Errorf("Add changed another replica's entry to %+v", got)
			}
			if err != nil {
				if d.Len() != 0 || !c.Equal(before) {
					t.Errorf("failed Add returned delta %+v and left %+v (was %+v)", d, c, before)
				}
				return
			}
			want := counterOf(map[crdt.ReplicaID]crdt.PN{owner: tc.want})
			if !d.Equal(want) {
				t.Errorf("delta %+v, want only the owner's new entry %+v", d, want)
			}
		})
	}
}

func TestPNCounterAddZero(t *testing.T) {
	for _, start := range []crdt.PNCounter{{}, counterOf(map[crdt.ReplicaID]crdt.PN{owner: {P: 2, N: 1}})} {
		before := start.Clone()
		d, err := start.Add(owner, 0)
		if err != nil || d.Len() != 0 || !start.Equal(before) {
			t.Errorf("Add(0) on %+v: delta %+v, err %v, counter now %+v", before, d, err, start)
		}
	}
}

// TestPNCounterAddDeltaIsDetached checks that the returned delta does not share
// the counter's map: adding again leaves an earlier delta as it was.
func TestPNCounterAddDeltaIsDetached(t *testing.T) {
	var c crdt.PNCounter
	d, err := c.Add(owner, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Add(owner, 5); err != nil {
		t.Fatal(err)
	}
	if got := d.Entry(owner); got != (crdt.PN{P: 1}) {
		t.Errorf("first delta now holds %+v, want {P:1}", got)
	}
}

func TestPNCounterValue(t *testing.T) {
	tests := []struct {
		name    string
		entries map[crdt.ReplicaID]crdt.PN
		want    int64
	}{
		{"empty", nil, 0},
		{"sums every replica", map[crdt.ReplicaID]crdt.PN{1: {P: 5, N: 2}, 2: {P: 1, N: 7}}, -3},
		{"max int64", map[crdt.ReplicaID]crdt.PN{1: {P: math.MaxInt64}}, math.MaxInt64},
		{"min int64", map[crdt.ReplicaID]crdt.PN{1: {N: 1 << 63}}, math.MinInt64},
		{"saturates past max int64", map[crdt.ReplicaID]crdt.PN{1: {P: math.MaxInt64}, 2: {P: 1}}, math.MaxInt64},
		{"saturates past min int64", map[crdt.ReplicaID]crdt.PN{1: {N: 1 << 63}, 2: {N: 1}}, math.MinInt64},
		{"saturates past uint64", map[crdt.ReplicaID]crdt.PN{1: {P: math.MaxUint64}, 2: {P: math.MaxUint64}, 3: {N: 5}}, math.MaxInt64},
		{"saturates below -uint64", map[crdt.ReplicaID]crdt.PN{1: {N: math.MaxUint64}, 2: {N: math.MaxUint64}, 3: {P: 5}}, math.MinInt64},
		{"back in range", map[crdt.ReplicaID]crdt.PN{1: {P: math.MaxUint64}, 2: {N: math.MaxUint64 - 7}}, 7},
		{"P total wraps uint64, true value fits", map[crdt.ReplicaID]crdt.PN{1: {P: math.MaxUint64}, 2: {P: 2, N: math.MaxUint64}}, 2},
		{"all at max", map[crdt.ReplicaID]crdt.PN{1: {P: math.MaxUint64}, 2: {N: math.MaxUint64}}, 0},
	}
	for _, tc := range tests {
		c := counterOf(tc.entries)
		if got := c.Value(); got != tc.want {
			t.Errorf("%s: Value() = %d, want %d", tc.name, got, tc.want)
		}
	}
}

func TestPNCounterAccessors(t *testing.T) {
	c := counterOf(map[crdt.ReplicaID]crdt.PN{9: {P: 1}, 2: {N: 1}, 5: {P: 3}})
	if got, want := c.Replicas(), []crdt.ReplicaID{2, 5, 9}; !slices.Equal(got, want) {
		t.Errorf("Replicas() = %v, want %v", got, want)
	}
	if c.Len() != 3 || c.Entry(4) != (crdt.PN{}) {
		t.Errorf("Len() = %d, Entry(4) = %+v", c.Len(), c.Entry(4))
	}
	if c.JoinEntry(4, crdt.PN{}) || c.Len() != 3 {
		t.Errorf("joining a zero entry changed the counter: %+v", c)
	}
	if c.JoinEntry(9, crdt.PN{P: 1}) || !c.JoinEntry(9, crdt.PN{N: 2}) || c.Entry(9) != (crdt.PN{P: 1, N: 2}) {
		t.Errorf("JoinEntry is not the pointwise max: entry 9 = %+v", c.Entry(9))
	}
	clone := c.Clone()
	clone.JoinEntry(9, crdt.PN{P: 100})
	if c.Entry(9).P != 1 {
		t.Errorf("Clone shares entries with its source")
	}
	var zero crdt.PNCounter
	if !zero.Equal(crdt.PNCounter{}) || zero.Value() != 0 || zero.Len() != 0 || len(zero.Replicas()) != 0 {
		t.Errorf("zero counter is not empty")
	}
}

// TestPNCounterValueSaturates checks Value against ΣP − ΣN computed exactly
// (math/big) and clamped to the int64 range, on entries near the limits.
func TestPNCounterValueSaturates(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		total := func(n uint64) uint64 {
			return rapid.OneOf(rapid.Just(n), rapid.Uint64(), rapid.Uint64Range(0, 1000),
				rapid.Uint64Range(math.MaxUint64-1000, math.MaxUint64)).Draw(t, "total")
		}
		entries := map[crdt.ReplicaID]crdt.PN{}
		want := new(big.Int)
		for r := range rapid.IntRange(0, 6).Draw(t, "replicas") {
			pn := crdt.PN{P: total(1 << 63), N: total(1<<63 - 1)}
			entries[crdt.ReplicaID(r+1)] = pn
			want.Add(want, new(big.Int).SetUint64(pn.P))
			want.Sub(want, new(big.Int).SetUint64(pn.N))
		}
		switch {
		case want.Cmp(big.NewInt(math.MaxInt64)) > 0:
			want.SetInt64(math.MaxInt64)
		case want.Cmp(big.NewInt(math.MinInt64)) < 0:
			want.SetInt64(math.MinInt64)
		}
		if got := counterOf(entries).Value(); got != want.Int64() {
			t.Fatalf("Value() = %d, want %d for %v", got, want.Int64(), entries)
		}
	})
}
