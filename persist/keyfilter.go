package persist

import (
	"context"
	"hash/maphash"
	mbits "math/bits"
	"sync/atomic"

	"github.com/dgraph-io/badger/v4"

	"github.com/countermesh/countermesh/crdt"
)

// keyFilter answers "is this key stored?" without a disk read in the common
// case, where the answer is no. It is a blocked Bloom filter of every key of
// its kind ever stored — a key deleted stays in it — so "no" is certain and
// "maybe" is checked in Badger. The store keeps two:
//
//   - the reaction filter, of register keys: most readers never reacted to the
//     items they read, and most reactions are a user's first on an item;
//   - the item filter, of the items that have a counter or a tally record: a
//     page of a like service holds many items nobody ever reacted to.
//
// Open fills both in the background from the keys on disk (fill); until that
// is done every answer is "maybe". Every committed batch adds its keys (add)
// before its callers are released, so a key is in its filter before anyone can
// have been told it was written, and the applier, which reads the batches not
// yet published before the filters, decides on exact states.
type keyFilter[K comparable] struct {
	words []atomic.Uint64 // blocks of blockWords words; nil: no filter
	seed  maphash.Seed
	ready atomic.Bool

	skipped, checked atomic.Uint64 // readers' answers "no" and "maybe" once ready
}

const (
	blockWords  = 8 // 512 bits, one cache line
	filterProbe = 6 // bits set per key, all in one block
)

// newKeyFilter returns a filter of about bytes bytes; 0 or less keeps none
// and answers "maybe" always.
func newKeyFilter[K comparable](bytes int64) *keyFilter[K] {
	f := &keyFilter[K]{seed: maphash.MakeSeed()}
	if blocks := bytes / (blockWords * 8); blocks > 0 {
		f.words = make([]atomic.Uint64, blocks*blockWords)
	}
	return f
}

// probe returns the block of k and the hash whose bits pick its bits.
func (f *keyFilter[K]) probe(k K) (block []atomic.Uint64, bits uint64) {
	h := maphash.Comparable(f.seed, k)
	blocks := uint64(len(f.words) / blockWords)
	b := (uint64(uint32(h)) * blocks) >> 32
	return f.words[b*blockWords : (b+1)*blockWords], h * 0x9E3779B97F4A7C15
}

// add records that k is stored. It reports whether k was certainly not
// stored before — the answer test would have given, "no", in the same probe
// — which it can only be once the filter answers.
func (f *keyFilter[K]) add(k K) (wasAbsent bool) {
	if f.words == nil {
		return false
	}
	ready := f.ready.Load() // before the bits: once ready, fill adds no more
	block, bits := f.probe(k)
	for range filterProbe {
		bits = mbits.RotateLeft64(bits, 9) // the product's top bits first
		bit := bits & 511
		if block[bit>>6].Or(1<<(bit&63))&(1<<(bit&63)) == 0 {
			wasAbsent = true
		}
	}
	return ready && wasAbsent
}

// mayHave reports whether k may be stored; false is certain. It counts its
// answers for ReadModelStats: readers call it.
func (f *keyFilter[K]) mayHave(k K) bool {
	if !f.test(k) {
		f.skipped.Add(1)
		return false
	}
	if f.ready.Load() {
		f.checked.Add(1)
	}
	return true
}

// noteChecked counts n answers "maybe" that a reader took to disk, having
// asked test, once the filter answers.
func (f *keyFilter[K]) noteChecked(n int) {
	if f.ready.Load() {
		f.checked.Add(uint64(n))
	}
}

// test reports whether k may be stored, as mayHave does, counting nothing:
// the applier and the read model call it.
func (f *keyFilter[K]) test(k K) bool {
	if f.words == nil || !f.ready.Load() {
		return true
	}
	block, bits := f.probe(k)
	for range filterProbe {
		bits = mbits.RotateLeft64(bits, 9) // the product's top bits first
		bit := bits & 511
		if block[bit>>6].Load()&(1<<(bit&63)) == 0 {
			return false
		}
	}
	return true
}

// fill adds the key of every entry under the given key prefixes in txn's
// snapshot, as keyOf makes it from the entry's item and sub-key, then makes
// the filter answer. It stops early, leaving the filter answering "maybe",
// when ctx ends.
func (f *keyFilter[K]) fill(ctx context.Context, txn *badger.Txn, keyOf func(item, sub string) K, prefixes ...byte) error {
	if f.words == nil {
		return nil
	}
	n := 0
	for _, p := range prefixes {
		err := eachKey(txn, p, func(it *badger.Item) error {
			if n++; n%4096 == 0 && ctx.Err() != nil {
				return ctx.Err()
			}
			item, sub, err := splitItemKey(it.Key())
			if err != nil {
				return corrupt(it.KeyCopy(nil), err)
			}
			f.add(keyOf(item, sub))
			return nil
		})
		if err != nil {
			return err
		}
	}
	f.ready.Store(true)
	return nil
}

// registerKeyOf and itemOf make the keys of the reaction filter and the item
// filter from a stored key's item and sub-key.
func registerKeyOf(item, user string) crdt.RegisterKey {
	return crdt.RegisterKey{Item: item, User: user}
}
func itemOf(item, _ string) string { return item }
