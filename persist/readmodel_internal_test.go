package persist

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/countermesh/countermesh/crdt"
	"github.com/countermesh/countermesh/tests/testkit"
)

// TestReadModelRefusesAReadOlderThanACommitItMissed: a reader that missed an
// item and read it from a snapshot may not keep it once a commit since its
// generation changed the item, which the model could not apply as it did not
// hold it: the snapshot may predate that commit.
func TestReadModelRefusesAReadOlderThanACommitItMissed(t *testing.T) {
	m := newClapsModel(1 << 20)
	views := make([]ItemView, 1)
	missing, _, gen := m.read([]string{"a"}, "", views)
	if len(missing) != 1 {
		t.Fatalf("an empty model held a: %v", missing)
	}
	stale := ItemView{Counters: map[string]int64{"claps": 1}}

	var c crdt.PNCounter
	m.apply(clapsBatch(t, &c, "a", 2), nil) // a commit the reader's snapshot may not hold

	m.keep("a", stale, "", gen)
	if missing, _, _ := m.read([]string{"a"}, "", views); len(missing) != 1 {
		t.Fatalf("the model kept a read older than a commit it missed: %+v", views[0])
	}

	// Read afresh, after the commit: kept, and later commits apply to it.
	_, _, gen = m.read([]string{"a"}, "", views)
	m.keep("a", ItemView{Counters: map[string]int64{"claps": 2}}, "", gen)
	b := clapsBatch(t, &c, "a", 5)
	b.tallies[tallyRef{"a", "like"}] = 1
	m.apply(b, nil)
	if missing, _, _ := m.read([]string{"a"}, "", views); len(missing) != 0 || views[0].Counters["claps"] != 7 ||
		views[0].Tallies["like"] != 1 {
		t.Fatalf("after keep and a commit: missing %v, %+v", missing, views[0])
	}
}

// TestReadModelStaysWithinItsBudget: items past the budget are dropped, those
// read since the last sweep last.
func TestReadModelStaysWithinItsBudget(t *testing.T) {
	const budget = 64 << 10
	m := newClapsModel(budget)
	views := make([]ItemView, 1)
	hot := "hot"
	for i := range 5000 {
		item := hot
		if i > 0 {
			item = "item" + string(rune('a'+i%26)) + string(rune('a'+i/26%26)) + string(rune('a'+i/676))
		}
		_, _, gen := m.read([]string{item}, "", views)
		m.keep(item, ItemView{Counters: map[string]int64{"claps": int64(i)}}, "", gen)
		m.read([]string{hot}, "", views) // hot is read all the time
		if m.bytes > budget {
			t.Fatalf("after %d items the model holds %d bytes, over its budget of %d", i+1, m.bytes, budget)
		}
	}
	if m.evictions.Load() == 0 {
		t.Fatal("5000 items fit a 64 KiB budget: the test measures nothing")
	}
	if missing, _, _ := m.read([]string{hot}, "", views); len(missing) != 0 {
		t.Fatal("the item read all the time was dropped")
	}
}

// TestKeyFiltersNeverSayNoToAKeyAdded: "no" is certain; and few keys not
// added get "maybe" — for both filters the store keeps.
func TestKeyFiltersNeverSayNoToAKeyAdded(t *testing.T) {
	t.Run("reactions", func(t *testing.T) {
		checkKeyFilter(t, func(i int) crdt.RegisterKey {
			return crdt.RegisterKey{Item: "item" + string(rune(i%977)), User: "user" + string(rune(i))}
		})
	})
	t.Run("items", func(t *testing.T) {
		checkKeyFilter(t, func(i int) string { return fmt.Sprintf("video:%07d", i) })
	})
}

// checkKeyFilter adds n keys to a filter of about 10 bits a key, then checks
// that every one gets "maybe" and at most 5% of n keys never added do.
func checkKeyFilter[K comparable](t *testing.T, key func(i int) K) {
	f := newKeyFilter[K](64 << 10) // ~ 10 bits a key below
	f.ready.Store(true)
	const n = 50_000
	for i := range n {
		f.add(key(i))
	}
	for i := range n {
		if !f.mayHave(key(i)) {
			t.Fatalf("key %d was added, and the filter says no", i)
		}
	}
	maybe := 0
	for i := n; i < 2*n; i++ {
		if f.mayHave(key(i)) {
			maybe++
		}
	}
	if rate := float64(maybe) / n; rate > 0.05 {
		t.Fatalf("%.1f%% of keys never added get maybe, at ~10 bits a key", 100*rate)
	}
}

