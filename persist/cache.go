package persist

import (
	"hash/maphash"
	"math/bits"

	"github.com/countermesh/countermesh/crdt"
)

// committedCache holds the committed states of recently written keys, so the
// applier can decide most mutations on hot keys without reading Badger. It belongs
// to the applier goroutine, which reads it after the batch being filled and the
// batch being committed, and before Badger. Every entry is exactly its key's
// committed state:
//
//   - only a committed batch stores states, every key it wrote
//     (committedCache.store), and every commit goes through the applier in order;
//   - a failed commit clears the cache, so nothing Badger may keep of a failed
//     batch can disagree with it.
//
// Values read from Badger are not stored: the applier reads a key to change it,
// so the commit stores it anyway, and stores it once instead of twice.
//
// Each kind of key has its own bounded table (assocCache).
type committedCache struct {
	counters  assocCache[crdt.CounterKey, crdt.PNCounter]
	registers assocCache[crdt.RegisterKey, crdt.Register]
	tallies   assocCache[tallyRef, int64]
}

func newCommittedCache(keys int) *committedCache {
	return &committedCache{
		counters:  newAssocCache[crdt.CounterKey, crdt.PNCounter](keys),
		registers: newAssocCache[crdt.RegisterKey, crdt.Register](keys),
		tallies:   newAssocCache[tallyRef, int64](keys),
	}
}

// store records the states b committed.
func (c *committedCache) store(b *batch) {
	for k, v := range b.counters {
		c.counters.put(k, v)
	}
	for k, v := range b.registers {
		c.registers.put(k, v)
	}
	for k, v := range b.tallies {
		c.tallies.put(k, v)
	}
}

// reset forgets everything.
func (c *committedCache) reset() {
	c.counters.reset()
	c.registers.reset()
	c.tallies.reset()
}

// assocCache is a bounded map: a hash table of sets of assocWays entries each,
// where a new key replaces the least recently used entry of its set. Unlike a Go
// map under constant eviction it never deletes, rehashes or allocates. It holds at
// most max entries rounded up to a power of two (at least assocWays); a max of
// zero or less keeps nothing.
type assocCache[K comparable, V any] struct {
	seed  maphash.Seed
	sets  []assocSet[K, V] // a power of two of them
	shift uint             // 64 - log2(len(sets)): the hash's top bits pick the set
	tick  uint64           // use counter, for least recently used; never wraps
}

const assocWays = 4

type assocSet[K comparable, V any] struct {
	hash [assocWays]uint64 // of the key, with the low bit set; 0 marks an empty way
	used [assocWays]uint64 // tick of the way's last use
	key  [assocWays]K
	val  [assocWays]V
}

func newAssocCache[K comparable, V any](max int) assocCache[K, V] {
	c := assocCache[K, V]{seed: maphash.MakeSeed()}
	if max > 0 {
		n := 1
		for n*assocWays < max {
			n *= 2
		}
		c.sets = make([]assocSet[K, V], n)
		c.shift = uint(64 - bits.TrailingZeros(uint(n)))
	}
	return c
}

// find returns k's set and way, with way -1 when k is not held.
func (c *assocCache[K, V]) find(k K) (s *assocSet[K, V], h uint64, way int) {
	if len(c.sets) == 0 {
		return nil, 0, -1
	}
	h = maphash.Comparable(c.seed, k) | 1
	s = &c.sets[h>>c.shift&uint64(len(c.sets)-1)]
	for w := range assocWays {
		if s.hash[w] == h && s.key[w] == k {
			return s, h, w
		}
	}
	return s, h, -1
}

func (c *assocCache[K, V]) get(k K) (V, bool) {
	s, _, w := c.find(k)
	if w < 0 {
		var zero V
		return zero, false
	}
	c.tick++
	s.used[w] = c.tick
	return s.val[w], true
}

func (c *assocCache[K, V]) put(k K, v V) {
	s, h, w := c.find(k)
	if s == nil {
		return
	}
	if w < 0 {
		w = 0
		for i := 1; i < assocWays && s.hash[w] != 0; i++ {
			if s.hash[i] == 0 || s.used[i] < s.used[w] {
				w = i
			}
		}
		s.hash[w], s.key[w] = h, k
	}
	c.tick++
	s.used[w] = c.tick
	s.val[w] = v
}

// each calls fn with every entry held.
func (c *assocCache[K, V]) each(fn func(K, V)) {
	for i := range c.sets {
		s := &c.sets[i]
		for w := range assocWays {
			if s.hash[w] != 0 {
				fn(s.key[w], s.val[w])
			}
		}
	}
}

// len returns how many entries are held.
func (c *assocCache[K, V]) len() int {
	n := 0
	c.each(func(K, V) { n++ })
	return n
}

// cap returns how many entries c can hold.
func (c *assocCache[K, V]) cap() int { return len(c.sets) * assocWays }

func (c *assocCache[K, V]) reset() {
	clear(c.sets)
	c.tick = 0
}
