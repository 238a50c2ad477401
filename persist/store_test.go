package persist_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/countermesh/countermesh/crdt"
	"github.com/countermesh/countermesh/persist"
	"github.com/countermesh/countermesh/tests/testkit"
)

// openStore opens a small-profile store in dir, closed when the test ends.
func openStore(t testing.TB, dir string, tweak ...func(*persist.Options)) *persist.Store {
	t.Helper()
	opts := persist.SmallOptions(dir)
	opts.Logger = discardLogger()
	for _, f := range tweak {
		f(&opts)
	}
	s, err := persist.Open(opts)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// A store sized by any memory budget serve accepts, down to the least
// (64 MiB, whose memtables are 4 MiB), opens, writes and reads.
func TestAStoreOpensAtEveryBudget(t *testing.T) {
	for _, budget := range []int64{64 << 20, 100 << 20, 128 << 20, 1 << 30} {
		s := openStore(t, t.TempDir(), func(o *persist.Options) { *o = o.WithMemoryBudget(budget) })
		write(t, s, persist.Add("a", "claps", 3))
		if v := readItem(t, s, "a", ""); v.Counters["claps"] != 3 {
			t.Errorf("budget %d MiB: read %v, want 3 claps", budget>>20, v.Counters)
		}
	}
}

func write(t testing.TB, s *persist.Store, ops ...persist.Op) []persist.Result {
	t.Helper()
	res, err := s.Write(context.Background(), ops...)
	if err != nil {
		t.Fatalf("write %+v: %v", ops, err)
	}
	return res
}

func readItem(t testing.TB, s *persist.Store, item, user string) persist.ItemView {
	t.Helper()
	v, err := s.ReadItem(item, user)
	if err != nil {
		t.Fatalf("read %s: %v", item, err)
	}
	return v
}

func TestWriteThenRead(t *testing.T) {
	s := openStore(t, t.TempDir())
	res := write(t, s,
		persist.Add("video:abc", "claps", 3),
		persist.Add("video:abc", "claps", -1),
		persist.React("video:abc", "u1", "like"),
		persist.React("video:abc", "u2", "dislike"),
		persist.React("video:abcd", "u1", "like"), // an item whose id extends another's
	)
	if res[0].Value != 3 || res[1].Value != 2 {
		t.Errorf("counter results = %d, %d; want 3, 2", res[0].Value, res[1].Value)
	}
	for i, r := range res {
		if r.Seq != uint64(i+1) {
			t.Errorf("op %d: seq %d, want %d", i, r.Seq, i+1)
		}
	}
	if got := res[2].Adjust; got != (crdt.TallyAdjust{To: "like"}) {
		t.Errorf("adjust of first like = %+v", got)
	}
	v := readItem(t, s, "video:abc", "u1")
	if v.Counters["claps"] != 2 {
		t.Errorf("claps = %d, want 2", v.Counters["claps"])
	}
	if !v.Tallies.Equal(crdt.Tallies{"like": 1, "dislike": 1}) {
		t.Errorf("tallies = %v", v.Tallies)
	}
	if v.User.Kind != "like" || v.User.Replica != s.Replica() {
		t.Errorf("user register = %+v", v.User)
	}
	if s.LastSeq() != 5 {
		t.Errorf("LastSeq = %d, want 5", s.LastSeq())
	}
	if err := s.CheckTallies(); err != nil {
		t.Error(err)
	}
}

func TestReactionToggleKeepsTallyExact(t *testing.T) {
	s := openStore(t, t.TempDir())
	steps := []struct {
		kind string
		want crdt.Tallies
	}{
		{"like", crdt.Tallies{"like": 1}},
		{"like", crdt.Tallies{"like": 1}}, // the same reaction twice counts once
		{"dislike", crdt.Tallies{"dislike": 1}},
		{crdt.None, crdt.Tallies{}},
		{crdt.None, crdt.Tallies{}},
		{"like", crdt.Tallies{"like": 1}},
	}
	for i, st := range steps {
		write(t, s, persist.React("a", "u", st.kind))
		if got := readItem(t, s, "a", "").Tallies; !got.Equal(st.want) {
			t.Fatalf("step %d (%q): tallies %v, want %v", i, st.kind, got, st.want)
		}
	}
	if err := s.CheckTallies(); err != nil {
		t.Error(err)
	}
}

func TestReopenKeepsReplicaStateAndSequence(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	replica := s.Replica()
	write(t, s, persist.Add("a", "views", 7), persist.React("a", "u", "like"))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, dir)
	if s.Replica() != replica {
		t.Errorf("replica after reopen = %s, want %s", s.Replica(), replica)
	}
	if s.LastSeq() != 2 {
		t.Errorf("LastSeq after reopen = %d, want 2", s.LastSeq())
	}
	if res := write(t, s, persist.Add("a", "views", 1)); res[0].Seq != 3 || res[0].Value != 8 {
		t.Errorf("write after reopen = %+v, want seq 3 value 8", res[0])
	}
	if other := openStore(t, t.TempDir()); other.Replica() == replica {
		t.Error("a new data directory reused the replica id")
	}
}

func TestClockNeverGoesBackwardsAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	wall := time.Now()
	s := openStore(t, dir, func(o *persist.Options) { o.WallClock = func() time.Time { return wall } })
	before := write(t, s, persist.React("a", "u", "like"))[0].Register.TS
	s.Close()

	// The wall clock jumps an hour back while the peer is down.
	back := wall.Add(-time.Hour)
	s = openStore(t, dir, func(o *persist.Options) { o.WallClock = func() time.Time { return back } })
	after := write(t, s, persist.React("a", "u", "dislike"))[0].Register
	if !before.Before(after.TS) {
		t.Fatalf("timestamp after restart %s is not after %s", after.TS, before)
	}
	if got := readItem(t, s, "a", "u").User.Kind; got != "dislike" {
		t.Errorf("later write lost: register kind %q", got)
	}
}

func TestIdempotencyKeyCountsOnce(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	var clockMu sync.Mutex
	wall := func() time.Time { clockMu.Lock(); defer clockMu.Unlock(); return now }
	s := openStore(t, dir, func(o *persist.Options) { o.WallClock = wall })

	first := write(t, s, persist.AddOnce("a", "claps", 5, "k1"))[0]
	again := write(t, s, persist.AddOnce("a", "claps", 5, "k1"))[0]
	if !again.Replayed || again.Value != first.Value || again.Seq != 0 {
		t.Errorf("retry = %+v, want a replay, seq 0, of %+v", again, first)
	}
	// Twice in one Write: the second is a replay of the first.
	both := write(t, s, persist.AddOnce("a", "claps", 2, "k2"), persist.AddOnce("a", "claps", 2, "k2"))
	if both[0].Replayed || !both[1].Replayed {
		t.Errorf("same key twice in one write = %+v", both)
	}
	s.Close()

	s = openStore(t, dir, func(o *persist.Options) { o.WallClock = wall })
	if r := write(t, s, persist.AddOnce("a", "claps", 5, "k1"))[0]; !r.Replayed {
		t.Errorf("retry after restart counted again: %+v", r)
	}
	if v := readItem(t, s, "a", "").Counters["claps"]; v != 7 {
		t.Errorf("claps = %d, want 7", v)
	}
	_, err := s.Write(context.Background(), persist.AddOnce("a", "claps", 6, "k1"))
	if !errors.Is(err, persist.ErrIdempotencyConflict) {
		t.Errorf("key reused for another amount: err = %v, want ErrIdempotencyConflict", err)
	}

	clockMu.Lock()
	now = now.Add(25 * time.Hour) // past the default 24 h
	clockMu.Unlock()
	if r := write(t, s, persist.AddOnce("a", "claps", 5, "k1"))[0]; r.Replayed {
		t.Error("an expired key still replayed")
	}
}

