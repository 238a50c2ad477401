package persist

import (
	"fmt"

	"github.com/dgraph-io/badger/v4"

	"github.com/countermesh/countermesh/crdt"
	wire "github.com/countermesh/countermesh/crdt/codec"
)

// applier is the single goroutine that decides every mutation. It applies requests
// to the batch being filled (cur), reading through to the batch being committed
// (inflight), then to its cache of committed states and then to Badger, so every
// decision sees every earlier one whether or not it is durable yet. It seals cur
// and hands it to the committer whenever the committer is idle.
type applier struct {
	s        *Store
	cur      *batch
	inflight *batch          // handed to the committer, not yet reported back
	spare    *batch          // committed and emptied, ready to be the next cur
	pending  *request        // received, waiting for room in a batch
	cache    *committedCache // committed states of recently used keys
	read     *badger.Txn     // snapshot for reads through; see renewRead
	nextSeq  uint64          // next local sequence number
	j        journal         // undo log of the request being applied
	key      []byte          // scratch space for the key of a read
	closing  bool            // the request queue is closed: drain and stop
	sealed   chan<- *batch   // to the committer
	results  <-chan commitResult
}

// run is the applier's loop. It returns once the queue is closed and everything
// received has been committed or failed.
func (a *applier) run() {
	defer close(a.sealed)
	defer a.discardRead()
	a.renewRead()
	for {
		a.placePending()
		a.seal()
		if a.closing && a.pending == nil && a.inflight == nil && a.cur.empty() {
			return
		}
		// A commit's outcome comes first: the sooner it is handled, the sooner
		// the committer gets the next batch.
		select {
		case res := <-a.results:
			a.committed(res)
			continue
		default:
		}
		queue := a.s.queue
		if a.pending != nil || a.closing {
			queue = nil
		}
		select {
		case r, ok := <-queue:
			if !ok {
				a.closing = true
				continue
			}
			a.pending = r
			a.drainQueue()
		case res := <-a.results:
			a.committed(res)
		}
	}
}

// drainQueue applies requests already queued, without blocking, while they fit
// and no commit outcome is waiting.
func (a *applier) drainQueue() {
	for a.pending != nil && len(a.results) == 0 {
		if !a.placePending() {
			return
		}
		select {
		case r, ok := <-a.s.queue:
			if !ok {
				a.closing = true
				return
			}
			a.pending = r
		default:
			return
		}
	}
}

// placePending applies the pending request to cur if it fits and reports whether
// it was placed (or refused as too large for any batch).
func (a *applier) placePending() bool {
	r := a.pending
	if r == nil {
		return true
	}
	count, bytes := r.estimate()
	fits := a.cur.ops+r.size() <= a.s.opts.MaxBatchOps &&
		a.cur.count+count <= a.s.maxCount && a.cur.bytes+bytes <= a.s.maxBytes
	if !fits {
		if !a.cur.empty() {
			return false // wait for cur to be sealed
		}
		a.pending = nil
		r.finish(fmt.Errorf("%w: %d ops, ~%d entries, ~%d bytes", ErrTooLarge, r.size(), count, bytes))
		return true
	}
	a.pending = nil
	if err := a.apply(r); err != nil {
		r.finish(err)
		return true
	}
	a.cur.reqs = append(a.cur.reqs, r)
	return true
}

// seal hands cur to the committer if the committer is idle and cur has work.
func (a *applier) seal() {
	if a.inflight != nil || a.cur.empty() {
		return
	}
	b := a.cur
	if a.nextSeq > b.firstSeq {
		b.lastSeq = a.nextSeq - 1
	}
	b.hlc = a.s.clock.Last()
	a.inflight = b
	a.cur = a.emptyBatch()
	a.cur.firstSeq = a.nextSeq
	a.sealed <- b
}

// committed handles the committer's report on the inflight batch.
func (a *applier) committed(res commitResult) {
	b := a.inflight
	a.inflight = nil
	if res.err == nil {
		// Publish the batch (sequence, digest) before releasing its callers, so a
		// caller sees its own write everywhere once Write returns. Then take a
		// snapshot that sees the batch, before the next batch is sealed; by then
		// Badger has mostly finished marking the batch done, which the snapshot
		// waits for.
		a.cache.store(b)
		a.s.committed(b)
		for _, r := range b.reqs {
			r.finish(nil)
		}
		a.recycle(b)
		a.renewRead()
		return
	}
	// Nothing of b is durable, and cur was decided on top of b: fail both and hand
	// their sequence numbers out again.
	err := &CommitError{Err: res.err}
	a.s.opts.Logger.Error("persist: commit failed", "ops", b.ops+a.cur.ops, "err", res.err)
	for _, r := range b.reqs {
		r.finish(err)
	}
	for _, r := range a.cur.reqs {
		r.finish(err)
	}
	// Badger may hold part of a batch that failed to commit; read it afresh.
	a.cache.reset()
	a.nextSeq = b.firstSeq
	a.recycle(b)
	a.cur.reset()
	a.cur.firstSeq = a.nextSeq
	a.renewRead()
}

