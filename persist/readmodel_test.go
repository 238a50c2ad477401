package persist_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/countermesh/countermesh/crdt"
	"github.com/countermesh/countermesh/persist"
	"github.com/countermesh/countermesh/tests/testkit"
)

// TestReadsReflectEveryCommitBeforeThem: readers racing writers over more
// items than the read model's budget holds (so items are dropped, missed, read
// from Badger and kept again all the time) always see at least every write
// acknowledged before their read began, and the model ends equal to Badger.
func TestReadsReflectEveryCommitBeforeThem(t *testing.T) {
	s := openStore(t, t.TempDir(), func(o *persist.Options) { o.ReadModelBytes = 16 << 10 })
	const items, writers, readers, rounds = 400, 4, 4, 300
	var acked [items]struct {
		sync.Mutex
		value int64
		kinds []string // u0's reactions, in the order acknowledged
	}
	var wg sync.WaitGroup
	errs := make(chan error, writers+readers)
	for w := range writers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for range rounds {
				i := rng.IntN(items)
				kind := []string{"like", "dislike", ""}[rng.IntN(3)]
				acked[i].Lock()
				res, err := s.Write(context.Background(), persist.Add(fmt.Sprint("item", i), "claps", 1),
					persist.React(fmt.Sprint("item", i), fmt.Sprint("u", w), kind))
				if err == nil {
					acked[i].value = res[0].Value
					if w == 0 {
						acked[i].kinds = append(acked[i].kinds, kind)
					}
				}
				acked[i].Unlock()
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	for r := range readers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(r), 2))
			reused := make([]persist.ItemView, 5) // odd readers read into the views of their last page
			for range rounds {
				page := make([]int, 5)
				ids := make([]string, 5)
				floor := make([]int64, 5)
				seen := make([]int, 5) // u0's reactions acknowledged before the read
				for j := range page {
					i := rng.IntN(items)
					page[j], ids[j] = i, fmt.Sprint("item", i)
					acked[i].Lock()
					floor[j], seen[j] = acked[i].value, len(acked[i].kinds)
					acked[i].Unlock()
				}
				views, err := s.ReadItems(ids, "u0")
				if r%2 == 1 {
					views, err = reused, s.ReadItemsInto(ids, "u0", reused)
				}
				if err != nil {
					errs <- err
					return
				}
				for j, v := range views {
					if v.Counters["claps"] < floor[j] {
						errs <- fmt.Errorf("%s read %d claps after a write acknowledged %d", ids[j], v.Counters["claps"], floor[j])
						return
					}
					// u0's reaction is the last acknowledged before the read
					// or one written since (waiting out one in flight).
					acked[page[j]].Lock()
					allowed := append([]string{""}, acked[page[j]].kinds...)[seen[j]:]
					acked[page[j]].Unlock()
					if !slices.Contains(allowed, v.User.Kind) {
						errs <- fmt.Errorf("%s: u0's reaction read as %q, acknowledged since the read began: %q",
							ids[j], v.User.Kind, allowed)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	st := s.ReadModelStats()
	if st.Evictions == 0 || st.Misses == 0 || st.Hits == 0 {
		t.Fatalf("the model was never under pressure: %+v", st)
	}
	if st.Bytes > st.Budget {
		t.Fatalf("the model holds %d bytes, over its budget of %d", st.Bytes, st.Budget)
	}
	// Every item as the model answers equals Badger's.
	for i := range items {
		item := fmt.Sprint("item", i)
		v := readItem(t, s, item, "")
		c, err := s.Counter(item, "claps")
		if err != nil {
			t.Fatal(err)
		}
		if v.Counters["claps"] != c.Value() {
			t.Fatalf("%s: read %d claps, Badger holds %d", item, v.Counters["claps"], c.Value())
		}
	}
	if err := s.CheckTallies(); err != nil {
		t.Fatal(err)
	}
}

// TestAFailedCommitLeavesReadsAsTheyWere: a batch that fails to commit is
// never published: reads, from memory, keep the state before it.
func TestAFailedCommitLeavesReadsAsTheyWere(t *testing.T) {
	var fail bool
	var mu sync.Mutex
	s := openStore(t, t.TempDir(), func(o *persist.Options) {
		o.CommitFault = func(int) error {
			mu.Lock()
			defer mu.Unlock()
			if fail {
				return errors.New("injected")
			}
			return nil
		}
	})
	write(t, s, persist.Add("a", "claps", 2), persist.React("a", "u1", "like"))
	readItem(t, s, "a", "u1") // now held
	mu.Lock()
	fail = true
	mu.Unlock()
	if _, err := s.Write(context.Background(), persist.Add("a", "claps", 5), persist.React("a", "u2", "like")); !errors.Is(err, persist.ErrCommitFailed) {
		t.Fatalf("write under a failing disk: %v", err)
	}
	v := readItem(t, s, "a", "u2")
	if v.Counters["claps"] != 2 || v.Tallies["like"] != 1 || v.User.Kind != "" {
		t.Fatalf("after a failed commit: %+v", v)
	}
}

// TestTheCommitFeedTellsEachCommitOnce: local writes and merges alike reach a
// follower once, with the items whose counters or tallies changed, and not
// after stop.
func TestTheCommitFeedTellsEachCommitOnce(t *testing.T) {
	s := openStore(t, t.TempDir())
	var mu sync.Mutex
	var got [][]string
	stop := s.Follow(func(c persist.Commit) {
		mu.Lock()
		defer mu.Unlock()
		items := slices.Clone(c.Items)
		slices.Sort(items)
		got = append(got, items)
		if c.LastSeq != s.LastSeq() {
			t.Errorf("commit told with last sequence %d, the store has %d", c.LastSeq, s.LastSeq())
		}
	})
	write(t, s, persist.Add("a", "claps", 1), persist.React("b", "u1", "like"))
	write(t, s, persist.React("b", "u1", "like")) // the same kind again: no count changes

	other := openStore(t, t.TempDir())
	write(t, other, persist.Add("c", "claps", 4))
	var d = snapshotDelta(t, other)
	if _, err := s.Merge(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	stop()
	write(t, s, persist.Add("a", "claps", 1))
	mu.Lock()
	defer mu.Unlock()
	want := [][]string{{"a", "b"}, {"c"}}
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("the feed told %v, want %v", got, want)
	}
}

// TestAUserWithNoReactionIsAnsweredWithoutDisk: once the reaction filter is
// filled (at open, from disk), reading an item for a user who never reacted
// costs no disk read; one who reacted before the restart is found.
func TestAUserWithNoReactionIsAnsweredWithoutDisk(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	write(t, s, persist.React("a", "fan", "like"))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, dir)
	waitFilled(t, s)
	before := s.ReadModelStats()
	for i := range 100 {
		if v := readItem(t, s, "a", fmt.Sprint("reader", i)); v.User.Kind != "" || v.Tallies["like"] != 1 {
			t.Fatalf("reader%d: %+v", i, v)
		}
	}
	if v := readItem(t, s, "a", "fan"); v.User.Kind != "like" {
		t.Fatalf("the fan's reaction after a restart: %+v", v)
	}
	after := s.ReadModelStats()
	if skipped := after.UsersSkipped - before.UsersSkipped; skipped < 95 {
		t.Fatalf("%d of 100 readers with no reaction were answered without disk", skipped)
	}
}

// TestAnItemNeverWrittenIsAnsweredWithoutDisk: once the item filter is filled
// (at open, from disk), reading items nobody wrote costs no disk read and
// answers zeros; items written before the restart, and one first written
// after it, are found whole, and a register on an item with no tally (a
// reaction set to none) is still found for its user. The read model holds
// nothing (budget none), so every answer comes from the filter or Badger.
func TestAnItemNeverWrittenIsAnsweredWithoutDisk(t *testing.T) {
	dir := t.TempDir()
	noModel := func(o *persist.Options) { o.ReadModelBytes = -1 }
	s := openStore(t, dir, noModel)
	write(t, s, persist.Add("counted", "claps", 3), persist.React("liked", "fan", "like"),
		persist.React("quiet", "fan", ""))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, dir, noModel)
	waitFilled(t, s)
	quiet, err := s.Register("quiet", "fan")
	if err != nil || quiet.TS.IsZero() {
		t.Fatalf("the register set to none before the restart: %+v, %v", quiet, err)
	}

	before := s.ReadModelStats()
	for i := range 100 {
		for _, user := range []string{"", "fan"} {
			v := readItem(t, s, fmt.Sprint("never", i), user)
			if len(v.Counters) != 0 || len(v.Tallies) != 0 || v.User != (crdt.Register{}) {
				t.Fatalf("never%d read by %q: %+v, want zeros", i, user, v)
			}
		}
	}
	if v := readItem(t, s, "counted", "fan"); v.Counters["claps"] != 3 || len(v.Tallies) != 0 {
		t.Fatalf("an item counted before the restart: %+v", v)
	}
	if v := readItem(t, s, "liked", "fan"); v.Tallies["like"] != 1 || v.User.Kind != "like" {
		t.Fatalf("an item liked before the restart: %+v", v)
	}
	if v := readItem(t, s, "quiet", "fan"); len(v.Counters) != 0 || v.User != quiet {
		t.Fatalf("a register with no tally: %+v, want user %+v", v, quiet)
	}
	after := s.ReadModelStats()
	if skipped := after.ItemsSkipped - before.ItemsSkipped; skipped < 190 {
		t.Fatalf("%d of 200 reads of items never written were answered without disk", skipped)
	}

	// Written after the filter filled: the next read and the next write see it.
	if v := readItem(t, s, "new", ""); len(v.Counters) != 0 {
		t.Fatalf("new before its write: %+v", v)
	}
	write(t, s, persist.Add("new", "claps", 2))
	if v := readItem(t, s, "new", ""); v.Counters["claps"] != 2 {
		t.Fatalf("new after its first write: %+v", v)
	}
	if res := write(t, s, persist.Add("new", "claps", 5)); res[0].Value != 7 {
		t.Fatalf("the second write to new counted to %d, want 7", res[0].Value)
	}
	if res := write(t, s, persist.Add("counted", "claps", 1)); res[0].Value != 4 {
		t.Fatalf("a write to an item counted before the restart counted to %d, want 4", res[0].Value)
	}
	write(t, s, persist.React("liked", "other", "like"))
	if v := readItem(t, s, "liked", ""); v.Tallies["like"] != 2 {
		t.Fatalf("a second like on an item liked before the restart: %+v", v)
	}
	if err := s.CheckTallies(); err != nil {
		t.Fatal(err)
	}
}

