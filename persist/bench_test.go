package persist_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"

	"github.com/countermesh/countermesh/crdt"
	"github.com/countermesh/countermesh/persist"
)

// The durable-write benchmarks: benchWriters goroutines, each waiting for its write
// to be durable before making the next, over a Zipf-skewed keyspace of benchItems
// items and benchUsers users; benchReactPct percent of the writes set a reaction
// (like, dislike or none), the rest add to a counter.
const (
	benchWriters  = 64
	benchItems    = 10_000
	benchUsers    = 100_000
	benchReactPct = 80
)

var benchKinds = []string{"like", "dislike", crdt.None}

// benchNames holds the item and user ids, made once.
var benchNames = sync.OnceValues(func() (items, users []string) {
	items = make([]string, benchItems)
	for i := range items {
		items[i] = fmt.Sprintf("video:%05d", i)
	}
	users = make([]string, benchUsers)
	for i := range users {
		users[i] = fmt.Sprintf("user:%06d", i)
	}
	return items, users
})

// benchGen makes one writer's ops.
type benchGen struct {
	rng          *rand.Rand
	items, users *rand.Zipf
}

func newBenchGen(seed uint64) *benchGen {
	rng := rand.New(rand.NewPCG(seed, 0xbe9c))
	return &benchGen{
		rng:   rng,
		items: rand.NewZipf(rng, 1.1, 1, benchItems-1),
		users: rand.NewZipf(rng, 1.01, 10, benchUsers-1),
	}
}

func (g *benchGen) op() persist.Op {
	items, users := benchNames()
	item := items[g.items.Uint64()]
	if g.rng.IntN(100) < benchReactPct {
		return persist.React(item, users[g.users.Uint64()], benchKinds[g.rng.IntN(len(benchKinds))])
	}
	return persist.Add(item, "views", 1)
}

// benchDurableWrites makes b.N writes from benchWriters goroutines through write,
// timing each, and reports writes/s and the p50 and p99 latency.
func benchDurableWrites(b *testing.B, write func(ctx context.Context, op persist.Op) error) {
	ctx := b.Context()
	benchNames()
	var (
		next     atomic.Int64
		failed   atomic.Bool
		firstErr error
		errOnce  sync.Once
		wg       sync.WaitGroup
	)
	lat := make([][]time.Duration, benchWriters)
	b.ResetTimer()
	start := time.Now()
	for w := range benchWriters {
		wg.Go(func() {
			gen := newBenchGen(uint64(w))
			mine := make([]time.Duration, 0, b.N/benchWriters+1)
			for !failed.Load() && next.Add(1) <= int64(b.N) {
				op := gen.op()
				t0 := time.Now()
				if err := write(ctx, op); err != nil {
					errOnce.Do(func() { firstErr = err })
					failed.Store(true)
					return
				}
				mine = append(mine, time.Since(t0))
			}
			lat[w] = mine
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if firstErr != nil {
		b.Fatal(firstErr)
	}
	all := slices.Concat(lat...)
	slices.Sort(all)
	rate := float64(b.N) / elapsed.Seconds()
	p50, p99 := all[len(all)/2], all[len(all)*99/100]
	b.ReportMetric(rate, "writes/s")
	b.ReportMetric(float64(p50.Nanoseconds())/1e3, "p50-µs")
	b.ReportMetric(float64(p99.Nanoseconds())/1e3, "p99-µs")
	if b.N >= 1000 {
		b.Logf("%d durable writes from %d goroutines in %v: %.0f writes/s, p50 %v, p99 %v, max %v",
			b.N, benchWriters, elapsed.Round(time.Millisecond), rate,
			p50.Round(time.Microsecond), p99.Round(time.Microsecond), all[len(all)-1].Round(time.Microsecond))
	}
}

func benchOpenStore(b *testing.B) *persist.Store {
	b.Helper()
	opts := persist.DefaultOptions(b.TempDir())
	opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	s, err := persist.Open(opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := s.Close(); err != nil {
			b.Error(err)
		}
	})
	return s
}

// BenchmarkBenchGroupCommit measures durable writes through Store.Write with the
// production profile: concurrent writes share group commits.
func BenchmarkBenchGroupCommit(b *testing.B) {
	s := benchOpenStore(b)
	benchDurableWrites(b, func(ctx context.Context, op persist.Op) error {
		_, err := s.Write(ctx, op)
		return err
	})
}

// BenchmarkBenchBadgerTxnPerWrite is the naive baseline: the same writes, each its
// own Badger transaction with SyncWrites, so each pays its own sync. It only sets
// the register or counter key (no read, no tally), so it is a lower bound on the
// naive design's cost.
func BenchmarkBenchBadgerTxnPerWrite(b *testing.B) {
	bo := badger.DefaultOptions(b.TempDir()).
		WithSyncWrites(true).
		WithDetectConflicts(false).
		WithMemTableSize(64 << 20).
		WithNumMemtables(5).
		WithBlockCacheSize(256 << 20).
		WithCompression(options.Snappy).
		WithNumCompactors(2).
		WithMetricsEnabled(false).
		WithLogger(nil)
	db, err := badger.Open(bo)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := db.Close(); err != nil {
			b.Error(err)
		}
	})
	var total atomic.Int64
	benchDurableWrites(b, func(_ context.Context, op persist.Op) error {
		var key, value []byte
		if op.Kind == persist.OpReact {
			key = append(append([]byte("r"+op.Item), 0), op.User...)
			value = append(binary.BigEndian.AppendUint64(nil, uint64(time.Now().UnixNano())), op.Reaction...)
		} else {
			key = append(append([]byte("c"+op.Item), 0), op.Counter...)
			value = binary.BigEndian.AppendUint64(nil, uint64(total.Add(op.By)))
		}
		return db.Update(func(txn *badger.Txn) error { return txn.Set(key, value) })
	})
}

