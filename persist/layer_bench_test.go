package persist_test

import (
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/countermesh/countermesh/persist"
)

// The per-layer benchmarks of the store alone (no API above it): reads of a
// page of items, from the read model and from Badger, and durable writes of
// one op from concurrent writers, for each profile. The read model alone is
// in readmodel_bench_test.go; the mixed durable-write, merge and one-item
// read benchmarks are in bench_test.go.

// layerPageItems is the size of a page of ReadItems; layerStoreItems items are
// written, each with two counters and a reaction of each of layerReacted users.
const (
	layerPageItems  = 20
	layerStoreItems = 1000
	layerReacted    = 10
)

// withProfile makes openStore open a store of profile (persist.DefaultOptions
// or persist.SmallOptions) rather than of the small one.
func withProfile(profile func(dir string) persist.Options) func(*persist.Options) {
	return func(o *persist.Options) {
		logger := o.Logger
		*o = profile(o.Dir)
		o.Logger = logger
	}
}

// layerFill writes the items of the read benchmarks to s and waits for its
// reaction filter to answer.
func layerFill(b *testing.B, s *persist.Store) {
	b.Helper()
	items, users := benchNames()
	for i := range layerStoreItems {
		ops := []persist.Op{persist.Add(items[i], "claps", 1), persist.Add(items[i], "views", 1)}
		for u := range layerReacted {
			ops = append(ops, persist.React(items[i], users[u], benchKinds[u%2]))
		}
		if _, err := s.Write(b.Context(), ops...); err != nil {
			b.Fatal(err)
		}
	}
	waitFilled(b, s)
}

// BenchmarkLayerStoreReadItems isolates Store.ReadItems of a page of 20 items
// with a user: warm, every item held by the read model; cold, the read model
// off, so every item is read from Badger (its memtables and caches: the data
// is small). The user is one who reacted to every item (the reaction filter
// lets all 20 registers through to Badger) or one who reacted to none (the
// filter rules all 20 out). A last case reads pages of items nobody wrote,
// which the item filter answers without Badger, warm or cold.
func BenchmarkLayerStoreReadItems(b *testing.B) {
	items, users := benchNames()
	pages := make([][]string, layerStoreItems/layerPageItems)
	for p := range pages {
		pages[p] = items[p*layerPageItems : (p+1)*layerPageItems]
	}
	for _, model := range []struct {
		name  string
		bytes int64
	}{{"warm", 0}, {"cold", -1}} {
		b.Run(model.name, func(b *testing.B) {
			s := openStore(b, b.TempDir(), withProfile(persist.DefaultOptions), func(o *persist.Options) {
				if model.bytes != 0 {
					o.ReadModelBytes = model.bytes
				}
			})
			layerFill(b, s)
			for _, page := range pages { // bring every item into the read model
				if _, err := s.ReadItems(page, ""); err != nil {
					b.Fatal(err)
				}
			}
			if held := s.ReadModelStats().Items; model.bytes == 0 && held != layerStoreItems {
				b.Fatalf("the read model holds %d items, want %d", held, layerStoreItems)
			}
			for _, user := range []struct{ name, id string }{
				{"user-reacted", users[1]}, {"user-none", users[benchUsers-1]},
			} {
				b.Run(user.name, func(b *testing.B) {
					before := s.ReadModelStats()
					b.ReportAllocs()
					i := 0
					for b.Loop() {
						v, err := s.ReadItems(pages[i%len(pages)], user.id)
						if err != nil {
							b.Fatal(err)
						}
						if len(v) != layerPageItems || v[0].Counters["claps"] != 1 {
							b.Fatalf("read %+v", v)
						}
						i++
					}
					b.StopTimer()
					after := s.ReadModelStats()
					if model.bytes == 0 && after.Misses != before.Misses {
						b.Fatalf("%d items read from Badger in a warm read model", after.Misses-before.Misses)
					}
					b.ReportMetric(float64(after.UsersChecked-before.UsersChecked)/float64(b.N), "registers-read/op")
				})
			}
			b.Run("never-written", func(b *testing.B) {
				page := make([]string, layerPageItems)
				for i := range page {
					page[i] = fmt.Sprintf("never:%05d", i)
				}
				before := s.ReadModelStats()
				b.ReportAllocs()
				for b.Loop() {
					v, err := s.ReadItems(page, users[benchUsers-1])
					if err != nil {
						b.Fatal(err)
					}
					if len(v) != layerPageItems || len(v[0].Counters) != 0 {
						b.Fatalf("read %+v", v)
					}
				}
				b.StopTimer()
				after := s.ReadModelStats()
				b.ReportMetric(float64(after.ItemsChecked-before.ItemsChecked)/float64(b.N), "items-read/op")
			})
		})
	}
}

