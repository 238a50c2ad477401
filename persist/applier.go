package persist

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/countermesh/countermesh/crdt"
	"github.com/countermesh/countermesh/crdt/digest"
)

// applier is the single goroutine that decides every mutation. It applies requests
// to the batch being filled (cur), reading through to the batch being committed
// (inflight), then to its cache of committed states and then to Badger (see
// stateKind.at), so every decision sees every earlier one whether or not it is
// durable yet. It seals cur and hands it to the committer whenever the committer
// is idle, and handles the committer's report on it.
type applier struct {
	env      applyEnv
	queue    <-chan *request // from callers; closed by Close
	sealed   chan<- *batch   // to the committer
	results  <-chan commitResult
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
}

// applyEnv is everything the applier uses that it does not own, given to it by
// Open.
type applyEnv struct {
	replica   crdt.ReplicaID
	clock     *crdt.Clock                  // stamps reactions; its high-water mark goes with each batch
	names     *nameSet                     // the applier adds every counter name and tally kind it writes
	reactions *keyFilter[crdt.RegisterKey] // every committed register; publish adds a batch's
	items     *keyFilter[string]           // every item with a committed counter or tally; likewise
	model     *readModel                   // the published state of the items it holds
	wallClock func() time.Time
	idemTTL   time.Duration // Options.IdempotencyTTL

	// A batch is sealed before it exceeds any of these.
	maxOps, maxCount, maxBytes int

	logger *slog.Logger
	// snapshot opens a read-only view of the committed state.
	snapshot func() *badger.Txn
	// publish makes a committed batch's sequence and digest change visible. It is
	// called before the batch's callers are released.
	publish func(*batch)
	// sealing is called before a batch is handed to the committer; discard
	// when a batch handed to it failed, before its callers are released.
	sealing, discard func()
}

// newApplier returns an applier whose next local sequence is nextSeq, with a
// committed cache of cacheKeys keys of each kind.
func newApplier(env applyEnv, cacheKeys int, nextSeq uint64,
	queue <-chan *request, sealed chan<- *batch, results <-chan commitResult) *applier {
	a := &applier{env: env, queue: queue, sealed: sealed, results: results,
		cur: newBatch(), cache: newCommittedCache(cacheKeys), nextSeq: nextSeq}
	a.cur.firstSeq = nextSeq
	return a
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
		queue := a.queue
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
		case r, ok := <-a.queue:
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
	fits := a.cur.ops+r.size() <= a.env.maxOps &&
		a.cur.count+count <= a.env.maxCount && a.cur.bytes+bytes <= a.env.maxBytes
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
	b.hlc = a.env.clock.Last()
	a.inflight = b
	a.cur = a.emptyBatch()
	a.cur.firstSeq = a.nextSeq
	a.env.sealing()
	a.sealed <- b
}

// committed handles the committer's report on the inflight batch.
func (a *applier) committed(res commitResult) {
	b := a.inflight
	a.inflight = nil
	if res.err == nil {
		// First a snapshot that sees b, while no commit is in flight (see
		// renewRead). Then hand cur to the committer at once: Badger need not
		// sit idle while b is published. cur was decided on top of b, which is
		// durable now. Then publish b (sequence, digest, read model) before
		// releasing its callers, so a caller sees its own write everywhere once
		// Write returns. Nothing reads through the overlay until b is
		// published, so it is never missing from it (in flight, or published).
		a.renewRead()
		a.seal()
		a.cache.store(b)
		a.env.publish(b)
		for _, r := range b.reqs {
			r.finish(nil)
		}
		a.recycle(b)
		return
	}
	// Nothing of b is durable, and cur was decided on top of b: fail both and hand
	// their sequence numbers out again.
	a.env.discard()
	err := &CommitError{Err: res.err}
	a.env.logger.Error("persist: commit failed", "ops", b.ops+a.cur.ops, "err", res.err)
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
	old, err := counterStates.at(a, k)
	if err != nil {
		return Result{}, err
	}
	c := old.Clone()
	if _, err := c.Add(a.env.replica, op.By); err != nil {
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
	r := crdt.Register{Kind: op.Reaction, TS: a.env.clock.Now(), Replica: a.env.replica}
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
	old, err := registerStates.at(a, k)
	if err != nil {
		return crdt.TallyAdjust{}, err
	}
	winner, adj := old.Merge(r)
	if winner == old {
		return crdt.TallyAdjust{}, nil
	}
	a.cur.setRegister(&a.j, k, winner)
	a.cur.xorDigest(&a.j, BucketOf(k.Item), digest.Register(k, old)^digest.Register(k, winner))
	if adj.IsZero() {
		return adj, nil // the same kind again: no tally moves
	}
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
	a.env.names.addCounter(k.Name)
	a.cur.setCounter(&a.j, k, c)
	a.cur.xorDigest(&a.j, BucketOf(k.Item), digest.CounterChange(k, old, c))
}

func (a *applier) addTally(t tallyRef, by int64) error {
	v, err := tallyStates.at(a, t)
	if err != nil {
		return err
	}
	if v+by < 0 {
		return fmt.Errorf("%w: tally %s/%s would go below zero", ErrCorrupt, t.item, t.kind)
	}
	a.env.names.addKind(t.kind)
	a.cur.setTally(&a.j, t, v+by)
	return nil
}

func (a *applier) applyMerge(r *request) error {
	for k, c := range r.delta.Counters {
		old, err := counterStates.at(a, k)
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
		old, err := registerStates.at(a, k)
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
	seq, err := ackStates.at(a, r.peer)
	if err != nil || r.peerSeq <= seq {
		return err
	}
	if _, ok := a.cur.acks[r.peer]; !ok {
		a.cur.grow(9, 16)
	}
	a.cur.acks[r.peer] = r.peerSeq
	return nil
}
