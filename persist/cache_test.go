package persist

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/countermesh/countermesh/crdt"
)

func TestAssocCacheIsBoundedAndEvictsLeastRecentlyUsed(t *testing.T) {
	c := newAssocCache[int, int](4) // one set of four
	if c.cap() != 4 {
		t.Fatalf("cap = %d, want 4", c.cap())
	}
	for i := range 4 {
		c.put(i, i*10)
	}
	c.get(0) // 1 is now the least recently used
	c.put(4, 40)
	if _, ok := c.get(1); ok {
		t.Error("the least recently used entry survived an eviction")
	}
	for _, k := range []int{0, 2, 3, 4} {
		if v, ok := c.get(k); !ok || v != k*10 {
			t.Errorf("get(%d) = %d, %v; want %d", k, v, ok, k*10)
		}
	}
	c.put(2, 21) // update in place
	if v, _ := c.get(2); v != 21 || c.len() != 4 {
		t.Errorf("after update: get(2) = %d, len %d", v, c.len())
	}
	c.reset()
	if _, ok := c.get(2); ok || c.len() != 0 {
		t.Error("reset kept entries")
	}

	big := newAssocCache[int, int](1000)
	if big.cap() < 1000 || big.cap() >= 2000 {
		t.Errorf("cap for 1000 = %d", big.cap())
	}
	want := map[int]int{}
	for i := range 10_000 {
		big.put(i%3000, i)
		want[i%3000] = i
		if i%7 == 0 {
			big.get(i / 7 % 3000)
		}
	}
	if n := big.len(); n > big.cap() {
		t.Fatalf("len %d > cap %d", n, big.cap())
	}
	big.each(func(k, v int) {
		if want[k] != v {
			t.Errorf("entry %d = %d, last put %d", k, v, want[k])
		}
	})

	none := newAssocCache[int, int](0)
	none.put(1, 1)
	if _, ok := none.get(1); ok || none.len() != 0 {
		t.Error("a cache of max 0 kept an entry")
	}
}

