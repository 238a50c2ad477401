package digest

import (
	"slices"
	"testing"

	"github.com/countermesh/countermesh/crdt"
)

// TestHashesAreStable pins buckets and entry hashes: peers of different builds
// compare digests, and stores save them, so a change here is a format change.
func TestHashesAreStable(t *testing.T) {
	var c crdt.PNCounter
	c.JoinEntry(3, crdt.PN{P: 10, N: 2})
	reg := crdt.Register{Kind: "like", TS: crdt.Timestamp{Wall: 1_700_000_000_000, Logical: 4}, Replica: 3}
	for _, tc := range []struct {
		name      string
		got, want uint64
	}{
		{"bucket of item7", uint64(BucketOf("item7")), 2140},
		{"bucket of the empty item", uint64(BucketOf("")), 4033},
		{"counter", Counter(crdt.CounterKey{Item: "video:a", Name: "claps"}, c), 0x97d9373861183269},
		{"register", Register(crdt.RegisterKey{Item: "video:a", User: "u1"}, reg), 0x67f3f35dc45d74e3},
		{"idempotency record", IdemRecord(crdt.IdemKey{Item: "video:a", Key: "k1"}, []byte{0x92, 1}), 0x41975e29f000108b},
		{"never-written register", Register(crdt.RegisterKey{Item: "video:a", User: "u1"}, crdt.Register{}), 0},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %#x, want %#x", tc.name, tc.got, tc.want)
		}
	}
}

// TestCounterChangeIsIncremental: XORing each change into a counter's entry gives
// the entry of the joined counter.
func TestCounterChangeIsIncremental(t *testing.T) {
	k := crdt.CounterKey{Item: "video:a", Name: "claps"}
	var c crdt.PNCounter
	h := Counter(k, c)
	for i, pn := range []struct {
		r  crdt.ReplicaID
		pn crdt.PN
	}{{1, crdt.PN{P: 1}}, {2, crdt.PN{N: 4}}, {1, crdt.PN{P: 5, N: 1}}, {1, crdt.PN{P: 5, N: 1}}} {
		next := c.Clone()
		next.JoinEntry(pn.r, pn.pn)
		h ^= CounterChange(k, c, next)
		c = next
		if want := Counter(k, c); h != want {
			t.Fatalf("after change %d: incremental %#x, from scratch %#x", i, h, want)
		}
	}
}

func TestDifferingAndSortedBuckets(t *testing.T) {
	var a, b Digest
	b[7], b[Buckets-1] = 1, 2
	if got := a.Differing(&b); !slices.Equal(got, []int{7, Buckets - 1}) {
		t.Errorf("Differing = %v", got)
	}
	if got := SortedBuckets([]int{9, -1, 3, 9, Buckets, 0}); !slices.Equal(got, []int{0, 3, 9}) {
		t.Errorf("SortedBuckets = %v, want [0 3 9]", got)
	}
}
