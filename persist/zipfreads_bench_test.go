package persist_test

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/countermesh/countermesh/persist"
)

// BenchmarkLayerStoreZipfPagesAfterWrites reads pages as a like service's
// readers do, after its writers: 300,000 reactions of Zipf-chosen users
// (200,000) to Zipf-chosen items (20,000) are written first; then 64 readers
// read pages of 20 Zipf-chosen items, each for a Zipf-chosen user, so the
// readers are mostly users who reacted. first-pages reads right after the
// writes; pages after a first pass of 64,000 pages has warmed the read model.
// ns/op is per page. It reports
// disk-items/op and disk-registers/op: what a page read from Badger.
func BenchmarkLayerStoreZipfPagesAfterWrites(b *testing.B) {
	const items, users, reactions, page = 20_000, 200_000, 300_000, 20
	s := openStore(b, b.TempDir(), withProfile(persist.DefaultOptions))
	waitFilled(b, s)
	zipf := func(seed uint64, n int) func() int {
		z := rand.NewZipf(rand.New(rand.NewPCG(seed, 1)), 1.1, 1, uint64(n-1))
		return func() int { return int(z.Uint64()) }
	}
	item, user := zipf(1, items), zipf(2, users)
	ops := make([]persist.Op, 0, 1000)
	for i := range reactions {
		ops = append(ops, persist.React(fmt.Sprint("item", item()), fmt.Sprint("user", user()), benchKinds[i%2]))
		if len(ops) == cap(ops) {
			write(b, s, ops...)
			ops = ops[:0]
		}
	}
	// pageReader returns a reader of pages from its own Zipf streams.
	pageReader := func(seed uint64) func() error {
		item, user := zipf(seed, items), zipf(seed+1000, users)
		ids := make([]string, page)
		return func() error {
			for i := range ids {
				ids[i] = fmt.Sprint("item", item())
			}
			_, err := s.ReadItems(ids, fmt.Sprint("user", user()))
			return err
		}
	}
	b.Run("first-pages", func(b *testing.B) { readPages(b, s, pageReader, 5000) })
	var warm sync.WaitGroup // the same streams once: the read model warms up
	for r := range 64 {
		warm.Go(func() {
			read := pageReader(uint64(r))
			for range 1000 {
				if err := read(); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	warm.Wait()
	b.Run("pages", func(b *testing.B) { readPages(b, s, pageReader, 0) })
}

// readPages reads b.N pages in parallel, 64 readers with streams from
// pageReader of their own, and reports what the pages read from disk. Seeds
// start at first, so runs with different firsts read different streams.
func readPages(b *testing.B, s *persist.Store, pageReader func(seed uint64) func() error, first int64) {
	before := s.ReadModelStats()
	var next atomic.Int64
	next.Store(first)
	b.SetParallelism(32) // 64 readers on 2 cores
	b.RunParallel(func(pb *testing.PB) {
		read := pageReader(uint64(next.Add(1)))
		for pb.Next() {
			if err := read(); err != nil {
				b.Error(err)
				return
			}
		}
	})
	after := s.ReadModelStats()
	// Items the model does not hold and the item filter does not rule out.
	disk := after.Misses - before.Misses - (after.ItemsSkipped - before.ItemsSkipped)
	b.ReportMetric(float64(disk)/float64(b.N), "disk-items/op")
	b.ReportMetric(float64(after.UsersChecked-before.UsersChecked)/float64(b.N), "disk-registers/op")
	b.ReportMetric(float64(after.Items), "items-held")
}