// TestAReadersReactionAgreesWithTheTalliesReadWithIt: while one user likes
// item after item, each held by the read model and liked by nobody before, a
// read of the item being liked by that user sees the like tally at 1 exactly
// when it sees the user's like: the user's register and the item's tallies
// come from the same commits, though the model asks the reaction filter
// before its own users.
func TestAReadersReactionAgreesWithTheTalliesReadWithIt(t *testing.T) {
	s := openStore(t, t.TempDir())
	waitFilled(t, s)
	const items = 3000
	id := func(n int64) string { return fmt.Sprint("item", n) }
	for n := range int64(items) {
		write(t, s, persist.Add(id(n), "claps", 1))
		readItem(t, s, id(n), "") // held from now on
	}
	var liking atomic.Int64 // the item being liked, or the one after it
	var writer sync.WaitGroup
	writer.Go(func() {
		for n := range int64(items) {
			liking.Store(n)
			if _, err := s.Write(context.Background(), persist.React(id(n), "fan", "like")); err != nil {
				t.Error(err)
				return
			}
		}
		liking.Store(items)
	})
	defer writer.Wait()
	for n := liking.Load(); n < items; n = liking.Load() {
		page := []string{id(n), id(min(n+1, items-1))}
		views, err := s.ReadItems(page, "fan")
		if err != nil {
			t.Fatal(err)
		}
		for i, v := range views {
			if liked := v.User.Kind == "like"; liked != (v.Tallies["like"] == 1) {
				t.Fatalf("%s: the fan's reaction %q, the like tally %d", page[i], v.User.Kind, v.Tallies["like"])
			}
		}
	}
	if st := s.ReadModelStats(); st.Misses > items {
		t.Fatalf("%d reads missed the read model: the items were not held", st.Misses-items)
	}
}

