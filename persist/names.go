package persist

import (
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/dgraph-io/badger/v4"

	"github.com/countermesh/countermesh/crdt/codec"
)

// maxPointNames is how many counter names (or reaction kinds) the store reads an
// item by, one point read each. Past it, an item is read by scanning its keys.
// Point reads matter: a hot key has many versions in Badger's memtables, and an
// iterator steps over every one of them, while a point read finds the newest
// directly.
const maxPointNames = 32

// nameSet is every counter name and every reaction kind with a tally that the
// store has ever written: what reading an item by point reads needs. It only
// grows. The applier adds a name before the batch writing it commits, so a
// reader's set always covers what its snapshot holds (a name whose batch then
// fails costs one point read that finds nothing). Batches that add a name write
// the whole set, so it survives restarts.
type nameSet struct {
	mu       sync.RWMutex
	added    uint64 // names added so far: the set's version
	counters map[string]struct{}
	kinds    map[string]struct{}
	// lists are sorted copies of the maps, remade when a name is added.
	counterList, kindList []string
}

func newNameSet() *nameSet {
	return &nameSet{counters: map[string]struct{}{}, kinds: map[string]struct{}{}}
}

// addCounter records a counter name and reports whether it is new.
func (n *nameSet) addCounter(name string) bool { return n.add(n.counters, &n.counterList, name) }

// addKind records a reaction kind and reports whether it is new.
func (n *nameSet) addKind(kind string) bool { return n.add(n.kinds, &n.kindList, kind) }

func (n *nameSet) add(set map[string]struct{}, list *[]string, name string) bool {
	n.mu.RLock()
	_, ok := set[name]
	n.mu.RUnlock()
	if ok {
		return false
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, ok := set[name]; ok {
		return false
	}
	set[name] = struct{}{}
	*list = slices.Sorted(maps.Keys(set))
	n.added++
	return true
}

// version changes whenever a name is added.
func (n *nameSet) version() uint64 {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.added
}

// lists returns the counter names and reaction kinds, sorted. The slices are
// shared: callers must not modify them.
func (n *nameSet) lists() (counters, kinds []string) {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.counterList, n.kindList
}

// load reads the persisted names.
func (n *nameSet) load(txn *badger.Txn) error {
	for _, k := range []struct {
		key []byte
		add func(string) bool
	}{{keyCounterNames, n.addCounter}, {keyTallyKinds, n.addKind}} {
		err := getValue(txn, k.key, func(v []byte) error {
			names, err := codec.DecodeNames(v)
			for _, name := range names {
				k.add(name)
			}
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// rebuild adds every counter name and tally kind stored, by scanning them: for
// a keyspace written before the names were kept.
func (n *nameSet) rebuild(txn *badger.Txn) error {
	for _, p := range []struct {
		prefix byte
		add    func(string) bool
	}{{prefixCounter, n.addCounter}, {prefixTally, n.addKind}} {
		err := eachKey(txn, p.prefix, func(item *badger.Item) error {
			_, name, err := splitItemKey(item.Key())
			if err != nil {
				return corrupt(item.KeyCopy(nil), err)
			}
			p.add(name)
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// save writes the names with set: at least those of the version read before.
func (n *nameSet) save(set func(key, value []byte) error) error {
	counters, kinds := n.lists()
	if err := set(keyCounterNames, codec.EncodeNames(counters)); err != nil {
		return err
	}
	return set(keyTallyKinds, codec.EncodeNames(kinds))
}

// internCounter returns the set's own copy of a counter name, so that values
// kept by name share one string per name; a name not in the set is copied.
func (n *nameSet) internCounter(name string) string { return n.intern(false, name) }

// internKind returns the set's own copy of a reaction kind, as internCounter.
func (n *nameSet) internKind(kind string) string { return n.intern(true, kind) }

func (n *nameSet) intern(kind bool, name string) string {
	n.mu.RLock()
	defer n.mu.RUnlock()
	list := n.counterList
	if kind {
		list = n.kindList
	}
	if i, ok := slices.BinarySearch(list, name); ok {
		return list[i]
	}
	return strings.Clone(name)
}
