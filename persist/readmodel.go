package persist

import (
	"hash/maphash"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/countermesh/countermesh/crdt"
)

// readModel is the in-memory read model of DESIGN.md §5: the counter values and
// tallies of the items read or written lately, as committed, and some users'
// reactions to them, so that reads need no Badger read. It follows the commit feed: publish applies every committed
// batch to it (apply) before the batch's callers are released, so a read
// reflects every commit published before it.
//
// It holds at most about budget bytes. Past it, the items not used since the
// last sweep are dropped; a read of an item not held falls back to Badger and
// brings the item in (load, then keep).
//
// Exactness of bringing an item in: a reader notes the model's generation
// before it opens its Badger snapshot, which therefore holds every commit up
// to that generation. A later commit that changes an item not held cannot
// update it, so it marks the item's slot (touched), and so does dropping an
// item, which a commit may have changed while it was held; keep refuses an
// item whose slot was marked after the reader's generation, as its snapshot
// may miss that commit. Nothing is kept from a snapshot that may hold a batch
// the model has not taken yet, which the filters do not know either
// (keepAll). The read is still exact; the item just stays out.
//
// Users' reactions: a held item knows the registers of some users exactly —
// every register a commit wrote while it was held, and those read with it or
// after it was brought in (keepUserLocked), in at most maxUserBytes; a sweep
// sheds the users of items not read before it drops items. A user not
// known is read from Badger (or ruled out by the reaction filter) and then
// known, under the same rule: a reader's answer is kept only if the item was
// held since before the reader's generation and no entry was dropped since,
// so every commit after that generation that touched the user's register is
// already there, and newer; and only if the model has taken every batch
// sealed before the reader's snapshot opened, so the answer is not newer than
// the item's counters and tallies beside it.
type readModel struct {
	mu     sync.RWMutex
	items  map[string]*modelItem
	bytes  int64  // estimated size of what items holds
	budget int64  // at most this many bytes; 0 holds nothing
	gen    uint64 // commits applied
	// touched[slot(item)] is the generation of the last commit that changed
	// an item not held in that slot.
	touched [touchedSlots]uint64
	seed    maphash.Seed
	names   *nameSet // interns counter names and kinds
	// kinds are the reaction kinds of held users' registers, by the index a
	// heldReaction holds (kindIndex); kinds[0] is crdt.None.
	kinds     []string
	kindIndex map[string]uint32
	// maxUserBytes is the most one item's users may take: userBytesPerItem.
	maxUserBytes int64
	// reactions, when set, is the store's reaction filter: read asks it
	// before a held item's users, as most readers never reacted. Publish adds
	// a commit's registers to it before apply takes the commit, so a register
	// the model holds is always in it.
	reactions *keyFilter[crdt.RegisterKey]

	// sealed counts the batches handed to Badger, counted before each is
	// written; failed those of them that failed, under mu. A reader that
	// reads sealed after its snapshot opened knows that the snapshot holds
	// no commit the model has not taken once gen+failed reaches it.
	sealed atomic.Uint64
	failed uint64

	hits, misses, evictions atomic.Uint64
}

const touchedSlots = 4096

// modelItem is one item as held: its counters and tallies by name, each sorted
// by name. The name strings are the name set's own.
type modelItem struct {
	counters []namedValue
	tallies  []namedValue
	users    map[string]heldReaction // users' registers known exactly; nil when none
	// userBytes is the estimated size of users, kept as they come and go:
	// an item may hold a great many, and dropping it must not walk them
	// under the lock.
	userBytes int64
	// heldSince is the generation the item was brought in at; usersDropped
	// the last generation users lost an entry for room.
	heldSince, usersDropped uint64
	used                    atomic.Bool // read since the last sweep
}