// TestTheApplierDecidesOnWhatTheReadModelKnows: with the applier's own cache
// off, a held item's registers and tallies come to the applier from the read
// model; reactions changed again and again on it keep every tally exact, and
// the same decisions are made as on an item the model does not hold.
func TestTheApplierDecidesOnWhatTheReadModelKnows(t *testing.T) {
	dir := t.TempDir()
	noCache := func(o *persist.Options) { o.CacheKeys = -1 }
	s := openStore(t, dir, noCache)
	kinds := []string{"like", "dislike", "", "like"}
	for _, item := range []string{"held", "cold"} {
		for u := range 10 {
			write(t, s, persist.React(item, fmt.Sprint("u", u), "like"))
		}
	}
	if err := s.Close(); err != nil { // a model that holds neither item
		t.Fatal(err)
	}
	s = openStore(t, dir, noCache)
	waitFilled(t, s)
	readItem(t, s, "held", "") // the model holds it, knowing every user a commit wrote since
	for round, kind := range kinds {
		for u := range 10 {
			if u%2 == round%2 {
				for _, item := range []string{"held", "cold"} {
					write(t, s, persist.React(item, fmt.Sprint("u", u), kind))
				}
			}
		}
	}
	if st := s.ReadModelStats(); st.Items != 1 {
		t.Fatalf("the model holds %d items, want only held", st.Items)
	}
	held, cold := readItem(t, s, "held", ""), readItem(t, s, "cold", "")
	if !maps.Equal(held.Tallies, cold.Tallies) {
		t.Fatalf("held %v, cold %v: the same reactions made different tallies", held.Tallies, cold.Tallies)
	}
	if err := s.CheckTallies(); err != nil {
		t.Fatal(err)
	}
}