// BenchmarkLayerStoreWrite isolates Store.Write of one op, durable, from 64
// concurrent writers sharing group commits, with each profile: a reaction
// (alternating kinds on 1,000 items × 64 users, so each changes its register
// and two tallies) or an increment (on 1,000 items); and the same reactions
// written 100 to a call (batch-100: ns/op is per op).
func BenchmarkLayerStoreWrite(b *testing.B) {
	items, users := benchNames()
	for _, profile := range []struct {
		name string
		opts func(dir string) persist.Options
	}{{"small", persist.SmallOptions}, {"default", persist.DefaultOptions}} {
		for _, kind := range []string{"reaction", "increment", "batch-100"} {
			b.Run(profile.name+"/"+kind, func(b *testing.B) {
				s := openStore(b, b.TempDir(), withProfile(profile.opts))
				var writers atomic.Int64
				b.SetParallelism(max(1, benchWriters/runtime.GOMAXPROCS(0)))
				b.ReportAllocs()
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					w := int(writers.Add(1))
					user := users[w%benchUsers]
					ops := make([]persist.Op, 0, 100)
					for n := 0; pb.Next(); n++ {
						op := persist.Add(items[(w+n*64)%layerStoreItems], "claps", 1)
						if kind != "increment" {
							op = persist.React(items[n%layerStoreItems], user, benchKinds[(n/layerStoreItems)%2])
						}
						ops = append(ops, op)
						if kind == "batch-100" && len(ops) < cap(ops) {
							continue // one op of the batch is one op of the benchmark
						}
						if _, err := s.Write(b.Context(), ops...); err != nil {
							b.Error(err)
							return
						}
						ops = ops[:0]
					}
				})
			})
		}
	}
}

// BenchmarkLayerStorePacedAfterLoad isolates the store's tail latency at a
// steady rate right after a bulk load, when Badger flushes memtables and
// compacts level 0 under the writes: 64 writers load 640,000 reactions in
// batches of 100, then write one reaction each at 6,000 writes/s in all for
// 5 s, each timed from when it was due. It reports p50-ms, p99-ms and max-ms
// of those writes; one op is the whole run, so run it with -benchtime=1x.
func BenchmarkLayerStorePacedAfterLoad(b *testing.B) {
	const writers, rate, paced = 64, 6000.0, 5 * time.Second
	for b.Loop() {
		s := openStore(b, b.TempDir(), withProfile(persist.DefaultOptions))
		var load sync.WaitGroup
		for w := range writers {
			load.Go(func() {
				for i := range 100 {
					ops := make([]persist.Op, 100)
					for j := range ops {
						ops[j] = persist.React(fmt.Sprint("item", (i*100+j+w*7)%100_000), fmt.Sprint("u", w, "-", i, "-", j), "like")
					}
					if _, err := s.Write(b.Context(), ops...); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		load.Wait()
		var mu sync.Mutex
		var lat []time.Duration
		start := time.Now()
		var run sync.WaitGroup
		for w := range writers {
			run.Go(func() {
				for k := 0; ; k++ {
					due := start.Add(time.Duration(float64(k*writers+w) / rate * float64(time.Second)))
					time.Sleep(time.Until(due))
					if time.Since(start) > paced {
						return
					}
					op := persist.React(fmt.Sprint("item", k%5000), fmt.Sprint("p", w, "-", k), "like")
					if _, err := s.Write(b.Context(), op); err != nil {
						b.Error(err)
						return
					}
					mu.Lock()
					lat = append(lat, time.Since(due))
					mu.Unlock()
				}
			})
		}
		run.Wait()
		slices.Sort(lat)
		ms := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))]) / 1e6 }
		b.ReportMetric(ms(0.5), "p50-ms")
		b.ReportMetric(ms(0.99), "p99-ms")
		b.ReportMetric(ms(1), "max-ms")
		s.Close()
	}
}
