package persist

import (
	"github.com/countermesh/countermesh/crdt"
)

// tallyRef names one tally: users of one kind on one item.
type tallyRef struct{ item, kind string }

// batch is one group commit in the making: the new state of every key its requests
// changed, and the requests waiting for it. Values in its maps are never mutated
// in place (counters are copied on write), so a batch handed to the committer can
// be read by the applier and the committer at once.
type batch struct {
	counters  map[crdt.CounterKey]crdt.PNCounter
	registers map[crdt.RegisterKey]crdt.Register
	tallies   map[tallyRef]int64
	idem      map[crdt.IdemKey]crdt.IdemRecord // an empty record deletes
	acks      map[crdt.ReplicaID]uint64
	changes   crdt.KeySet    // keys changed by local ops: the batch's change-log record
	digest    map[int]uint64 // bucket → XOR to apply to the digest once committed

	firstSeq, lastSeq uint64         // local ops' sequence range; lastSeq 0 when none
	hlc               crdt.Timestamp // clock high-water mark when the batch was sealed
	reqs              []*request
	ops               int // ops and merged keys applied
	count             int // Badger entries committing the batch will write
	bytes             int // estimated size of those entries, as Badger counts it
}

func newBatch() *batch {
	return &batch{
		counters:  make(map[crdt.CounterKey]crdt.PNCounter),
		registers: make(map[crdt.RegisterKey]crdt.Register),
		tallies:   make(map[tallyRef]int64),
		idem:      make(map[crdt.IdemKey]crdt.IdemRecord),
		acks:      make(map[crdt.ReplicaID]uint64),
		digest:    make(map[int]uint64),
		count:     metaEntries,
		bytes:     metaEntries * entryOverhead,
	}
}

// reset empties b for reuse, keeping the room its maps grew unless they grew large.
func (b *batch) reset() {
	b.counters = emptied(b.counters)
	b.registers = emptied(b.registers)
	b.tallies = emptied(b.tallies)
	b.idem = emptied(b.idem)
	b.acks = emptied(b.acks)
	b.changes.Counters = emptied(b.changes.Counters)
	b.changes.Registers = emptied(b.changes.Registers)
	b.changes.Idem = emptied(b.changes.Idem)
	b.digest = emptied(b.digest)
	if cap(b.reqs) > maxKeptRoom {
		b.reqs = nil
	}
	clear(b.reqs)
	b.reqs = b.reqs[:0]
	b.firstSeq, b.lastSeq, b.hlc = 0, 0, crdt.Timestamp{}
	b.ops, b.count, b.bytes = 0, metaEntries, metaEntries*entryOverhead
}

// maxKeptRoom is the most entries a reused batch keeps room for in a map: clearing
// a map takes time in proportion to its room, which one large batch (a big merge)
// would otherwise make every later batch pay.
const maxKeptRoom = 1024

// emptied returns m emptied, or a new map if m is large.
func emptied[K comparable, V any](m map[K]V) map[K]V {
	if len(m) > maxKeptRoom {
		return make(map[K]V)
	}
	clear(m)
	return m
}

// Batch size accounting. Badger refuses a transaction past a count of entries or
// a size (key + value + overhead per entry); a batch is sealed before either.
const (
	metaEntries   = 5  // sequence, clock high-water mark, change-log record, names (when new)
	entryOverhead = 24 // per-entry bytes Badger adds, rounded up
	counterValue  = 24 // encoded counter, plus per replica entry below
	counterEntry  = 20 //
	registerValue = 40 // encoded register, plus the kind
	idemValue     = 40 // encoded application of a keyed increment, plus its counter
	keyOverhead   = 12 // prefix, length and sequence bytes of a key
)

// grow accounts for one new entry of the given key and value sizes.
func (b *batch) grow(keyLen, valueLen int) {
	b.count++
	b.bytes += keyLen + keyOverhead + valueLen + entryOverhead
}

func (b *batch) empty() bool { return len(b.reqs) == 0 }

// undoKind says which map an undo entry restores.
type undoKind uint8

const (
	undoCounter undoKind = iota
	undoRegister
	undoTally
	undoIdem
	undoChangeCounter
	undoChangeRegister
	undoChangeIdem
	undoDigest
)

// undo records one key's value in the current batch before a request changed it,
// so a request that fails half-way leaves the batch as it found it.
type undo struct {
	kind    undoKind
	existed bool
	ck      crdt.CounterKey
	rk      crdt.RegisterKey
	tk      tallyRef
	ik      crdt.IdemKey
	counter crdt.PNCounter
	reg     crdt.Register
	tally   int64
	idem    crdt.IdemRecord
	bucket  int
	xor     uint64
}

// journal is the undo log of the request being applied.
type journal struct {
	entries []undo
	seq     uint64 // the applier's next sequence when the request began
	ops     int    // the batch's op count when the request began
	count   int    // the batch's entry count when the request began
	bytes   int    // the batch's byte estimate when the request began
}