func TestFailedOpInWriteAppliesNothing(t *testing.T) {
	s := openStore(t, t.TempDir())
	write(t, s, persist.AddOnce("a", "claps", 1, "used"))
	before := readItem(t, s, "a", "u")
	seq := s.LastSeq()

	_, err := s.Write(context.Background(),
		persist.Add("a", "claps", 10),
		persist.React("a", "u", "like"),
		persist.AddOnce("a", "claps", 99, "used"), // conflicts: the whole write fails
	)
	if !errors.Is(err, persist.ErrIdempotencyConflict) {
		t.Fatalf("err = %v, want ErrIdempotencyConflict", err)
	}
	after := readItem(t, s, "a", "u")
	if after.Counters["claps"] != before.Counters["claps"] || !after.Tallies.Equal(before.Tallies) || after.User != before.User {
		t.Errorf("failed write changed the item: %+v → %+v", before, after)
	}
	// Its sequence numbers are handed out again.
	if r := write(t, s, persist.Add("a", "claps", 1))[0]; r.Seq != seq+1 {
		t.Errorf("next seq = %d, want %d", r.Seq, seq+1)
	}
}

func TestInvalidOpsAreRefused(t *testing.T) {
	s := openStore(t, t.TempDir())
	for _, op := range []persist.Op{
		persist.Add("", "claps", 1),
		persist.Add("a", "", 1),
		persist.Add("a", "claps", 0),
		persist.React("a", "", "like"),
		{Kind: 9, Item: "a"},
	} {
		if _, err := s.Write(context.Background(), persist.Add("a", "ok", 1), op); !errors.Is(err, persist.ErrInvalidOp) {
			t.Errorf("%+v: err = %v, want ErrInvalidOp", op, err)
		}
	}
	if v := readItem(t, s, "a", ""); len(v.Counters) != 0 {
		t.Errorf("refused writes changed state: %v", v.Counters)
	}
}

func TestWriteLargerThanABatchIsRefused(t *testing.T) {
	s := openStore(t, t.TempDir(), func(o *persist.Options) { o.MaxBatchOps = 10 })
	ops := make([]persist.Op, 11)
	for i := range ops {
		ops[i] = persist.Add("a", fmt.Sprint("c", i), 1)
	}
	if _, err := s.Write(context.Background(), ops...); !errors.Is(err, persist.ErrTooLarge) {
		t.Fatalf("err = %v, want ErrTooLarge", err)
	}
	write(t, s, ops[:10]...)
}

func TestConcurrentWritesShareCommits(t *testing.T) {
	var commits atomic.Int64
	s := openStore(t, t.TempDir(), func(o *persist.Options) {
		o.CommitFault = func(int) error { commits.Add(1); return nil }
	})
	const writers, each = 32, 50
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				if _, err := s.Write(context.Background(), persist.Add("hot", "claps", 1),
					persist.React("hot", fmt.Sprint("u", w), []string{"like", "dislike"}[i%2])); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	v := readItem(t, s, "hot", "")
	if v.Counters["claps"] != writers*each {
		t.Errorf("claps = %d, want %d", v.Counters["claps"], writers*each)
	}
	if v.Tallies["dislike"] != writers || v.Tallies["like"] != 0 {
		t.Errorf("tallies = %v, want %d dislikes", v.Tallies, writers)
	}
	if n := commits.Load(); n >= writers*each {
		t.Errorf("%d commits for %d writes: no group commit", n, writers*each)
	} else {
		t.Logf("%d writes in %d commits", writers*each, n)
	}
}