// One item's users' reactions take at most userBytesPerItem(budget): a 32nd
// of the model's budget, and never less than minUsersPerItem users of short
// ids take. Bytes, not users: an item of long user ids gets fewer. The items
// read most are the ones most users react to, and a user the item does not
// know costs a disk read. A fixed cap of 4,096 held the popular items of the
// benchmark's Zipf workload to a fraction of their reacting users: readers of
// the 15 most read items went to Badger about 80,000 times in 10 s of reads
// after the write scenarios, against 373 times with the budget's share. The
// budget still bounds the whole model, users included: a sweep sheds the
// users of items not read since the last one first.
const (
	minUsersPerItem = 4096
	itemUsersShare  = 32
)

// userBytesPerItem is the most one item's users' reactions take, as
// estimated (userBytes), in a model of budget bytes.
func userBytesPerItem(budget int64) int64 {
	return max(minUsersPerItem*modelUserBytes, budget/itemUsersShare)
}

type namedValue struct {
	name  string
	value int64
}

// Estimated bytes of one held item: map entry and pointer, the item struct,
// its id, and each value.
const (
	modelItemBytes  = 152
	modelValueBytes = 24
	modelUserBytes  = 72 // map entry, string header and held reaction, plus the user id
)

func newReadModel(budget int64, names *nameSet) *readModel {
	return &readModel{items: map[string]*modelItem{}, budget: max(budget, 0), seed: maphash.MakeSeed(), names: names,
		kinds: []string{crdt.None}, kindIndex: map[string]uint32{crdt.None: 0},
		maxUserBytes: userBytesPerItem(budget)}
}

func (m *readModel) slot(item string) int {
	return int(maphash.String(m.seed, item) % touchedSlots)
}

func itemBytes(item string, it *modelItem) int64 {
	return int64(modelItemBytes+len(item)+modelValueBytes*(len(it.counters)+len(it.tallies))) + it.userBytes
}

// userBytes is the estimated size of user's entry in an item's users.
func userBytes(user string) int64 { return int64(modelUserBytes + len(user)) }

// readAt fills views[i] (empty, maps made) for every held item of items, with user's register when
// user is not empty and known or ruled out by the reaction filter, all as of
// one generation, which it returns. It returns the indices of the items not
// held (missing) and of those held whose user may have a register it does not
// know (unknown).
//
// It also returns taken, the count of sealed batches the model had taken
// (applied, or seen fail) at that generation: a Badger snapshot that opened
// when no more than taken batches were sealed holds exactly what the model
// showed.
func (m *readModel) readAt(items []string, user string, views []ItemView) (missing, unknown []int, gen, taken uint64) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	for i, item := range items {
		it := m.items[item]
		if it == nil {
			missing = append(missing, i)
			continue
		}
		if !it.used.Load() {
			it.used.Store(true)
		}
		if user != "" && !m.ruledOut(item, user) {
			if h, ok := it.users[user]; ok {
				views[i].User = m.registerOf(h)
			} else {
				unknown = append(unknown, i)
			}
		}
		for _, v := range it.counters {
			views[i].Counters[v.name] = v.value
		}
		for _, v := range it.tallies {
			views[i].Tallies[v.name] = v.value
		}
	}
	m.hits.Add(uint64(len(items) - len(missing)))
	m.misses.Add(uint64(len(missing)))
	return missing, unknown, m.gen, m.taken()
}

// taken is the count of sealed batches the model has applied or seen fail.
// It runs with mu held.
func (m *readModel) taken() uint64 { return m.gen + m.failed }

// ruledOut reports whether the reaction filter says user has no register on
// item, counting a "no" for ReadModelStats; a "maybe" is counted by the reader
// that goes to disk for it. It is asked under the lock: a commit adds its
// registers to the filter before it takes the lock to apply them, so a "no"
// agrees with the counters and tallies read with it.
func (m *readModel) ruledOut(item, user string) bool {
	if m.reactions == nil || m.reactions.test(crdt.RegisterKey{Item: item, User: user}) {
		return false
	}
	m.reactions.skipped.Add(1)
	return true
}