// begin starts journaling a request applied to b with next sequence seq.
func (j *journal) begin(b *batch, seq uint64) {
	j.entries = j.entries[:0]
	j.seq, j.ops, j.count, j.bytes = seq, b.ops, b.count, b.bytes
}

// rollback restores b to its state before the request journaled in j.
func (b *batch) rollback(j *journal) {
	for i := len(j.entries) - 1; i >= 0; i-- {
		u := &j.entries[i]
		switch u.kind {
		case undoCounter:
			restore(b.counters, u.ck, u.counter, u.existed)
		case undoRegister:
			restore(b.registers, u.rk, u.reg, u.existed)
		case undoTally:
			restore(b.tallies, u.tk, u.tally, u.existed)
		case undoIdem:
			restore(b.idem, u.ik, u.idem, u.existed)
		case undoChangeCounter:
			if !u.existed {
				delete(b.changes.Counters, u.ck)
			}
		case undoChangeRegister:
			if !u.existed {
				delete(b.changes.Registers, u.rk)
			}
		case undoChangeIdem:
			if !u.existed {
				delete(b.changes.Idem, u.ik)
			}
		case undoDigest:
			b.digest[u.bucket] ^= u.xor
		}
	}
	b.ops, b.count, b.bytes = j.ops, j.count, j.bytes
	j.entries = j.entries[:0]
}

func restore[K comparable, V any](m map[K]V, k K, v V, existed bool) {
	if existed {
		m[k] = v
	} else {
		delete(m, k)
	}
}

func (b *batch) setCounter(j *journal, k crdt.CounterKey, c crdt.PNCounter) {
	old, ok := b.counters[k]
	j.entries = append(j.entries, undo{kind: undoCounter, ck: k, counter: old, existed: ok})
	if !ok {
		b.grow(len(k.Item)+len(k.Name), counterValue+counterEntry*c.Len())
	}
	b.counters[k] = c
}

func (b *batch) setRegister(j *journal, k crdt.RegisterKey, r crdt.Register) {
	old, ok := b.registers[k]
	j.entries = append(j.entries, undo{kind: undoRegister, rk: k, reg: old, existed: ok})
	if !ok {
		b.grow(len(k.Item)+len(k.User), registerValue+len(r.Kind))
	}
	b.registers[k] = r
}

func (b *batch) setTally(j *journal, k tallyRef, v int64) {
	old, ok := b.tallies[k]
	j.entries = append(j.entries, undo{kind: undoTally, tk: k, tally: old, existed: ok})
	if !ok {
		b.grow(len(k.item)+len(k.kind), 8)
	}
	b.tallies[k] = v
}

func (b *batch) setIdem(j *journal, k crdt.IdemKey, rec crdt.IdemRecord) {
	old, ok := b.idem[k]
	j.entries = append(j.entries, undo{kind: undoIdem, ik: k, idem: old, existed: ok})
	if !ok {
		b.grow(len(k.Item)+len(k.Key), idemValue*max(rec.Len(), 1))
	}
	b.idem[k] = rec
}

func (b *batch) logCounter(j *journal, k crdt.CounterKey) {
	_, ok := b.changes.Counters[k]
	j.entries = append(j.entries, undo{kind: undoChangeCounter, ck: k, existed: ok})
	if !ok {
		b.bytes += len(k.Item) + len(k.Name) + keyOverhead
	}
	b.changes.AddCounter(k)
}

func (b *batch) logRegister(j *journal, k crdt.RegisterKey) {
	_, ok := b.changes.Registers[k]
	j.entries = append(j.entries, undo{kind: undoChangeRegister, rk: k, existed: ok})
	if !ok {
		b.bytes += len(k.Item) + len(k.User) + keyOverhead
	}
	b.changes.AddRegister(k)
}

func (b *batch) logIdem(j *journal, k crdt.IdemKey) {
	_, ok := b.changes.Idem[k]
	j.entries = append(j.entries, undo{kind: undoChangeIdem, ik: k, existed: ok})
	if !ok {
		b.bytes += len(k.Item) + len(k.Key) + keyOverhead
	}
	b.changes.AddIdem(k)
}

// xorDigest records that the digest of bucket changes by x.
func (b *batch) xorDigest(j *journal, bucket int, x uint64) {
	if x == 0 {
		return
	}
	j.entries = append(j.entries, undo{kind: undoDigest, bucket: bucket, xor: x})
	b.digest[bucket] ^= x
}

// changedItems returns the items whose counters or tallies b changes, each once.
func (b *batch) changedItems() []string {
	seen := make(map[string]struct{}, len(b.counters)+len(b.tallies))
	items := make([]string, 0, len(b.counters)+len(b.tallies))
	add := func(item string) {
		if _, ok := seen[item]; !ok {
			seen[item] = struct{}{}
			items = append(items, item)
		}
	}
	for k := range b.counters {
		add(k.Item)
	}
	for t := range b.tallies {
		add(t.item)
	}
	return items
}