// TestReadModelKeepsAUsersReactionOnlyIfNothingNewerCanBeMissing: a user's
// register read from a snapshot is kept only when the item was held from
// before the reader's generation with no entry dropped since, and the model
// has taken every batch sealed before the reader's snapshot; a commit's
// register is always applied to a held item.
func TestReadModelKeepsAUsersReactionOnlyIfNothingNewerCanBeMissing(t *testing.T) {
	names := newNameSet()
	m := newReadModel(1<<20, names)
	views := make([]ItemView, 1)
	_, _, gen := m.read([]string{"a"}, "u", views)
	m.keep("a", ItemView{Counters: map[string]int64{"claps": 1}}, "", gen) // held, knowing no user
	_, unknown, gen := m.read([]string{"a"}, "u", views)
	if len(unknown) != 1 {
		t.Fatalf("a user never read is known: %+v", views[0])
	}
	// A commit sets u's like after the reader's generation; the reader's
	// older answer (none) must not replace it.
	b := newBatch()
	like := crdt.Register{Kind: "like", TS: crdt.Timestamp{Wall: 1}, Replica: 1}
	b.registers[crdt.RegisterKey{Item: "a", User: "u"}] = like
	m.apply(b, nil)
	m.keepUser("a", "u", crdt.Register{}, gen, 0)
	if _, unknown, _ := m.read([]string{"a"}, "u", views); len(unknown) != 0 || views[0].User != like {
		t.Fatalf("after a commit and an older read: unknown %v, %+v", unknown, views[0].User)
	}
	// An item brought in after the reader's generation refuses its answer.
	_, _, old := m.read([]string{"b"}, "v", views)
	m.apply(newBatch(), nil)
	_, _, gen = m.read([]string{"b"}, "", views)
	m.keep("b", ItemView{Counters: map[string]int64{"claps": 1}}, "", gen)
	m.keepUser("b", "v", crdt.Register{}, old, 0)
	if _, unknown, _ := m.read([]string{"b"}, "v", views); len(unknown) != 1 {
		t.Fatal("an answer older than the item's arrival was kept")
	}
	// Past the model's cap, entries are dropped, and an answer read before
	// the drop is refused.
	_, _, gen = m.read([]string{"b"}, "", views)
	for i := 0; m.items["b"].usersDropped <= gen; i++ {
		b := newBatch()
		b.registers[crdt.RegisterKey{Item: "b", User: fmt.Sprint("w", i)}] = like
		m.apply(b, nil)
	}
	if it := m.items["b"]; it.userBytes > m.maxUserBytes || it.userBytes < m.maxUserBytes-userBytes("w99999") {
		t.Fatalf("b's users take %d bytes, want the cap %d, nearly", it.userBytes, m.maxUserBytes)
	}
	m.keepUser("b", "late", crdt.Register{}, gen, 0)
	if _, ok := m.items["b"].users["late"]; ok {
		t.Fatal("an answer read before entries were dropped was kept")
	}
	// A snapshot opened while a sealed batch was not yet taken may hold it:
	// its answer would run ahead of the item's tallies, and is refused until
	// the model has taken that batch, or knows it failed.
	m.sealed.Store(m.gen) // every batch applied above, as if sealed first
	m.sealing()
	_, _, gen = m.read([]string{"a"}, "", views)
	m.keepUser("a", "early", like, gen, m.sealed.Load())
	if _, ok := m.items["a"].users["early"]; ok {
		t.Fatal("an answer from a snapshot ahead of the model was kept")
	}
	m.discard()
	m.keepUser("a", "early", like, gen, m.sealed.Load())
	if got, _ := m.register(crdt.RegisterKey{Item: "a", User: "early"}); got != like {
		t.Fatalf("once the sealed batch failed, the answer is %+v, want it kept", got)
	}
}

// TestReadModelKeepsNoItemNeverWritten: reads of ids that do not exist do not
// take the room of items that do.
func TestReadModelKeepsNoItemNeverWritten(t *testing.T) {
	m := newReadModel(1<<20, newNameSet())
	views := make([]ItemView, 1)
	_, _, gen := m.read([]string{"nothing"}, "", views)
	m.keep("nothing", ItemView{}, "u", gen)
	if len(m.items) != 0 || m.bytes != 0 {
		t.Fatalf("an item never written was kept: %d items, %d bytes", len(m.items), m.bytes)
	}
}

