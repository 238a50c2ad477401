package persist

import (
	"context"
	"hash/maphash"
	mbits "math/bits"
	"sync/atomic"

	"github.com/dgraph-io/badger/v4"

	"github.com/countermesh/countermesh/crdt"
)

// reactionFilter answers "has this user a reaction register on this item?"
// without a disk read in the common case, where the answer is no: most readers
// never reacted. It is a blocked Bloom filter of every register key stored —
// a register cleared to none stays in it, as its key stays in Badger — so "no"
// is certain and "maybe" is checked in Badger.
//
// Open fills it in the background from the register keys on disk (fill); until
// that is done every answer is "maybe". Every committed batch adds its
// registers (add) before its callers are released, so a register is in the
// filter before anyone can have been told it was written.
type reactionFilter struct {
	words []atomic.Uint64 // blocks of blockWords words; nil: no filter
	seed  maphash.Seed
	ready atomic.Bool

	skipped, checked atomic.Uint64 // answers "no" and "maybe" once ready
}

const (
	blockWords  = 8 // 512 bits, one cache line
	filterProbe = 6 // bits set per key, all in one block
)

// newReactionFilter returns a filter of about bytes bytes; 0 or less keeps none
// and answers "maybe" always.
func newReactionFilter(bytes int64) *reactionFilter {
	f := &reactionFilter{seed: maphash.MakeSeed()}
	if blocks := bytes / (blockWords * 8); blocks > 0 {
		f.words = make([]atomic.Uint64, blocks*blockWords)
	}
	return f
}

// probe returns the block of k and the hash whose bits pick its bits.
func (f *reactionFilter) probe(k crdt.RegisterKey) (block []atomic.Uint64, bits uint64) {
	h := maphash.Comparable(f.seed, k)
	blocks := uint64(len(f.words) / blockWords)
	b := (uint64(uint32(h)) * blocks) >> 32
	return f.words[b*blockWords : (b+1)*blockWords], h * 0x9E3779B97F4A7C15
}

// add records that k has a register.
func (f *reactionFilter) add(k crdt.RegisterKey) {
	if f.words == nil {
		return
	}
	block, bits := f.probe(k)
	for range filterProbe {
		bits = mbits.RotateLeft64(bits, 9) // the product's top bits first
		bit := bits & 511
		block[bit>>6].Or(1 << (bit & 63))
	}
}

// mayHave reports whether k may have a register; false is certain. It counts
// its answers for ReadModelStats: readers call it.
func (f *reactionFilter) mayHave(k crdt.RegisterKey) bool {
	if !f.test(k) {
		f.skipped.Add(1)
		return false
	}
	if f.ready.Load() {
		f.checked.Add(1)
	}
	return true
}

// test reports whether k may have a register, as mayHave does, counting
// nothing: the applier calls it.
func (f *reactionFilter) test(k crdt.RegisterKey) bool {
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

// fill adds every register key in txn's snapshot, then makes the filter answer.
// It stops early, leaving the filter answering "maybe", when ctx ends.
func (f *reactionFilter) fill(ctx context.Context, txn *badger.Txn) error {
	if f.words == nil {
		return nil
	}
	n := 0
	err := eachKey(txn, prefixRegister, func(it *badger.Item) error {
		if n++; n%4096 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		item, user, err := splitItemKey(it.Key())
		if err != nil {
			return corrupt(it.KeyCopy(nil), err)
		}
		f.add(crdt.RegisterKey{Item: item, User: user})
		return nil
	})
	if err == nil {
		f.ready.Store(true)
	}
	return err
}