// emptyBatch returns the spare batch, or a new one.
func (a *applier) emptyBatch() *batch {
	if b := a.spare; b != nil {
		a.spare = nil
		return b
	}
	return newBatch()
}

// recycle keeps b, whose callers have all been released, as the spare batch.
func (a *applier) recycle(b *batch) {
	b.reset()
	a.spare = b
}

// apply applies r to cur, entirely or (on error) not at all.
func (a *applier) apply(r *request) error {
	a.j.begin(a.cur, a.nextSeq)
	var err error
	switch r.kind {
	case requestWrite:
		err = a.applyWrite(r)
	case requestMerge:
		err = a.applyMerge(r)
	case requestAck:
		err = a.applyAck(r)
	case requestExpire:
		err = a.applyExpire(r)
	}
	if err != nil {
		a.cur.rollback(&a.j)
		a.nextSeq = a.j.seq
		return err
	}
	a.cur.ops += r.size()
	return nil
}

func (a *applier) applyWrite(r *request) error {
	r.results = make([]Result, len(r.ops))
	for i, op := range r.ops {
		var err error
		switch op.Kind {
		case OpAdd:
			if op.IdempotencyKey != "" {
				r.results[i], err = a.applyKeyedAdd(op)
			} else {
				r.results[i], err = a.applyAdd(op)
			}
		case OpReact:
			r.results[i], err = a.applyReact(op)
		}
		if err != nil {
			return fmt.Errorf("op %d: %w", i, err)
		}
	}
	return nil
}

// applyAdd applies op, an increment, on this replica's own counter entry.
func (a *applier) applyAdd(op Op) (Result, error) {
	k := crdt.CounterKey{Item: op.Item, Name: op.Counter}
	old, err := a.counter(k)
	if err != nil {
		return Result{}, err
	}
	c := old.Clone()
	if _, err := c.Add(a.s.replica, op.By); err != nil {
		return Result{}, fmt.Errorf("%s/%s: %w", op.Item, op.Counter, err)
	}
	seq := a.nextSeq
	a.nextSeq++
	a.setCounter(k, old, c)
	a.cur.logCounter(&a.j, k)
	return Result{Seq: seq, Value: c.Value()}, nil
}

func (a *applier) applyReact(op Op) (Result, error) {
	k := crdt.RegisterKey{Item: op.Item, User: op.User}
	r := crdt.Register{Kind: op.Reaction, TS: a.s.clock.Now(), Replica: a.s.replica}
	adj, err := a.mergeRegister(k, r)
	if err != nil {
		return Result{}, err
	}
	seq := a.nextSeq
	a.nextSeq++
	a.cur.logRegister(&a.j, k)
	return Result{Seq: seq, Register: r, Adjust: adj}, nil
}

// mergeRegister merges r into the register at k and, if it changed, stores it and
// adjusts the item's tallies in the same batch.
func (a *applier) mergeRegister(k crdt.RegisterKey, r crdt.Register) (crdt.TallyAdjust, error) {
	old, err := a.register(k)
	if err != nil {
		return crdt.TallyAdjust{}, err
	}
	winner, adj := old.Merge(r)
	if winner == old {
		return crdt.TallyAdjust{}, nil
	}
	a.cur.setRegister(&a.j, k, winner)
	a.cur.xorDigest(&a.j, BucketOf(k.Item), registerHash(k, old)^registerHash(k, winner))
	if adj.From != crdt.None {
		if err := a.addTally(tallyRef{k.Item, adj.From}, -1); err != nil {
			return crdt.TallyAdjust{}, err
		}
	}
	if adj.To != crdt.None {
		if err := a.addTally(tallyRef{k.Item, adj.To}, +1); err != nil {
			return crdt.TallyAdjust{}, err
		}
	}
	return adj, nil
}

// setCounter stores c as the new state of the counter at k, replacing old.
func (a *applier) setCounter(k crdt.CounterKey, old, c crdt.PNCounter) {
	a.s.names.addCounter(k.Name)
	a.cur.setCounter(&a.j, k, c)
	a.cur.xorDigest(&a.j, BucketOf(k.Item), counterDigestChange(k, old, c))
}

func (a *applier) addTally(t tallyRef, by int64) error {
	v, err := a.tally(t)
	if err != nil {
		return err
	}
	if v+by < 0 {
		return fmt.Errorf("%w: tally %s/%s would go below zero", ErrCorrupt, t.item, t.kind)
	}
	a.s.names.addKind(t.kind)
	a.cur.setTally(&a.j, t, v+by)
	return nil
}