// TestReadModelShedsUsersOfItemsNotReadFirst: past its budget, the model
// sheds the users of the items not read since the last sweep before it drops
// any item; a reader whose snapshot may predate the shedding may not keep a
// user's register on such an item then.
func TestReadModelShedsUsersOfItemsNotReadFirst(t *testing.T) {
	const budget = 64 << 10
	m := newClapsModel(budget)
	views := make([]ItemView, 1)
	reg := crdt.Register{Kind: "like", TS: crdt.Timestamp{Wall: 1}}
	born := func(i int) { // an item written, not read, with 30 users
		item := fmt.Sprint("item", i)
		b := clapsBatch(t, &crdt.PNCounter{}, item, 1)
		for u := range 30 {
			b.registers[crdt.RegisterKey{Item: item, User: fmt.Sprint("user-with-a-longish-id-", u)}] = reg
		}
		m.apply(b, []string{item})
	}
	n := 0
	for ; m.bytes < budget*8/10; n++ {
		born(n)
	}
	_, _, before := m.read([]string{"other"}, "", views) // a reader, before any shedding
	shed := ""
	for ; shed == "" && n < 100; n++ {
		born(n)
		for item, it := range m.items {
			if it.users == nil && it.heldSince <= before {
				shed = item
			}
		}
	}
	if shed == "" {
		t.Fatal("no item shed its users past the budget")
	}
	if m.bytes > budget || len(m.items) != n {
		t.Fatalf("the model holds %d of %d items in %d bytes (budget %d): items dropped before users", len(m.items), n, m.bytes, budget)
	}
	m.keepUser(shed, "user-with-a-longish-id-0", crdt.Register{}, before, m.sealed.Load())
	if _, known := m.register(crdt.RegisterKey{Item: shed, User: "user-with-a-longish-id-0"}); known {
		t.Fatal("a reader older than the shedding kept a register on the item")
	}
}

// clapsBatch adds by to the counter c (replica 1) and returns a batch that
// commits it as item's claps.
func clapsBatch(t *testing.T, c *crdt.PNCounter, item string, by int64) *batch {
	t.Helper()
	if _, err := c.Add(1, by); err != nil {
		t.Fatal(err)
	}
	b := newBatch()
	b.counters[crdt.CounterKey{Item: item, Name: "claps"}] = *c
	return b
}

// TestReadModelKeepsNoRegisterOfAKindPastThoseItIndexes: users' registers are
// held with their kind by index; once the model indexes maxHeldKinds kinds, a
// register of another kind is not kept, and a known user whose register a
// commit turns to such a kind is forgotten, not left with the old one; a
// reader older than that cannot put it back. Registers of kinds indexed
// before read back whole.
func TestReadModelKeepsNoRegisterOfAKindPastThoseItIndexes(t *testing.T) {
	m := newClapsModel(64 << 20)
	gen := holdItem(m, "a")
	like := crdt.Register{Kind: "like", TS: crdt.Timestamp{Wall: 7, Logical: 3}, Replica: 0xfeed}
	m.keepUser("a", "u", like, gen, 0)
	fillKindIndex(t, m, "a", gen)
	if got, known := m.register(crdt.RegisterKey{Item: "a", User: "u"}); !known || got != like {
		t.Fatalf("u's register reads back as %+v (known %v), want %+v", got, known, like)
	}

	odd := crdt.Register{Kind: "one-kind-too-many", TS: crdt.Timestamp{Wall: 8}, Replica: 1}
	m.keepUser("a", "v", odd, gen, 0)
	if _, known := m.register(crdt.RegisterKey{Item: "a", User: "v"}); known {
		t.Fatal("a register of a kind past the index was kept")
	}
	b := newBatch()
	b.registers[crdt.RegisterKey{Item: "a", User: "u"}] = odd
	m.apply(b, nil)
	if got, known := m.register(crdt.RegisterKey{Item: "a", User: "u"}); known {
		t.Fatalf("after a commit of a kind past the index, u's register reads as %+v, want it unknown", got)
	}
	m.keepUser("a", "u", like, gen, 0) // a reader older than that commit
	if got, known := m.register(crdt.RegisterKey{Item: "a", User: "u"}); known {
		t.Fatalf("a reader older than the commit put back %+v", got)
	}
}