// TestCacheAgreesWithDisk drives a store with a tiny cache (constant evictions)
// through concurrent random writes and merges while every few commits fail, and
// then a while without failures, then checks that every cached state is the
// committed one, and that the store is consistent.
func TestCacheAgreesWithDisk(t *testing.T) {
	for _, keys := range []int{1, 7, 1 << 12} {
		t.Run(fmt.Sprint("keys", keys), func(t *testing.T) {
			// calm is set for the last third: the cache then fills up.
			s, opts, seed, calm := openWithRandomFaults(t, keys, 5)
			kinds := []string{"like", "dislike", crdt.None}
			var wg sync.WaitGroup
			for w := range 6 {
				wg.Go(func() {
					rng := rand.New(rand.NewPCG(seed, uint64(w)+2))
					item := func() string { return fmt.Sprint("item", rng.IntN(5)) }
					user := func() string { return fmt.Sprint("u", rng.IntN(8)) }
					for i := range 150 {
						if i == 100 {
							calm.Store(true)
						}
						var err error
						if rng.IntN(6) == 0 {
							var d crdt.Delta
							remote := crdt.ReplicaID(100 + rng.IntN(2))
							var c crdt.PNCounter
							c.JoinEntry(remote, crdt.PN{P: uint64(rng.IntN(50))})
							d.JoinCounter(crdt.CounterKey{Item: item(), Name: "claps"}, c)
							d.JoinRegister(crdt.RegisterKey{Item: item(), User: user()}, crdt.Register{
								Kind: kinds[rng.IntN(3)], TS: s.Clock().Now(), Replica: remote,
							})
							_, err = s.Merge(context.Background(), d)
						} else {
							ops := make([]Op, 1+rng.IntN(3))
							for i := range ops {
								if rng.IntN(2) == 0 {
									ops[i] = Add(item(), "claps", int64(rng.IntN(7))-3|1)
								} else {
									ops[i] = React(item(), user(), kinds[rng.IntN(3)])
								}
							}
							_, err = s.Write(context.Background(), ops...)
						}
						if err != nil && !errors.Is(err, ErrCommitFailed) {
							t.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			cache := s.committedCache()
			if n, c := cache.registers.len(), cache.registers.cap(); n > c || c >= 2*max(keys, assocWays) {
				t.Errorf("%d registers cached, capacity %d, asked %d", n, c, keys)
			}

			opts.CommitFault = nil
			s, err := Open(opts)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			checkCacheAgainst(t, cache, s)
			if err := s.CheckTallies(); err != nil {
				t.Error(err)
			}
			d, err := s.RecomputeDigest()
			if err != nil {
				t.Fatal(err)
			}
			if diff := s.Digest().Differing(d); len(diff) > 0 {
				t.Errorf("digest differs in buckets %v", diff)
			}
		})
	}
}

// testOptions returns the small profile in dir, quiet, keeping cacheKeys (0: the
// profile's number).
func testOptions(dir string, cacheKeys int) Options {
	opts := SmallOptions(dir)
	opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	if cacheKeys != 0 {
		opts.CacheKeys = cacheKeys
	}
	return opts
}

// openWithRandomFaults opens a store with testOptions(keys) whose commits fail
// as randomFaults(seed, n) has them, with a random seed it logs.
func openWithRandomFaults(t *testing.T, keys, n int) (s *Store, opts Options, seed uint64, calm *atomic.Bool) {
	t.Helper()
	seed = rand.Uint64()
	t.Logf("seed %d", seed)
	opts = testOptions(t.TempDir(), keys)
	opts.CommitFault, calm = randomFaults(seed, n)
	s, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	return s, opts, seed, calm
}

// randomFaults returns a CommitFault that fails about one commit in n, drawn from
// seed, until calm is set.
func randomFaults(seed uint64, n int) (fault func(int) error, calm *atomic.Bool) {
	var mu sync.Mutex
	rng := rand.New(rand.NewPCG(seed, 1))
	calm = new(atomic.Bool)
	return func(int) error {
		mu.Lock()
		defer mu.Unlock()
		if !calm.Load() && rng.IntN(n) == 0 {
			return errors.New("injected")
		}
		return nil
	}, calm
}

// checkCacheAgainst checks every entry of c against what s has committed.
func checkCacheAgainst(t *testing.T, c *committedCache, s *Store) {
	t.Helper()
	c.counters.each(func(k crdt.CounterKey, v crdt.PNCounter) {
		got, err := s.Counter(k.Item, k.Name)
		if err != nil {
			t.Fatal(err)
		}
		if !got.Equal(v) {
			t.Errorf("counter %v: cached %v, committed %v", k, v.Value(), got.Value())
		}
	})
	c.registers.each(func(k crdt.RegisterKey, v crdt.Register) {
		got, err := s.Register(k.Item, k.User)
		if err != nil {
			t.Fatal(err)
		}
		if got != v {
			t.Errorf("register %v: cached %+v, committed %+v", k, v, got)
		}
	})
	c.tallies.each(func(k tallyRef, v int64) {
		view, err := s.ReadItem(k.item, "")
		if err != nil {
			t.Fatal(err)
		}
		if got := view.Tallies[k.kind]; got != v {
			t.Errorf("tally %v: cached %d, committed %d", k, v, got)
		}
	})
	t.Logf("checked %d counters, %d registers, %d tallies", c.counters.len(), c.registers.len(), c.tallies.len())
}

// BenchmarkRegisterCacheMiss measures the cache's cost for a register written for
// the first time: a miss, then the store of the committed state, evicting another.
func BenchmarkRegisterCacheMiss(b *testing.B) {
	keys := make([]crdt.RegisterKey, 1<<20)
	for i := range keys {
		keys[i] = crdt.RegisterKey{Item: fmt.Sprintf("video:%05d", i%10_000), User: fmt.Sprintf("user:%07d", i)}
	}
	c := newCommittedCache(DefaultOptions("").CacheKeys)
	r := crdt.Register{Kind: "like", TS: crdt.Timestamp{Wall: 1}, Replica: 1}
	b.ResetTimer()
	for i := range b.N {
		k := keys[i&(len(keys)-1)]
		if _, ok := c.registers.get(k); !ok {
			c.registers.put(k, r)
		}
	}
}

// TestCacheAfterFailedCommit fails the commit of a batch while the next one is
// decided on top of it: both fail, and the writes after them are decided on the
// last committed states, cached or, once evicted, read from Badger.
func TestCacheAfterFailedCommit(t *testing.T) {
	for _, keys := range []int{-1, 1, 1 << 12} {
		t.Run(fmt.Sprint("keys", keys), func(t *testing.T) {
			var hold atomic.Bool
			entered, release := make(chan struct{}), make(chan error)
			opts := testOptions(t.TempDir(), keys)
			opts.CommitFault = func(int) error {
				if !hold.Load() {
					return nil
				}
				entered <- struct{}{}
				return <-release
			}
			s, err := Open(opts)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			ctx := context.Background()
			write := func(ops ...Op) ([]Result, error) { return s.Write(ctx, ops...) }
			mustWrite := func(ops ...Op) []Result {
				t.Helper()
				res, err := write(ops...)
				if err != nil {
					t.Fatal(err)
				}
				return res
			}
			claps, kind := int64(3), "like" // a/claps and a/u0 as committed
			mustWrite(Add("a", "claps", 3), React("a", "u0", kind))
			onTop := 0
			for attempt := 1; attempt <= 20 && onTop < 3; attempt++ {
				if attempt%2 == 0 { // push a's keys out of a tiny cache
					for i := range 8 {
						mustWrite(Add(fmt.Sprint("other", i), "claps", 1), React(fmt.Sprint("other", i), "u0", "like"))
					}
				}
				hold.Store(true)
				first, second := make(chan error, 1), make(chan []Result, 1)
				go func() { _, err := write(Add("a", "claps", 5), React("a", "u0", "dislike")); first <- err }()
				<-entered // the first write's batch is being committed
				hold.Store(false)
				var err2 error
				go func() {
					var res []Result
					res, err2 = write(Add("a", "claps", 7), React("a", "u0", crdt.None))
					second <- res
				}()
				time.Sleep(time.Duration(attempt) * time.Millisecond) // for the applier to decide it
				release <- errors.New("injected")
				if err := <-first; !errors.Is(err, ErrCommitFailed) {
					t.Fatalf("first write: err = %v, want ErrCommitFailed", err)
				}
				res2 := <-second
				switch {
				case errors.Is(err2, ErrCommitFailed):
					onTop++ // decided on top of the failed batch, and failed with it
				case err2 != nil:
					t.Fatal(err2)
				default: // decided after the failure, on the committed states
					if res2[0].Value != claps+7 || res2[1].Adjust.From != kind {
						t.Fatalf("second write after a failed commit = %+v, want value %d, from %q", res2, claps+7, kind)
					}
					claps, kind = claps+7, crdt.None
				}
				next := map[string]string{"like": "dislike", "dislike": crdt.None, crdt.None: "like"}[kind]
				res := mustWrite(Add("a", "claps", 1), React("a", "u0", next))
				if res[0].Value != claps+1 || res[1].Adjust.From != kind {
					t.Fatalf("attempt %d: write after a failed commit = %+v, want value %d, from %q", attempt, res, claps+1, kind)
				}
				claps, kind = claps+1, next
				v, err := s.ReadItem("a", "u0")
				if err != nil {
					t.Fatal(err)
				}
				want := crdt.Tallies{}
				if kind != crdt.None {
					want = crdt.Tallies{kind: 1}
				}
				if v.Counters["claps"] != claps || v.User.Kind != kind || !v.Tallies.Equal(want) {
					t.Fatalf("attempt %d: read %+v, want claps %d, %q, tallies %v", attempt, v, claps, kind, want)
				}
			}
			if onTop == 0 {
				t.Error("no write was ever decided on top of the failing batch")
			}
			if err := s.CheckTallies(); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestCacheMatchesModelUnderConcurrentWriters has concurrent writers, each with a
// counter and a user of its own on every item besides shared ones, while commits
// fail at random (but for the last quarter) and some writes roll back (an idempotency conflict within the
// write). Every acknowledged result on a writer's own keys must follow from its
// earlier acknowledged writes alone, whatever the cache held or evicted; at the end
// the store, and every cached state, must match the model built from the
// acknowledged results.
func TestCacheMatchesModelUnderConcurrentWriters(t *testing.T) {
	for _, keys := range []int{-1, 1, 5, 0} {
		t.Run(fmt.Sprint("keys", keys), func(t *testing.T) {
			// calm is set for the last quarter: the cache then fills up.
			s, opts, seed, calm := openWithRandomFaults(t, keys, 4)
			const writers, each, items = 6, 120, 3
			kinds := []string{"like", "dislike", crdt.None}
			type writerModel struct {
				counters  map[crdt.CounterKey]int64          // acknowledged sums
				registers map[crdt.RegisterKey]crdt.Register // acknowledged, newest
				failed    int
			}
			models := make([]writerModel, writers)
			var wg sync.WaitGroup
			for w := range writers {
				m := &models[w]
				m.counters, m.registers = map[crdt.CounterKey]int64{}, map[crdt.RegisterKey]crdt.Register{}
				wg.Go(func() {
					rng := rand.New(rand.NewPCG(seed, uint64(w)+2))
					own := fmt.Sprint("w", w)
					for i := range each {
						if i == each*3/4 {
							calm.Store(true)
						}
						ops := make([]Op, 1+rng.IntN(4))
						for j := range ops {
							item := fmt.Sprint("item", rng.IntN(items))
							name, user := own, own
							if rng.IntN(2) == 0 {
								name, user = "claps", fmt.Sprint("s", rng.IntN(3))
							}
							if rng.IntN(2) == 0 {
								ops[j] = Add(item, name, int64(rng.IntN(9))-4|1)
							} else {
								ops[j] = React(item, user, kinds[rng.IntN(3)])
							}
						}
						rollback := rng.IntN(8) == 0
						if rollback {
							key := fmt.Sprint("dup", w, i)
							ops = append(ops, AddOnce("item0", own, 1, key), AddOnce("item0", own, 2, key))
						}
						res, err := s.Write(context.Background(), ops...)
						switch {
						case rollback:
							if !errors.Is(err, ErrIdempotencyConflict) {
								t.Errorf("writer %d: a conflicting write: err = %v", w, err)
								return
							}
							continue
						case errors.Is(err, ErrCommitFailed):
							m.failed++
							continue
						case err != nil:
							t.Error(err)
							return
						}
						for j, op := range ops {
							r := res[j]
							switch op.Kind {
							case OpAdd:
								k := crdt.CounterKey{Item: op.Item, Name: op.Counter}
								m.counters[k] += op.By
								if op.Counter == own && r.Value != m.counters[k] {
									t.Errorf("writer %d: %v = %d, acknowledged adds sum to %d", w, k, r.Value, m.counters[k])
								}
							case OpReact:
								k := crdt.RegisterKey{Item: op.Item, User: op.User}
								if op.User == own && r.Adjust.From != m.registers[k].Kind {
									t.Errorf("writer %d: %v was %q, last acknowledged %q", w, k, r.Adjust.From, m.registers[k].Kind)
								}
								if r.Register.Wins(m.registers[k]) {
									m.registers[k] = r.Register
								}
							}
						}
					}
				})
			}
			wg.Wait()
			if t.Failed() {
				return
			}
			counters := map[crdt.CounterKey]int64{}
			registers := map[crdt.RegisterKey]crdt.Register{}
			failed := 0
			for _, m := range models {
				failed += m.failed
				for k, v := range m.counters {
					counters[k] += v
				}
				for k, r := range m.registers {
					if r.Wins(registers[k]) {
						registers[k] = r
					}
				}
			}
			if failed == 0 {
				t.Error("no commit failed")
			}
			tallies := map[string]crdt.Tallies{}
			for k, r := range registers {
				if r.Kind != crdt.None {
					if tallies[k.Item] == nil {
						tallies[k.Item] = crdt.Tallies{}
					}
					tallies[k.Item][r.Kind]++
				}
			}
			check := func(s *Store) {
				t.Helper()
				for k, want := range counters {
					c, err := s.Counter(k.Item, k.Name)
					if err != nil {
						t.Fatal(err)
					}
					if c.Value() != want {
						t.Errorf("%v = %d, acknowledged adds sum to %d", k, c.Value(), want)
					}
				}
				for k, want := range registers {
					r, err := s.Register(k.Item, k.User)
					if err != nil {
						t.Fatal(err)
					}
					if r != want {
						t.Errorf("%v = %+v, newest acknowledged %+v", k, r, want)
					}
				}
				for i := range items {
					item := fmt.Sprint("item", i)
					v, err := s.ReadItem(item, "")
					if err != nil {
						t.Fatal(err)
					}
					if !v.Tallies.Equal(tallies[item]) {
						t.Errorf("%s: tallies %v, model %v", item, v.Tallies, tallies[item])
					}
				}
			}
			check(s)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			cache := s.committedCache()
			opts.CommitFault = nil
			s, err := Open(opts)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			check(s)
			checkCacheAgainst(t, cache, s)
			if err := s.CheckTallies(); err != nil {
				t.Error(err)
			}
		})
	}
}
