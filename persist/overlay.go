package persist

import (
	"github.com/countermesh/countermesh/crdt"
	"github.com/countermesh/countermesh/crdt/codec"
)

// The applier reads every state it decides on through one overlay: the batch
// being filled, then the batch being committed, then (for counters, registers
// and tallies) its cache of committed states, then (for registers and tallies)
// the read model, which knows the published state of the items it holds, then
// a Badger snapshot of the committed state — unless the reaction filter (for
// registers) or the item filter (for counters and tallies) says the key was
// never committed. Every committed batch but the one in flight is published,
// on the applier's own goroutine, so the read model is never behind what the
// applier must see once the batches ahead of it are read.

// stateKind is how one kind of state is found in each layer of the overlay.
// Its functions are static, so a read allocates only what decoding a value
// from Badger does.
type stateKind[K comparable, V any] struct {
	inBatch func(*batch) map[K]V
	cached  func(*committedCache) *assocCache[K, V] // nil: not cached
	// modeled, when not nil, returns k's published state if the read model
	// knows it.
	modeled func(*applier, K) (V, bool)
	// absent, when not nil, reports that k is certainly not in Badger.
	absent func(*applier, K) bool
	key    func(dst []byte, k K) []byte // appends k's Badger key to dst
	decode func([]byte) (V, error)
}

// at returns the state of k that a's next decision must see. A key found in no
// layer has V's zero value.
func (s *stateKind[K, V]) at(a *applier, k K) (V, error) {
	if v, ok := s.inBatch(a.cur)[k]; ok {
		return v, nil
	}
	if a.inflight != nil {
		if v, ok := s.inBatch(a.inflight)[k]; ok {
			return v, nil
		}
	}
	if s.cached != nil {
		if v, ok := s.cached(a.cache).get(k); ok {
			return v, nil
		}
	}
	if s.modeled != nil {
		if v, ok := s.modeled(a, k); ok {
			return v, nil
		}
	}
	var v V
	if s.absent != nil && s.absent(a, k) {
		return v, nil
	}
	a.key = s.key(a.key[:0], k)
	err := a.get(a.key, func(b []byte) (err error) { v, err = s.decode(b); return })
	return v, err
}

var (
	counterStates = &stateKind[crdt.CounterKey, crdt.PNCounter]{
		inBatch: func(b *batch) map[crdt.CounterKey]crdt.PNCounter { return b.counters },
		cached: func(c *committedCache) *assocCache[crdt.CounterKey, crdt.PNCounter] {
			return &c.counters
		},
		// An item's first write finds nothing to read: the item filter knows
		// every item with a committed counter or tally.
		absent: func(a *applier, k crdt.CounterKey) bool { return !a.env.items.test(k.Item) },
		key: func(dst []byte, k crdt.CounterKey) []byte {
			return appendItemKey(dst, prefixCounter, k.Item, k.Name)
		},
		decode: codec.DecodeCounter,
	}
	registerStates = &stateKind[crdt.RegisterKey, crdt.Register]{
		inBatch: func(b *batch) map[crdt.RegisterKey]crdt.Register { return b.registers },
		cached: func(c *committedCache) *assocCache[crdt.RegisterKey, crdt.Register] {
			return &c.registers
		},
		key: func(dst []byte, k crdt.RegisterKey) []byte {
			return appendItemKey(dst, prefixRegister, k.Item, k.User)
		},
		// Most reactions are a user's first on an item: the reaction filter
		// knows every committed register, and the batches ahead of Badger are
		// read first.
		modeled: func(a *applier, k crdt.RegisterKey) (crdt.Register, bool) { return a.env.model.register(k) },
		absent:  func(a *applier, k crdt.RegisterKey) bool { return !a.env.reactions.test(k) },
		decode:  codec.DecodeRegister,
	}
	tallyStates = &stateKind[tallyRef, int64]{
		inBatch: func(b *batch) map[tallyRef]int64 { return b.tallies },
		cached:  func(c *committedCache) *assocCache[tallyRef, int64] { return &c.tallies },
		modeled: func(a *applier, t tallyRef) (int64, bool) { return a.env.model.tally(t) },
		absent:  func(a *applier, t tallyRef) bool { return !a.env.items.test(t.item) },
		key: func(dst []byte, t tallyRef) []byte {
			return appendItemKey(dst, prefixTally, t.item, t.kind)
		},
		decode: decodeTally,
	}
	// idemStates returns an expired record as stored; callers tell live from
	// expired with liveIdem.
	idemStates = &stateKind[crdt.IdemKey, crdt.IdemRecord]{
		inBatch: func(b *batch) map[crdt.IdemKey]crdt.IdemRecord { return b.idem },
		key: func(dst []byte, k crdt.IdemKey) []byte {
			return appendItemKey(dst, prefixKeyed, k.Item, k.Key)
		},
		decode: codec.DecodeIdemRecord,
	}
	ackStates = &stateKind[crdt.ReplicaID, uint64]{
		inBatch: func(b *batch) map[crdt.ReplicaID]uint64 { return b.acks },
		key: func(dst []byte, peer crdt.ReplicaID) []byte {
			return appendSeqKey(dst, prefixAck, uint64(peer))
		},
		decode: codec.DecodeUint,
	}
)

// get calls decode with the committed value at key; a missing key leaves the
// caller's zero value.
func (a *applier) get(key []byte, decode func([]byte) error) error {
	if a.read == nil {
		a.read = a.env.snapshot()
	}
	return getValue(a.read, key, decode)
}

// renewRead replaces the read snapshot with one that sees every committed batch.
// It runs when no commit is in flight: Badger makes a snapshot opened during a
// commit wait until that commit is done, which would stall the applier for the
// whole commit of the previous batch.
func (a *applier) renewRead() {
	a.discardRead()
	a.read = a.env.snapshot()
}

func (a *applier) discardRead() {
	if a.read != nil {
		a.read.Discard()
		a.read = nil
	}
}