// BenchmarkBenchMerge1000 measures Store.Merge of a delta from another replica
// holding 500 counters and 500 registers, every one newer than the store's copy, so
// each Merge changes (and durably commits) all 1,000 keys and the tallies of the
// registers' items.
func BenchmarkBenchMerge1000(b *testing.B) {
	s := benchOpenStore(b)
	ctx := b.Context()
	const remote = crdt.ReplicaID(0x5eed_0000_0000_0001)
	wall := time.Now().UnixMilli()
	items, users := benchNames()
	delta := func(i int) crdt.Delta {
		var d crdt.Delta
		for k := range 500 {
			var c crdt.PNCounter
			c.JoinEntry(remote, crdt.PN{P: uint64(2*i + 1), N: uint64(i)})
			d.JoinCounter(crdt.CounterKey{Item: items[k], Name: "claps"}, c)
			d.JoinRegister(crdt.RegisterKey{Item: items[k%50], User: users[k]}, crdt.Register{
				Kind:    benchKinds[(i+k)%2],
				TS:      crdt.Timestamp{Wall: wall, Logical: uint32(i + 1)},
				Replica: remote,
			})
		}
		return d
	}
	if _, err := s.Merge(ctx, delta(0)); err != nil { // the keys exist: each Merge updates
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		d := delta(i + 1)
		b.StartTimer()
		res, err := s.Merge(ctx, d)
		if err != nil {
			b.Fatal(err)
		}
		if res.Changed.Len() != 1000 {
			b.Fatalf("merge %d changed %d keys, want 1000", i, res.Changed.Len())
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)*1000/b.Elapsed().Seconds(), "keys/s")
}

// BenchmarkReadItem measures ReadItem of one item with two counters, two
// tallies and the asked-for user's register, in a store of benchItems items
// with reactions of many users: the read behind every answer of the API.
func BenchmarkReadItem(b *testing.B) {
	s := benchOpenStore(b)
	ctx := b.Context()
	items, users := benchNames()
	const n = 1000
	for i := range n {
		ops := []persist.Op{persist.Add(items[i], "claps", 1), persist.Add(items[i], "views", 1)}
		for u := range 10 {
			ops = append(ops, persist.React(items[i], users[u], benchKinds[u%2]))
		}
		if _, err := s.Write(ctx, ops...); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		v, err := s.ReadItem(items[i%n], users[i%10])
		if err != nil {
			b.Fatal(err)
		}
		if v.Counters["claps"] != 1 || v.Tallies["like"] != 5 {
			b.Fatalf("read %v", v)
		}
	}
}
