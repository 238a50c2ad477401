package persist

import (
	"fmt"
	"testing"

	"github.com/countermesh/countermesh/crdt"
)

// The benchmarks of the read model and the reaction filter alone, without the
// store around them: what Store.ReadItems and the applier spend in them.

// modelBenchItems returns n item ids.
func modelBenchItems(n int) []string {
	items := make([]string, n)
	for i := range items {
		items[i] = fmt.Sprintf("video:%05d", i)
	}
	return items
}

// newModelBench returns a read model of the default budget holding items,
// each with the counters claps and views and the tallies like and dislike.
func newModelBench(b *testing.B, items []string) *readModel {
	b.Helper()
	names := newNameSet()
	for _, name := range []string{"claps", "views"} {
		names.addCounter(name)
	}
	for _, kind := range []string{"like", "dislike"} {
		names.addKind(kind)
	}
	m := newReadModel(DefaultOptions("").ReadModelBytes, names)
	views := make([]ItemView, 1)
	for i, item := range items {
		_, _, gen := m.read(items[i:i+1], "", views)
		m.keep(item, ItemView{Counters: map[string]int64{"claps": int64(i), "views": 1},
			Tallies: crdt.Tallies{"like": 3, "dislike": 1}}, "reader", gen)
	}
	if missing, _, _ := m.read(items, "", make([]ItemView, len(items))); len(missing) != 0 {
		b.Fatalf("the read model holds %d of %d items", len(items)-len(missing), len(items))
	}
	return m
}

// BenchmarkLayerReadModelRead isolates readModel.read of a page of 20 items,
// all held, with a user whose reaction each knows: the memory part of every
// ReadItems.
func BenchmarkLayerReadModelRead(b *testing.B) {
	page := modelBenchItems(20)
	m := newModelBench(b, page)
	views := make([]ItemView, len(page))
	b.ReportAllocs()
	for b.Loop() {
		if missing, unknown, _ := m.read(page, "reader", views); len(missing)+len(unknown) != 0 {
			b.Fatalf("%d items missing, %d users unknown", len(missing), len(unknown))
		}
	}
}

// BenchmarkLayerReadModelApply isolates readModel.apply of a committed batch
// of 64 counter updates (two counters of 32 held items): what the commit feed
// adds to every commit before its writers are released.
func BenchmarkLayerReadModelApply(b *testing.B) {
	items := modelBenchItems(32)
	m := newModelBench(b, items)
	batch := newBatch()
	for i, item := range items {
		for _, name := range []string{"claps", "views"} {
			var c crdt.PNCounter
			if _, err := c.Add(1, int64(i+2)); err != nil {
				b.Fatal(err)
			}
			batch.counters[crdt.CounterKey{Item: item, Name: name}] = c
		}
	}
	if len(batch.counters) != 64 {
		b.Fatalf("batch of %d counters, want 64", len(batch.counters))
	}
	b.ReportAllocs()
	for b.Loop() {
		m.apply(batch, nil)
	}
}

// BenchmarkLayerReactionFilter isolates the reaction filter's mayHave, asked by
// ReadItems for every item of a page read with a user, on a filter of the
// default size holding a million keys: for a key added (every probe is
// tested, the answer is "maybe") and for keys never added (mostly "no" at the
// first probe found unset).
func BenchmarkLayerReactionFilter(b *testing.B) {
	const n = 1 << 20
	f := newKeyFilter[crdt.RegisterKey](DefaultOptions("").ReactionFilterBytes)
	key := func(i int) crdt.RegisterKey {
		return crdt.RegisterKey{Item: fmt.Sprintf("video:%05d", i%10_000), User: fmt.Sprintf("user:%07d", i)}
	}
	for i := range n {
		f.add(key(i))
	}
	f.ready.Store(true)
	for _, c := range []struct {
		name  string
		first int // keys from first on; those from n on were never added
	}{{"added", 0}, {"absent", n}} {
		b.Run(c.name, func(b *testing.B) {
			keys := make([]crdt.RegisterKey, 4096)
			for i := range keys {
				keys[i] = key(c.first + i*97)
			}
			maybe := 0
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if f.mayHave(keys[i%len(keys)]) {
					maybe++
				}
				i++
			}
			b.ReportMetric(float64(maybe)/float64(i), "maybe/op")
		})
	}
}