// TestTheNextBatchCommitsWhileTheLastIsPublished: once a batch is durable, the
// batch decided on top of it goes to the disk before the first is published
// (read model, commit feed), so Badger does not sit idle while it is; and each
// caller is still released only once its own batch is published.
func TestTheNextBatchCommitsWhileTheLastIsPublished(t *testing.T) {
	commits := make(chan int, 4)        // ops of each commit begun
	firstDurable := make(chan struct{}) // lets the first commit finish
	published, release := make(chan struct{}), make(chan struct{})
	s := openStore(t, t.TempDir(), func(o *persist.Options) {
		var begun atomic.Int64
		o.CommitFault = func(ops int) error {
			commits <- ops
			if begun.Add(1) == 1 {
				<-firstDurable
			}
			return nil
		}
	})
	var told atomic.Int64
	stop := s.Follow(func(persist.Commit) {
		if told.Add(1) == 1 {
			close(published) // the first batch is being published: hold it there
			<-release
		}
	})
	letGo := sync.OnceFunc(func() { close(release) })
	finishFirst := sync.OnceFunc(func() { close(firstDurable) })
	defer stop()
	defer func() { finishFirst(); letGo() }() // also when the test fails: stop and Close wait for them
	ctx := context.Background()
	first := make(chan error, 1)
	go func() { _, err := s.Write(ctx, persist.Add("a", "claps", 1)); first <- err }()
	<-commits
	second := make(chan error, 1)
	go func() { _, err := s.Write(ctx, persist.React("b", "u1", "wow")); second <- err }()
	testkit.WaitFor(t, 10*time.Second, "the second write decided while the first batch is committed",
		func() bool { return s.DecidedKind("wow") })
	finishFirst()
	<-published
	select {
	case <-commits:
	case <-time.After(10 * time.Second):
		t.Fatal("the second batch was not handed to the disk while the first was published")
	}
	select {
	case err := <-first:
		t.Fatalf("the first write returned (%v) before its batch was published", err)
	default:
	}
	letGo()
	for _, c := range []chan error{first, second} {
		if err := <-c; err != nil {
			t.Fatal(err)
		}
	}
	if v := readItem(t, s, "b", "u1"); v.Tallies["wow"] != 1 || v.User.Kind != "wow" {
		t.Fatalf("after both commits: %+v", v)
	}
}

func TestCloseIsIdempotentAndRefusesWrites(t *testing.T) {
	s := openStore(t, t.TempDir())
	write(t, s, persist.Add("a", "claps", 1))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	if _, err := s.Write(context.Background(), persist.Add("a", "claps", 1)); !errors.Is(err, persist.ErrClosed) {
		t.Errorf("write after close: err = %v, want ErrClosed", err)
	}
}

func TestWriteHonoursContext(t *testing.T) {
	s := openStore(t, t.TempDir())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Write(ctx, persist.Add("a", "claps", 1)); !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

// TestReadItemsIsReadItemOfEach: a page read from one snapshot answers each item
// as ReadItem does, unknown items and prefix-sharing ids included.
func TestReadItemsIsReadItemOfEach(t *testing.T) {
	s := openStore(t, t.TempDir())
	write(t, s,
		persist.Add("video:abc", "claps", 3),
		persist.Add("video:abc", "views", 7),
		persist.React("video:abc", "u1", "like"),
		persist.React("video:abc", "u2", "dislike"),
		persist.React("video:abcd", "u1", "dislike"),
	)
	items := []string{"video:abc", "video:none", "video:abcd", "video:abc"}
	for _, user := range []string{"", "u1"} {
		views, err := s.ReadItems(items, user)
		if err != nil {
			t.Fatal(err)
		}
		if len(views) != len(items) {
			t.Fatalf("%d views for %d items", len(views), len(items))
		}
		for i, it := range items {
			want := readItem(t, s, it, user)
			if fmt.Sprint(views[i]) != fmt.Sprint(want) {
				t.Errorf("user %q, %s: ReadItems gave %+v, ReadItem %+v", user, it, views[i], want)
			}
		}
	}
	if v, _ := s.ReadItems(items, "u1"); v[2].User.Kind != "dislike" || v[0].Counters["views"] != 7 {
		t.Errorf("ReadItems = %+v", v)
	}
}