// kept is what a reader read from Badger (or ruled out by the reaction
// filter) for the model to keep: a whole item (view set), or one user's
// register on it.
type kept struct {
	item string
	view *ItemView // the item's counters and tallies, and User when user is set
	user string
	reg  crdt.Register // user's register, when view is nil
}

// keepAll keeps what one reader read from a Badger snapshot opened after
// generation gen, under one lock (see keepLocked and keepUserLocked). sealed
// is the count of sealed batches the reader read once its snapshot was open;
// past the batches the model has taken, it keeps nothing. Such a snapshot may
// hold a batch not published: the reaction filter does not know its
// registers yet, and a later reader of a user it wrote would be told "no
// reaction" beside tallies counting it (or a register would run ahead of the
// tallies held beside it). And the applier hands the next batch to the
// committer before the model takes the one before, so it may hold two:
// taking the first would set its values over what was read of the second, a
// state no commit left. What it read is brought in by a later read.
func (m *readModel) keepAll(ks []kept, gen, sealed uint64) {
	if m.budget == 0 || len(ks) == 0 {
		return
	}
	items := make([]*modelItem, len(ks))
	for i, k := range ks {
		if k.view != nil {
			items[i] = m.newItem(*k.view)
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if sealed > m.taken() {
		return
	}
	for i, k := range ks {
		if k.view != nil {
			m.keepLocked(k.item, items[i], k.view.User, k.user, gen)
		} else {
			m.keepUserLocked(k.item, k.user, k.reg, gen)
		}
	}
	if m.bytes > m.budget {
		m.sweep()
	}
}

// newItem builds an item to hold from what a reader read of it.
func (m *readModel) newItem(v ItemView) *modelItem {
	it := &modelItem{}
	for name, n := range v.Counters {
		it.counters = append(it.counters, namedValue{m.names.internCounter(name), n})
	}
	for kind, n := range v.Tallies {
		it.tallies = append(it.tallies, namedValue{m.names.internKind(kind), n})
	}
	byName := func(a, b namedValue) int { return strings.Compare(a.name, b.name) }
	slices.SortFunc(it.counters, byName)
	slices.SortFunc(it.tallies, byName)
	// Not marked used: an item read once goes before one read again.
	return it
}

// keepLocked brings in item, built from what a reader read of it from a
// Badger snapshot opened after generation gen — with user's register r, when
// user is not empty — unless a commit since gen changed an item of its slot
// that was not held, or the item is held already (then by a commit, which is
// newer). keepAll has made sure the snapshot holds no batch the model has not
// taken. It runs with mu held.
func (m *readModel) keepLocked(item string, it *modelItem, r crdt.Register, user string, gen uint64) {
	if m.touched[m.slot(item)] > gen || m.items[item] != nil {
		return
	}
	if len(it.counters) == 0 && len(it.tallies) == 0 {
		// Never written: reading ids that do not exist must not push out
		// those that do.
		return
	}
	item = strings.Clone(item)
	it.heldSince = m.gen
	if user != "" {
		if h, ok := m.hold(r); ok {
			it.users = map[string]heldReaction{strings.Clone(user): h}
			it.userBytes = userBytes(user)
		}
	}
	m.items[item] = it
	m.bytes += itemBytes(item, it)
}

// keepUserLocked records r as user's register on item, read from a Badger
// snapshot opened after generation gen (or ruled out by the reaction filter
// after it), if the item was held since before gen with no entry dropped
// since. keepAll has made sure the snapshot holds no batch the model has not
// taken, whose register would run ahead of the item's counters and tallies.
// It runs with mu held.
func (m *readModel) keepUserLocked(item, user string, r crdt.Register, gen uint64) {
	it := m.items[item]
	if it == nil || it.heldSince > gen || it.usersDropped > gen {
		return
	}
	if _, ok := it.users[user]; ok {
		return // written by a commit since: newer
	}
	m.setUser(it, user, r)
}

// setUser sets user's register on the held item it, making room among its
// users if need be; the caller sweeps if the model is then over budget. A
// register the model cannot hold (a kind past maxHeldKinds) leaves the user
// unknown, and marks the item's users dropped. A user new to the item is
// kept under a copy of user, which may share a request's memory. It runs with
// mu held.
func (m *readModel) setUser(it *modelItem, user string, r crdt.Register) {
	_, known := it.users[user]
	h, ok := m.hold(r)
	if !ok {
		if known {
			m.forgetUser(it, user)
		}
		// Known or not, a reader older than this commit must not keep
		// what it read of the user: the commit left no entry to tell it
		// the register changed.
		it.usersDropped = m.gen
		return
	}
	if it.users == nil {
		it.users = map[string]heldReaction{}
	}
	if !known {
		user = strings.Clone(user)
		if it.userBytes+userBytes(user) > m.maxUserBytes {
			for other := range it.users { // map order: random entries
				m.forgetUser(it, other)
				it.usersDropped = m.gen
				if it.userBytes+userBytes(user) <= m.maxUserBytes {
					break
				}
			}
		}
		m.bytes += userBytes(user)
		it.userBytes += userBytes(user)
	}
	it.users[user] = h
}

// forgetUser removes user from the held item it's users, with the bytes its
// entry took. It runs with mu held.
func (m *readModel) forgetUser(it *modelItem, user string) {
	delete(it.users, user)
	m.bytes -= userBytes(user)
	it.userBytes -= userBytes(user)
}

// sweep brings the model under 90% of its budget. It first sheds the users
// of items not read since the last sweep (items written, not read, learn
// every user a commit writes; an item costs less than its users, and a
// reader of an item not held costs more than one of a user not known). Then
// it drops items not read since the last sweep, and marks the rest unread
// (the second pass drops what the first marked, if it must). It runs with mu
// held.
func (m *readModel) sweep() {
	target := m.budget / 10 * 9
	for _, it := range m.items {
		if m.bytes <= target {
			return
		}
		if !it.used.Load() && len(it.users) > 0 {
			m.bytes -= it.userBytes
			it.users, it.userBytes, it.usersDropped = nil, 0, m.gen
		}
	}
	for pass := 0; pass < 2 && m.bytes > target; pass++ {
		for item, it := range m.items {
			if m.bytes <= target {
				return
			}
			if it.used.Load() {
				it.used.Store(false)
				continue
			}
			m.drop(item, it)
		}
	}
}

// drop takes item out of the model, and marks its slot (touched) as a commit
// to an item not held does: a reader that read the item from a snapshot older
// than a commit the model applied to it while it was held must not bring it
// back. It runs with mu held.
func (m *readModel) drop(item string, it *modelItem) {
	delete(m.items, item)
	m.bytes -= itemBytes(item, it)
	m.evictions.Add(1)
	m.touched[m.slot(item)] = m.gen
}

// apply brings the model to b, just committed: the new values of its counters
// and tallies on the items held, and a mark on the slots of those not held.
// The items born in b (no counter and no tally before it) are taken in whole,
// as b leaves them: a like service reads the items just written, and none of
// them needs a disk read before it is swept out unread.
func (m *readModel) apply(b *batch, born []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.gen++
	if m.budget > 0 {
		for _, item := range born {
			if m.items[item] == nil {
				it := &modelItem{heldSince: m.gen}
				item = strings.Clone(item)
				m.items[item] = it
				m.bytes += itemBytes(item, it)
			}
		}
	}
	for k, c := range b.counters {
		if it := m.items[k.Item]; it != nil {
			m.bytes += set(&it.counters, k.Name, c.Value(), m.names.internCounter)
		} else {
			m.touched[m.slot(k.Item)] = m.gen
		}
	}
	for t, n := range b.tallies {
		if it := m.items[t.item]; it != nil {
			if n == 0 {
				m.bytes -= unset(&it.tallies, t.kind) // as Badger deletes it
			} else {
				m.bytes += set(&it.tallies, t.kind, n, m.names.internKind)
			}
		} else {
			m.touched[m.slot(t.item)] = m.gen
		}
	}
	for k, r := range b.registers {
		if it := m.items[k.Item]; it != nil {
			m.setUser(it, k.User, r)
		} else {
			m.touched[m.slot(k.Item)] = m.gen
		}
	}
	if m.bytes > m.budget {
		m.sweep()
	}
}

// register returns k's register if the model knows it: the item is held and
// knows the user. The applier asks, on the goroutine that publishes.
func (m *readModel) register(k crdt.RegisterKey) (crdt.Register, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	it := m.items[k.Item]
	if it == nil {
		return crdt.Register{}, false
	}
	h, ok := it.users[k.User]
	if !ok {
		return crdt.Register{}, false
	}
	return m.registerOf(h), true
}

// tally returns t's value if the model holds its item, which knows every
// tally of it (zero when none).
func (m *readModel) tally(t tallyRef) (int64, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	it := m.items[t.item]
	if it == nil {
		return 0, false
	}
	if i, found := findName(it.tallies, t.kind); found {
		return it.tallies[i].value, true
	}
	return 0, true
}

// sealing counts a batch about to be handed to Badger.
func (m *readModel) sealing() { m.sealed.Add(1) }

// discard counts a sealed batch that failed: the model will never take it.
func (m *readModel) discard() {
	m.mu.Lock()
	m.failed++
	m.mu.Unlock()
}

// findName returns where name is, or would be, in the values vs sorted by name.
func findName(vs []namedValue, name string) (int, bool) {
	return slices.BinarySearchFunc(vs, name, func(v namedValue, name string) int {
		return strings.Compare(v.name, name)
	})
}

// set sets name's value in the sorted values vs and returns the bytes added.
func set(vs *[]namedValue, name string, value int64, intern func(string) string) int64 {
	i, found := findName(*vs, name)
	if found {
		(*vs)[i].value = value
		return 0
	}
	*vs = slices.Insert(*vs, i, namedValue{intern(name), value})
	return modelValueBytes
}

// unset removes name from the sorted values vs and returns the bytes removed.
func unset(vs *[]namedValue, name string) int64 {
	i, found := findName(*vs, name)
	if !found {
		return 0
	}
	*vs = slices.Delete(*vs, i, i+1)
	return modelValueBytes
}

// ReadModelStats reports the read model's use: what it holds and how reads
// found it.
type ReadModelStats struct {
	// Items and Bytes are what the model holds now, Bytes as estimated.
	Items int
	Bytes int64
	// Budget is the most bytes it may hold.
	Budget int64
	// Hits and Misses count items read from memory and from Badger.
	Hits, Misses uint64
	// Evictions counts items dropped to stay within the budget.
	Evictions uint64
	// FilterReady is true once the reaction filter and the item filter are
	// filled and answer.
	FilterReady bool
	// UsersSkipped counts users' reactions the reaction filter answered
	// "none" without a disk read; UsersChecked those it sent to disk.
	UsersSkipped, UsersChecked uint64
	// ItemsSkipped counts items not held that the item filter answered
	// "never written" without a disk read; ItemsChecked those it sent to disk.
	ItemsSkipped, ItemsChecked uint64
}

// ReadModelStats reports the read model's use.
func (s *Store) ReadModelStats() ReadModelStats {
	m := s.model
	m.mu.RLock()
	defer m.mu.RUnlock()
	return ReadModelStats{Items: len(m.items), Bytes: m.bytes, Budget: m.budget,
		Hits: m.hits.Load(), Misses: m.misses.Load(), Evictions: m.evictions.Load(),
		FilterReady:  s.reactions.ready.Load() && s.items.ready.Load(),
		UsersSkipped: s.reactions.skipped.Load(), UsersChecked: s.reactions.checked.Load(),
		ItemsSkipped: s.items.skipped.Load(), ItemsChecked: s.items.checked.Load()}
}