func (a *applier) applyMerge(r *request) error {
	for k, c := range r.delta.Counters {
		old, err := a.counter(k)
		if err != nil {
			return err
		}
		joined := old.Clone()
		if joined.Join(c) {
			a.setCounter(k, old, joined)
			r.changed.JoinCounter(k, joined)
		}
	}
	for k, reg := range r.delta.Registers {
		old, err := a.register(k)
		if err != nil {
			return err
		}
		if !reg.Wins(old) {
			continue
		}
		if _, err := a.mergeRegister(k, reg); err != nil {
			return err
		}
		r.changed.JoinRegister(k, reg)
	}
	// After the counters: a compensation raises this replica's entry of the
	// counter as merged.
	for k, rec := range r.delta.Idem {
		if err := a.mergeIdem(k, rec, &r.changed); err != nil {
			return err
		}
	}
	return nil
}

// applyAck raises peer's acknowledgement mark; marks never move back.
func (a *applier) applyAck(r *request) error {
	seq, err := a.acked(r.peer)
	if err != nil || r.peerSeq <= seq {
		return err
	}
	if _, ok := a.cur.acks[r.peer]; !ok {
		a.cur.grow(9, 16)
	}
	a.cur.acks[r.peer] = r.peerSeq
	return nil
}

// Reads through the overlay: cur, then inflight, then (for counters, registers
// and tallies) the cache of committed states, then Badger.

func (a *applier) counter(k crdt.CounterKey) (crdt.PNCounter, error) {
	if c, ok := a.cur.counters[k]; ok {
		return c, nil
	}
	if a.inflight != nil {
		if c, ok := a.inflight.counters[k]; ok {
			return c, nil
		}
	}
	if c, ok := a.cache.counters.get(k); ok {
		return c, nil
	}
	var c crdt.PNCounter
	key := a.itemKey(prefixCounter, k.Item, k.Name)
	err := a.get(key, func(v []byte) (err error) { c, err = wire.DecodeCounter(v); return })
	return c, err
}

func (a *applier) register(k crdt.RegisterKey) (crdt.Register, error) {
	if r, ok := a.cur.registers[k]; ok {
		return r, nil
	}
	if a.inflight != nil {
		if r, ok := a.inflight.registers[k]; ok {
			return r, nil
		}
	}
	if r, ok := a.cache.registers.get(k); ok {
		return r, nil
	}
	var r crdt.Register
	key := a.itemKey(prefixRegister, k.Item, k.User)
	err := a.get(key, func(v []byte) (err error) { r, err = wire.DecodeRegister(v); return })
	return r, err
}

func (a *applier) tally(t tallyRef) (int64, error) {
	if v, ok := a.cur.tallies[t]; ok {
		return v, nil
	}
	if a.inflight != nil {
		if v, ok := a.inflight.tallies[t]; ok {
			return v, nil
		}
	}
	if v, ok := a.cache.tallies.get(t); ok {
		return v, nil
	}
	var v int64
	key := a.itemKey(prefixTally, t.item, t.kind)
	err := a.get(key, func(b []byte) (err error) { v, err = decodeTally(b); return })
	return v, err
}

func (a *applier) acked(peer crdt.ReplicaID) (uint64, error) {
	if v, ok := a.cur.acks[peer]; ok {
		return v, nil
	}
	if a.inflight != nil {
		if v, ok := a.inflight.acks[peer]; ok {
			return v, nil
		}
	}
	var v uint64
	err := a.get(ackKey(peer), func(b []byte) (err error) { v, err = wire.DecodeUint(b); return })
	return v, err
}

// itemKey returns itemKey(prefix, item, sub) in a's scratch space, valid until
// the next call.
func (a *applier) itemKey(prefix byte, item, sub string) []byte {
	a.key = appendItemKey(a.key[:0], prefix, item, sub)
	return a.key
}

// get calls decode with the committed value at key; a missing key leaves the
// caller's zero value.
func (a *applier) get(key []byte, decode func([]byte) error) error {
	if a.read == nil {
		a.read = a.s.db.NewTransaction(false)
	}
	return getValue(a.read, key, decode)
}

// renewRead replaces the read snapshot with one that sees every committed batch.
// It runs when no commit is in flight: Badger makes a snapshot opened during a
// commit wait until that commit is done, which would stall the applier for the
// whole commit of the previous batch.
func (a *applier) renewRead() {
	a.discardRead()
	a.read = a.s.db.NewTransaction(false)
}

func (a *applier) discardRead() {
	if a.read != nil {
		a.read.Discard()
		a.read = nil
	}
}