// TestReadModelKeepsNoOlderRegisterOfAUserACommitLeftUnknown: a commit that
// writes a register the model cannot hold, for a user the item does not
// know, leaves no entry; a reader older than it must still not keep what its
// snapshot held of the user.
func TestReadModelKeepsNoOlderRegisterOfAUserACommitLeftUnknown(t *testing.T) {
	m := newClapsModel(64 << 20)
	fillKindIndex(t, m, "a", holdItem(m, "a"))
	_, unknown, gen := m.read([]string{"a"}, "u", make([]ItemView, 1))
	if len(unknown) != 1 {
		t.Fatalf("u is known to the item: %v", unknown)
	}
	sealed := m.sealed.Load()
	old := crdt.Register{Kind: "kind5", TS: crdt.Timestamp{Wall: 7}, Replica: 1}
	m.sealing()
	b := newBatch()
	b.registers[crdt.RegisterKey{Item: "a", User: "u"}] = crdt.Register{Kind: "one-kind-too-many", TS: crdt.Timestamp{Wall: 8}, Replica: 1}
	m.apply(b, nil)
	m.keepUser("a", "u", old, gen, sealed) // what the reader's older snapshot held
	if got, known := m.register(crdt.RegisterKey{Item: "a", User: "u"}); known {
		t.Fatalf("a reader older than the commit kept %+v", got)
	}
}

// TestAPopularItemKeepsUsersInProportionToTheBudget: an item keeps the
// reactions of up to a share of the model's budget's users, not a fixed few
// thousand — the popular items of a like service have tens of thousands of
// reacting users, and every one the item forgets is a disk read for its
// reader — and never fewer than the minimum under a small budget.
func TestAPopularItemKeepsUsersInProportionToTheBudget(t *testing.T) {
	if got := newClapsModel(1 << 20).maxUserBytes; got != minUsersPerItem*modelUserBytes {
		t.Fatalf("a 1 MiB model keeps %d bytes of users an item, want the minimum %d", got, minUsersPerItem*modelUserBytes)
	}
	const budget = 64 << 20
	m := newClapsModel(budget)
	if want := int64(budget / itemUsersShare); m.maxUserBytes != want {
		t.Fatalf("a 64 MiB model keeps %d bytes of users an item, want %d", m.maxUserBytes, want)
	}
	holdItem(m, "popular")
	users := 3 * minUsersPerItem
	like := crdt.Register{Kind: "like", TS: crdt.Timestamp{Wall: 1}, Replica: 1}
	for i := range users {
		b := newBatch()
		b.registers[crdt.RegisterKey{Item: "popular", User: fmt.Sprint("u", i)}] = like
		m.apply(b, nil)
	}
	views := make([]ItemView, 1)
	for i := range users {
		_, unknown, _ := m.read([]string{"popular"}, fmt.Sprint("u", i), views)
		if len(unknown) != 0 || views[0].User != like {
			t.Fatalf("user %d of %d: unknown %v, %+v", i, users, unknown, views[0].User)
		}
	}
	if m.bytes > budget {
		t.Fatalf("the model holds %d bytes over its budget of %d", m.bytes, budget)
	}
	// The cap is in bytes: users of long ids are fewer, in the same room.
	small := newClapsModel(1 << 20)
	holdItem(small, "popular")
	long := strings.Repeat("x", 200)
	for i := range 3000 {
		b := newBatch()
		b.registers[crdt.RegisterKey{Item: "popular", User: fmt.Sprint(long, i)}] = like
		small.apply(b, nil)
	}
	it := small.items["popular"]
	if it.userBytes > small.maxUserBytes || small.maxUserBytes-it.userBytes >= userBytes(long+"9999") ||
		int64(len(it.users)) > small.maxUserBytes/userBytes(long) {
		t.Fatalf("an item of long user ids holds %d users in %d bytes, want at most %d users filling %d",
			len(it.users), it.userBytes, small.maxUserBytes/userBytes(long), small.maxUserBytes)
	}
}

