package persist_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/countermesh/countermesh/crdt"
	"github.com/countermesh/countermesh/crdt/digest"
	"github.com/countermesh/countermesh/persist"
)

// TestDigestsFindExactlyTheDifferingBuckets: two stores converge through merges of
// full state; their digests then agree, and one new write on one side makes them
// differ in exactly that item's bucket, whose states BucketStates returns.
func TestDigestsFindExactlyTheDifferingBuckets(t *testing.T) {
	a := openStore(t, t.TempDir())
	b := openStore(t, t.TempDir())
	for i := range 50 {
		item := fmt.Sprint("item", i)
		write(t, a, persist.Add(item, "claps", int64(i+1)), persist.React(item, "u", "like"))
		write(t, b, persist.Add(item, "views", 1))
	}
	full := func(s *persist.Store) crdt.Delta {
		var d crdt.Delta
		if err := s.Snapshot(100, func(x crdt.Delta) error { d.Join(x); return nil }); err != nil {
			t.Fatal(err)
		}
		return d
	}
	da, db := full(a), full(b)
	merge(t, a, db)
	merge(t, b, da)
	if diff := a.Digest().Differing(b.Digest()); len(diff) != 0 {
		t.Fatalf("converged stores differ in buckets %v", diff)
	}

	write(t, a, persist.React("item7", "u2", "dislike"))
	diff := a.Digest().Differing(b.Digest())
	if want := []int{digest.BucketOf("item7")}; !slices.Equal(diff, want) {
		t.Fatalf("differing buckets = %v, want %v", diff, want)
	}
	var repair crdt.Delta
	if err := a.BucketStates(diff, 1000, func(d crdt.Delta) error { repair.Join(d); return nil }); err != nil {
		t.Fatal(err)
	}
	if _, ok := repair.Registers[crdt.RegisterKey{Item: "item7", User: "u2"}]; !ok {
		t.Fatalf("bucket states lack the new register: %+v", repair)
	}
	for _, item := range repair.Items() {
		if digest.BucketOf(item) != diff[0] {
			t.Errorf("bucket states hold %s from another bucket", item)
		}
	}
	merge(t, b, repair)
	if diff := a.Digest().Differing(b.Digest()); len(diff) != 0 {
		t.Errorf("after repair, buckets %v still differ", diff)
	}
}

func TestSameState(t *testing.T) {
	a, b := openStore(t, t.TempDir()), openStore(t, t.TempDir())
	if !persist.SameState() || !persist.SameState(a, b) {
		t.Fatal("empty stores differ")
	}
	write(t, a, persist.Add("x", "claps", 2), persist.React("x", "u1", "like"))
	if persist.SameState(a, b) {
		t.Fatal("a store with writes has the state of an empty one")
	}
	err := a.Snapshot(100, func(d crdt.Delta) error { _, err := b.Merge(context.Background(), d); return err })
	if err != nil {
		t.Fatal(err)
	}
	if !persist.SameState(a, b, a) {
		t.Error("a store and one that merged all of it differ")
	}
}