// TestAnItemFirstWrittenAtAnotherPeerIsSeenOnceMerged: the item filter rules
// out an item this peer never heard of; once another peer's writes to it are
// merged here — a client that wrote elsewhere, then reads and writes here —
// the item is read whole and this peer's own writes count on top of them.
func TestAnItemFirstWrittenAtAnotherPeerIsSeenOnceMerged(t *testing.T) {
	s := openStore(t, t.TempDir(), func(o *persist.Options) { o.CacheKeys = -1 })
	waitFilled(t, s)
	if v := readItem(t, s, "remote", "fan"); len(v.Counters) != 0 || v.User.Kind != "" {
		t.Fatalf("before the merge: %+v", v)
	}
	merge(t, s, remoteState(7, crdt.NewClock(nil, 0), func(st *crdt.State, c *crdt.Clock) {
		st.Add("remote", "claps", 4)
		st.SetReaction("remote", "fan", "like", c.Now())
	}))
	if v := readItem(t, s, "remote", "fan"); v.Counters["claps"] != 4 || v.Tallies["like"] != 1 || v.User.Kind != "like" {
		t.Fatalf("after the merge: %+v", v)
	}
	if res := write(t, s, persist.Add("remote", "claps", 1)); res[0].Value != 5 {
		t.Fatalf("a local clap on top of 4 merged counted to %d", res[0].Value)
	}
	write(t, s, persist.React("remote", "fan", "dislike"))
	if v := readItem(t, s, "remote", ""); v.Tallies["like"] != 0 || v.Tallies["dislike"] != 1 {
		t.Fatalf("the fan's merged like, then a local dislike: %+v", v.Tallies)
	}
	if err := s.CheckTallies(); err != nil {
		t.Fatal(err)
	}
}

// snapshotDelta returns the whole replicated state of s as one delta.
func snapshotDelta(t *testing.T, s *persist.Store) crdt.Delta {
	t.Helper()
	var d crdt.Delta
	if err := s.Snapshot(1<<20, func(part crdt.Delta) error { d = part; return nil }); err != nil {
		t.Fatal(err)
	}
	return d
}

// waitFilled waits until s's reaction filter and item filter answer.
func waitFilled(t testing.TB, s *persist.Store) {
	t.Helper()
	testkit.WaitFor(t, 10*time.Second, "the filters filled", func() bool { return s.ReadModelStats().FilterReady })
}

// TestFollowersComeAndGoWhileCommitsPublish: following and stopping while
// writes commit neither deadlocks against a publish nor calls a stopped
// follower.
func TestFollowersComeAndGoWhileCommitsPublish(t *testing.T) {
	s := openStore(t, t.TempDir())
	ctx, cancel := context.WithCancel(context.Background())
	var writer sync.WaitGroup
	for range 8 { // commits back to back, so that stops land in publishes
		writer.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				if _, err := s.Write(ctx, persist.Add(fmt.Sprint("item", i%50), "claps", 1)); err != nil && ctx.Err() == nil {
					t.Error(err)
					return
				}
			}
		})
	}
	defer func() { cancel(); writer.Wait() }()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 2000 {
			var stopped atomic.Bool
			stop := s.Follow(func(persist.Commit) {
				if stopped.Load() {
					t.Error("a follower was called after its stop returned")
				}
			})
			stop()
			stopped.Store(true)
		}
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Follow and stop did not finish in 30 s beside commits: a deadlock")
	}
}