// TestReadModelCountsTheBytesItHolds: through commits of users' registers,
// readers' answers kept, items brought in, users evicted at an item's cap,
// users shed and items dropped by sweeps, the model's count of its bytes
// stays what its items hold, counted afresh.
func TestReadModelCountsTheBytesItHolds(t *testing.T) {
	const budget = 16 << 10
	m := newClapsModel(budget)
	m.maxUserBytes = 8 * userBytes("user-00")
	rng := rand.New(rand.NewPCG(3, 4))
	like := crdt.Register{Kind: "like", TS: crdt.Timestamp{Wall: 1}, Replica: 1}
	views := make([]ItemView, 1)
	for step := range 5000 {
		item, user := fmt.Sprint("item-", rng.IntN(30)), fmt.Sprint("user-", rng.IntN(40))
		switch rng.IntN(4) {
		case 0: // a commit, bringing the item in when it is new
			b := newBatch()
			b.registers[crdt.RegisterKey{Item: item, User: user}] = like
			b.counters[crdt.CounterKey{Item: item, Name: "claps"}] = crdt.PNCounter{}
			m.apply(b, []string{item})
		case 1: // a reader brings the item in, with its user
			_, _, gen := m.read([]string{item}, "", views)
			m.keep(item, ItemView{Counters: map[string]int64{"claps": 1}}, user, gen)
		case 2: // a reader's answer of one user
			_, _, gen := m.read([]string{item}, user, views)
			m.keepUser(item, user, crdt.Register{}, gen, m.sealed.Load())
		case 3: // a read, marking the item used
			m.read([]string{item}, user, views)
		}
		var want int64
		for id, it := range m.items {
			var users int64
			for u := range it.users {
				users += int64(modelUserBytes + len(u))
			}
			if it.userBytes != users {
				t.Fatalf("step %d: %s counts %d bytes of users, holds %d", step, id, it.userBytes, users)
			}
			want += int64(modelItemBytes+len(id)+modelValueBytes*(len(it.counters)+len(it.tallies))) + users
		}
		if m.bytes != want {
			t.Fatalf("step %d: the model counts %d bytes, its items hold %d", step, m.bytes, want)
		}
	}
	if m.evictions.Load() == 0 {
		t.Fatal("no item was dropped: the test did not reach a sweep")
	}
}

// newClapsModel returns a read model of budget bytes over a name set that
// knows the counter claps.
func newClapsModel(budget int64) *readModel {
	names := newNameSet()
	names.addCounter("claps")
	return newReadModel(budget, names)
}

// holdItem brings item, with one clap, into m as a reader would, and returns
// that reader's generation.
func holdItem(m *readModel, item string) (gen uint64) {
	_, _, gen = m.read([]string{item}, "", make([]ItemView, 1))
	m.keep(item, ItemView{Counters: map[string]int64{"claps": 1}}, "", gen)
	return gen
}

// fillKindIndex keeps registers of new kinds on the held item, for users of
// their own, read at gen, until m indexes all the kinds it may.
func fillKindIndex(t *testing.T, m *readModel, item string, gen uint64) {
	t.Helper()
	for i := len(m.kinds); i < maxHeldKinds; i++ {
		m.keepUser(item, fmt.Sprint("filler", i), crdt.Register{Kind: fmt.Sprint("kind", i)}, gen, 0)
	}
	if len(m.kinds) != maxHeldKinds {
		t.Fatalf("the model indexes %d kinds, want %d", len(m.kinds), maxHeldKinds)
	}
}

