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
// tallies of the items read or written lately, as committed, so that reads need
// no Badger read. It follows the commit feed: publish applies every committed
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
// update it, so it marks the item's slot (touched); keep refuses an item
// whose slot was marked after the reader's generation, as its snapshot may
// miss that commit. The read is still exact; the item just stays out.
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

	hits, misses, evictions atomic.Uint64
}

const touchedSlots = 4096

// modelItem is one item as held: its counters and tallies by name, each sorted
// by name. The name strings are the name set's own.
type modelItem struct {
	counters []namedValue
	tallies  []namedValue
	used     atomic.Bool // read since the last sweep
}

type namedValue struct {
	name  string
	value int64
}

// Estimated bytes of one held item: map entry and pointer, the item struct,
// its id, and each value.
const (
	modelItemBytes  = 136
	modelValueBytes = 24
)

func newReadModel(budget int64, names *nameSet) *readModel {
	return &readModel{items: map[string]*modelItem{}, budget: max(budget, 0), seed: maphash.MakeSeed(), names: names}
}

func (m *readModel) slot(item string) int {
	return int(maphash.String(m.seed, item) % touchedSlots)
}

func itemBytes(item string, it *modelItem) int64 {
	return int64(modelItemBytes + len(item) + modelValueBytes*(len(it.counters)+len(it.tallies)))
}

// generation returns the count of commits applied so far. A Badger snapshot
// opened after it was read holds all of them.
func (m *readModel) generation() uint64 {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.gen
}

// read fills views[i] for every held item of items and returns the indices of
// those not held, all as of one generation, which it returns too.
func (m *readModel) read(items []string, views []ItemView) (missing []int, gen uint64) {
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
		views[i].Counters = make(map[string]int64, len(it.counters))
		for _, v := range it.counters {
			views[i].Counters[v.name] = v.value
		}
		views[i].Tallies = make(crdt.Tallies, len(it.tallies))
		for _, v := range it.tallies {
			views[i].Tallies[v.name] = v.value
		}
	}
	m.hits.Add(uint64(len(items) - len(missing)))
	m.misses.Add(uint64(len(missing)))
	return missing, m.gen
}

// keep brings in item, read from a Badger snapshot opened after generation gen,
// unless a commit since gen changed an item of its slot that was not held, or
// the item is held already (then by a commit, which is newer).
func (m *readModel) keep(item string, v ItemView, gen uint64) {
	if m.budget == 0 {
		return
	}
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
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.touched[m.slot(item)] > gen || m.items[item] != nil {
		return
	}
	item = strings.Clone(item)
	m.items[item] = it
	m.bytes += itemBytes(item, it)
	if m.bytes > m.budget {
		m.sweep()
	}
}

// sweep drops items not read since the last sweep, and marks the rest unread,
// until the model is under 90% of its budget (the second pass drops what the
// first marked, if it must). It runs with mu held.
func (m *readModel) sweep() {
	target := m.budget / 10 * 9
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

func (m *readModel) drop(item string, it *modelItem) {
	delete(m.items, item)
	m.bytes -= itemBytes(item, it)
	m.evictions.Add(1)
}

// apply brings the model to b, just committed: the new values of its counters
// and tallies on the items held, and a mark on the slots of those not held.
func (m *readModel) apply(b *batch) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.gen++
	for k, c := range b.counters {
		if it := m.items[k.Item]; it != nil {
			m.bytes += set(&it.counters, k.Name, c.Value(), m.names.internCounter)
		} else {
			m.touched[m.slot(k.Item)] = m.gen
		}
	}
	for t, n := range b.tallies {
		if it := m.items[t.item]; it != nil {
			m.bytes += set(&it.tallies, t.kind, n, m.names.internKind)
		} else {
			m.touched[m.slot(t.item)] = m.gen
		}
	}
	if m.bytes > m.budget {
		m.sweep()
	}
}

// set sets name's value in the sorted values vs and returns the bytes added.
func set(vs *[]namedValue, name string, value int64, intern func(string) string) int64 {
	i, found := slices.BinarySearchFunc(*vs, name, func(v namedValue, name string) int {
		return strings.Compare(v.name, name)
	})
	if found {
		(*vs)[i].value = value
		return 0
	}
	*vs = slices.Insert(*vs, i, namedValue{intern(name), value})
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
	// FilterReady is true once the reaction filter is filled and answers.
	FilterReady bool
	// UsersSkipped counts users' reactions the filter answered "none"
	// without a disk read; UsersChecked those it sent to disk.
	UsersSkipped, UsersChecked uint64
}

// ReadModelStats reports the read model's use.
func (s *Store) ReadModelStats() ReadModelStats {
	m := s.model
	m.mu.RLock()
	defer m.mu.RUnlock()
	return ReadModelStats{Items: len(m.items), Bytes: m.bytes, Budget: m.budget,
		Hits: m.hits.Load(), Misses: m.misses.Load(), Evictions: m.evictions.Load(),
		FilterReady: s.filter.ready.Load(), UsersSkipped: s.filter.skipped.Load(), UsersChecked: s.filter.checked.Load()}
}