// TestAnItemBornHereIsHeldAsItsBatchLeftIt: an item's first batch (no counter
// and no tally before it, which the item filter knows) brings it into the read
// model whole, knowing the users its commits wrote, so reading it right after
// costs no disk read; an item written
// before a restart is not taken for new when it is written again, and reads
// whole from disk.
func TestAnItemBornHereIsHeldAsItsBatchLeftIt(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	write(t, s, persist.Add("old", "claps", 1), persist.React("old", "fan", "like"))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, dir)
	waitFilled(t, s)
	write(t, s, persist.Add("new", "claps", 3), persist.React("new", "fan", "like"), persist.Add("old", "views", 2))
	if st := s.ReadModelStats(); st.Items != 1 {
		t.Fatalf("the model holds %d items after the write, want the new one", st.Items)
	}
	before := s.ReadModelStats()
	if v := readItem(t, s, "new", "fan"); v.Counters["claps"] != 3 || v.Tallies["like"] != 1 || v.User.Kind != "like" {
		t.Errorf("the new item: %+v", v)
	}
	if v := readItem(t, s, "new", "reader"); v.User.Kind != "" || v.Tallies["like"] != 1 {
		t.Errorf("the new item for a reader who never reacted: %+v", v)
	}
	after := s.ReadModelStats()
	if after.Misses != before.Misses || after.UsersChecked != before.UsersChecked {
		t.Errorf("reading the new item read %d items and %d registers from disk, want none",
			after.Misses-before.Misses, after.UsersChecked-before.UsersChecked)
	}
	if v := readItem(t, s, "old", "fan"); v.Counters["claps"] != 1 || v.Counters["views"] != 2 || v.Tallies["like"] != 1 || v.User.Kind != "like" {
		t.Errorf("an item written before the restart, written again: %+v", v)
	}
	if err := s.CheckTallies(); err != nil {
		t.Fatal(err)
	}
}

// TestReadingIntoViewsOfAnEarlierPageReadsAsFreshViews: pages read into the
// views of the page before — other items, other users, some held by the read
// model, some on disk only, some never written — read exactly as into views of
// their own; nothing of the earlier page is left in them.
func TestReadingIntoViewsOfAnEarlierPageReadsAsFreshViews(t *testing.T) {
	s := openStore(t, t.TempDir(), func(o *persist.Options) { o.ReadModelBytes = 8 << 10 })
	rng := rand.New(rand.NewPCG(7, 7))
	item := func() string { return fmt.Sprint("item", rng.IntN(60)) } // item50 and up never written
	user := func() string { return []string{"", "u0", "u1", "u2"}[rng.IntN(4)] }
	for range 300 {
		i := fmt.Sprint("item", rng.IntN(50))
		write(t, s, persist.Add(i, []string{"claps", "views", "shares"}[rng.IntN(3)], rng.Int64N(4)+1),
			persist.React(i, fmt.Sprint("u", rng.IntN(3)), []string{"like", "dislike", ""}[rng.IntN(3)]))
	}
	views := make([]persist.ItemView, 6)
	for range 400 {
		ids := make([]string, len(views))
		for j := range ids {
			ids[j] = item()
		}
		u := user()
		if err := s.ReadItemsInto(ids, u, views); err != nil {
			t.Fatal(err)
		}
		fresh, err := s.ReadItems(ids, u)
		if err != nil {
			t.Fatal(err)
		}
		for j := range ids {
			got, want := views[j], fresh[j]
			if !maps.Equal(got.Counters, want.Counters) || !maps.Equal(got.Tallies, want.Tallies) || got.User != want.User {
				t.Fatalf("%s for %q read into used views as %+v, into fresh ones as %+v", ids[j], u, got, want)
			}
		}
	}
	if err := s.ReadItemsInto([]string{"item1"}, "", views); err == nil {
		t.Fatal("6 views for 1 item were taken")
	}
}