// TestAReaderNeverMakesTheModelShowAStateOfNoCommit: the applier hands the
// next batch to the committer before the model takes the durable one, so a
// Badger snapshot may hold two batches the model has not taken. A reader
// that brought an item in from such a snapshot would have the model take the
// first batch over what it read of the second, and show tallies no commit
// left (here three reactions of two users). It may not keep the item then.
func TestAReaderNeverMakesTheModelShowAStateOfNoCommit(t *testing.T) {
	ctx := context.Background()
	opts := writtenAndClosed(t, SmallOptions(t.TempDir()), React("i", "u", "wow"))

	hold := make(chan struct{}) // lets the first commit finish
	var commits atomic.Int64
	opts.CommitFault = func(int) error {
		if commits.Add(1) == 1 {
			<-hold
		}
		return nil
	}
	s := reopened(t, opts) // an empty model: i is not held
	finishFirst := sync.OnceFunc(func() { close(hold) })
	s.publishing.Lock() // stands in for an applier slow to publish the first batch
	publish := sync.OnceFunc(s.publishing.Unlock)

	sumOf := func(v ItemView) int64 { return v.Tallies["wow"] + v.Tallies["clap"] }
	var seen []ItemView // what a reader read as each commit was told
	stop := s.Follow(func(Commit) {
		v, err := s.ReadItem("i", "")
		if err != nil {
			t.Error(err)
		}
		seen = append(seen, v)
	})
	defer stop()
	defer func() { finishFirst(); publish() }() // also when the test fails: stop and Close wait for them
	first, second := make(chan error, 1), make(chan error, 1)
	go func() { _, err := s.Write(ctx, React("i", "v", "wow")); first <- err }() // wow 2
	testkit.WaitFor(t, 10*time.Second, "the first batch's commit", func() bool { return commits.Load() == 1 })
	go func() { _, err := s.Write(ctx, React("i", "u", "clap")); second <- err }() // wow 1, clap 1
	testkit.WaitFor(t, 10*time.Second, "the second write decided", func() bool { return s.DecidedKind("clap") })
	finishFirst()
	testkit.WaitFor(t, 10*time.Second, "the second batch durable", func() bool {
		r, err := s.Register("i", "u")
		return err == nil && r.Kind == "clap"
	})
	// The model has taken neither batch; Badger holds both.
	if v, err := s.ReadItem("i", ""); err != nil || sumOf(v) != 2 {
		t.Fatalf("read before the first batch was published: %v, %v", v.Tallies, err)
	}
	publish()
	for _, c := range []chan error{first, second} {
		if err := <-c; err != nil {
			t.Fatal(err)
		}
	}
	stop()
	if len(seen) != 2 {
		t.Fatalf("%d commits told, want 2", len(seen))
	}
	for i, v := range seen {
		if sumOf(v) != 2 {
			t.Errorf("read as commit %d was told: %v, tallies of no commit (two users)", i+1, v.Tallies)
		}
	}
	if v, err := s.ReadItem("i", ""); err != nil || v.Tallies["wow"] != 1 || v.Tallies["clap"] != 1 {
		t.Errorf("after both commits: %v, %v", v.Tallies, err)
	}
}

// TestAReaderNeverBringsBackAnItemOlderThanACommitAppliedWhileItWasHeld: a
// reader R1 misses item x and reads it from a snapshot. Before R1 keeps it,
// another reader brings x in, a commit C changes x while it is held (so no
// slot is marked for C), and the sweep C's apply runs drops x. Dropping x
// marks its slot, so R1 may not bring x back as it was before C, though C
// was published. Found in review; the model had this hole since it was
// built. R1's steps are ReadItemsInto's, taken one by one so their order is
// fixed. Without the committed cache the applier decides on the model's
// tallies, so a stale item would also be written back to disk wrong.
func TestAReaderNeverBringsBackAnItemOlderThanACommitAppliedWhileItWasHeld(t *testing.T) {
	ctx := context.Background()
	opts := SmallOptions(t.TempDir())
	opts.CacheKeys = -1                                                 // no committed cache: the applier decides on the model
	opts.ReadModelBytes = 190                                           // x with one tally fits; x with one held user more does not
	s := reopened(t, writtenAndClosed(t, opts, React("x", "u", "wow"))) // x not held

	// R1: ReadItemsInto(["x"], "") up to its deferred keepAll.
	views := make([]ItemView, 1)
	views[0].reset()
	missing, _, gen, _ := s.model.readAt([]string{"x"}, "", views)
	if len(missing) != 1 || !s.items.mayHave("x") {
		t.Fatalf("x held or ruled out: %v", missing)
	}
	var sealed uint64
	if err := s.view(func(txn *badger.Txn) error {
		sealed = s.model.sealed.Load()
		return s.readItem(txn, "x", &views[0])
	}); err != nil {
		t.Fatal(err)
	}
	if views[0].Tallies["wow"] != 1 {
		t.Fatalf("R1 read %v, want wow 1", views[0].Tallies)
	}

	// R2 brings x in; C changes it while held, and its apply's sweep drops it.
	if v, err := s.ReadItem("x", ""); err != nil || v.Tallies["wow"] != 1 {
		t.Fatalf("R2 read %v, %v", v.Tallies, err)
	}
	if _, err := s.Write(ctx, React("x", "v", "wow")); err != nil { // C: wow 2
		t.Fatal(err)
	}
	if st := s.ReadModelStats(); st.Items != 0 || st.Evictions != 1 {
		t.Fatalf("x not dropped by C's sweep: %+v", st)
	}

	s.model.keepAll([]kept{{item: "x", view: &views[0]}}, gen, sealed) // R1 returns
	if v, err := s.ReadItem("x", ""); err != nil || v.Tallies["wow"] != 2 {
		t.Errorf("read after C's Write returned: %v, %v; want wow 2", v.Tallies, err)
	}
	if _, err := s.Write(ctx, React("x", "w", "wow")); err != nil {
		t.Fatal(err)
	}
	if err := s.CheckTallies(); err != nil {
		t.Errorf("on disk: %v", err)
	}
}

// TestAReaderOfAnItemNotHeldAsksTheSnapshotForTheUserWhenTheFilterLags: a
// reader misses x and reads it from a snapshot that holds a commit not
// published yet (u's first reaction to x). The reaction filter learns the
// commit's register only when it is published, so the reader may not take
// its "no" for u: the view would show the commit's tallies with u's register
// from before it. Found in review.
func TestAReaderOfAnItemNotHeldAsksTheSnapshotForTheUserWhenTheFilterLags(t *testing.T) {
	s, publish, done := uReactsUnpublished(t)
	defer publish()
	readAsUThenPublish(t, s, publish, done)
}

// writtenAndClosed opens a store with opts, its logger discarding, writes op
// and closes it; it returns the options to open it again with.
func writtenAndClosed(t *testing.T, opts Options, op Op) Options {
	t.Helper()
	opts.Logger = slog.New(slog.DiscardHandler)
	s, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Write(context.Background(), op); err != nil {
		t.Fatal(err)
	}
	return opts
}

// reopened opens the store of opts again, with an empty read model, closed
// when the test ends.
func reopened(t *testing.T, opts Options) *Store {
	t.Helper()
	s, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestAReaderKeepsNoItemAheadOfTheReactionFilter: a reader brings x in from
// a snapshot holding u's reaction, committed but not published. The
// reaction filter learns u's register only when it is published, and a held
// item's readers ask the filter first: had x been kept, a reader as u would
// be told "no reaction" beside tallies counting u's. Found in review.
func TestAReaderKeepsNoItemAheadOfTheReactionFilter(t *testing.T) {
	s, publish, done := uReactsUnpublished(t)
	defer publish()
	if _, err := s.ReadItem("x", "v"); err != nil { // brings x in from a snapshot with u's unpublished commit
		t.Fatal(err)
	}
	readAsUThenPublish(t, s, publish, done) // x held; the filter knows nothing of u
}

// uReactsUnpublished opens a store holding v's "wow" on x, with an empty
// read model and its filters filled, then writes u's "wow" on x and holds
// its publication — as an applier slow to publish would — until publish is
// called; done receives the write's outcome. Badger then holds u's reaction,
// and the model and the filters do not.
func uReactsUnpublished(t *testing.T) (s *Store, publish func(), done <-chan error) {
	t.Helper()
	s = reopened(t, writtenAndClosed(t, SmallOptions(t.TempDir()), React("x", "v", "wow")))
	testkit.WaitFor(t, 10*time.Second, "the filters filled", func() bool { return s.ReadModelStats().FilterReady })
	s.publishing.Lock()
	publish = sync.OnceFunc(s.publishing.Unlock)
	written := make(chan error, 1)
	go func() { _, err := s.Write(context.Background(), React("x", "u", "wow")); written <- err }()
	testkit.WaitFor(t, 10*time.Second, "u's reaction durable", func() bool {
		r, err := s.Register("x", "u")
		return err == nil && r.Kind == "wow"
	})
	return s, publish, written
}

// readAsUThenPublish reads x as u, lets u's reaction be published, and fails
// the test unless the read showed u's reaction both in the tallies and in
// u's register, or in neither.
func readAsUThenPublish(t *testing.T, s *Store, publish func(), done <-chan error) {
	t.Helper()
	v, err := s.ReadItem("x", "u")
	publish()
	if err != nil {
		t.Fatal(err)
	}
	if werr := <-done; werr != nil {
		t.Fatal(werr)
	}
	if (v.Tallies["wow"] == 2) != (v.User.Kind == "wow") {
		t.Errorf("read x as u: tallies %v with u's register %q, of two commits", v.Tallies, v.User.Kind)
	}
}
