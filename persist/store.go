package persist

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"

	"github.com/countermesh/countermesh/crdt"
	"github.com/countermesh/countermesh/crdt/codec"
)

// Store is the durable state of one peer. Its methods are safe for concurrent use.
type Store struct {
	opts    Options
	db      *badger.DB
	replica crdt.ReplicaID
	clock   *crdt.Clock

	lastSeq atomic.Uint64 // last committed local sequence
	// commitCounts are the committer's counts (CommitStats).
	commitCounts commitCounters
	names        *nameSet // counter names and tally kinds ever stored

	digest struct {
		sync.Mutex
		d      Digest        // of the committed state
		notify chan struct{} // closed at the next commit
	}

	queue   chan *request // to the applier
	applier *applier      // runs on its own goroutine until Close

	// The commit feed (feed.go) and what follows it inside the store.
	publishing sync.Mutex // held while a commit is published
	followers  followers
	model      *readModel
	reactions  *keyFilter[crdt.RegisterKey] // every register key stored
	items      *keyFilter[string]           // every item with a counter or tally stored

	closeMu struct {
		sync.RWMutex
		closed bool
	}
	closeOnce   sync.Once
	closeErr    error
	wg          sync.WaitGroup     // applier and committer
	stopSweeper context.CancelFunc // stops the sweeper and the filters' fill
	sweeper     sync.WaitGroup     // the sweeper and the filters' fill
}

// Open opens (or creates) the store in opts.Dir. A directory with no store becomes
// a new replica with a fresh random id. Open restores the clock's high-water mark,
// so the clock never goes backwards across a restart even if the wall clock did.
func Open(opts Options) (*Store, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	db, err := badger.Open(badgerOptions(opts))
	if err != nil && strings.Contains(err.Error(), "Create a new file") {
		// A kill between Badger creating a new log file and sizing it leaves an
		// empty file that fails the next open once (dgraph-io/badger#2207); Badger
		// wraps the error without %w, so only its text tells. Opening again works.
		opts.Logger.Warn("persist: reopening after an interrupted open", "err", err)
		db, err = badger.Open(badgerOptions(opts))
	}
	if err != nil {
		return nil, fmt.Errorf("persist: open %s: %w", opts.Dir, translate(err))
	}
	s := &Store{
		opts:  opts,
		db:    db,
		clock: crdt.NewClock(opts.WallClock, opts.MaxDrift),
		queue: make(chan *request, opts.QueueLength),
		names: newNameSet(),
	}
	s.reactions = newKeyFilter[crdt.RegisterKey](opts.ReactionFilterBytes)
	s.model = newReadModel(opts.ReadModelBytes, s.names)
	s.model.reactions = s.reactions
	s.items = newKeyFilter[string](opts.ItemFilterBytes)
	if err := s.recover(); err != nil {
		db.Close()
		return nil, err
	}
	d, err := s.openDigest()
	if err != nil {
		db.Close()
		return nil, err
	}
	s.digest.d = *d
	s.digest.notify = make(chan struct{})
	s.startPipeline()
	ctx, cancel := context.WithCancel(context.Background())
	s.stopSweeper = cancel
	if opts.IdempotencySweep > 0 {
		s.sweeper.Go(func() { s.runSweeper(ctx) })
	}
	s.sweeper.Go(func() { s.fillFilters(ctx) })
	return s, nil
}

// fillFilters fills the reaction filter and the item filter from the keys on
// disk, from one snapshot opened after the commit pipeline started: a commit
// the snapshot misses is added by its publish.
func (s *Store) fillFilters(ctx context.Context) {
	txn := s.db.NewTransaction(false)
	defer txn.Discard()
	if err := s.reactions.fill(ctx, txn, registerKeyOf, prefixRegister); err != nil && ctx.Err() == nil {
		s.opts.Logger.Error("persist: reaction filter: reads of users' reactions go to disk", "err", err)
	}
	if err := s.items.fill(ctx, txn, itemOf, prefixCounter, prefixTally); err != nil && ctx.Err() == nil {
		s.opts.Logger.Error("persist: item filter: reads of items never written go to disk", "err", err)
	}
}

// startPipeline starts the applier and the committer, each given what it uses.
func (s *Store) startPipeline() {
	sealed := make(chan *batch, 1)
	results := make(chan commitResult, 1)
	env := applyEnv{
		replica:   s.replica,
		clock:     s.clock,
		names:     s.names,
		reactions: s.reactions,
		items:     s.items,
		model:     s.model,
		wallClock: s.opts.WallClock,
		idemTTL:   s.opts.IdempotencyTTL,
		maxOps:    s.opts.MaxBatchOps,
		// Under Badger's transaction limits, with room to spare.
		maxCount: int(s.db.MaxBatchCount() * 8 / 10),
		maxBytes: int(s.db.MaxBatchSize() * 8 / 10),
		logger:   s.opts.Logger,
		snapshot: func() *badger.Txn { return s.db.NewTransaction(false) },
		publish:  s.publish,
		sealing:  s.model.sealing,
		discard:  s.model.discard,
	}
	s.applier = newApplier(env, s.opts.CacheKeys, s.lastSeq.Load()+1, s.queue, sealed, results)
	c := &committer{
		db:         s.db,
		names:      s.names,
		namesSaved: s.names.version(),
		checkSpace: s.CheckFreeSpace,
		fault:      s.opts.CommitFault,
		counts:     &s.commitCounts,
	}
	s.wg.Go(s.applier.run)
	s.wg.Go(func() { c.run(sealed, results) })
}

func badgerOptions(o Options) badger.Options {
	bo := badger.DefaultOptions(o.Dir).
		WithSyncWrites(true).
		WithDetectConflicts(false).
		WithMemTableSize(o.MemTableSize).
		WithNumMemtables(o.NumMemtables).
		WithBlockCacheSize(o.BlockCacheSize).
		WithIndexCacheSize(o.IndexCacheSize).
		WithNumCompactors(o.NumCompactors).
		WithMetricsEnabled(false).
		WithLogger(badgerLogger{o.Logger})
	if !o.Compression {
		bo = bo.WithCompression(options.None)
	}
	if o.MemTableSize < 64<<20 {
		bo = bo.WithValueLogFileSize(64 << 20).WithBaseTableSize(1 << 20)
	}
	// Badger refuses to open with a value threshold over its largest batch,
	// 15% of a memtable: the 4 MiB memtables of a small budget are under the
	// default's 1 MiB. The store's values are far smaller either way.
	if largest := o.MemTableSize * 15 / 100; bo.ValueThreshold > largest {
		bo = bo.WithValueThreshold(largest)
	}
	return bo
}

// recover reads what memory needs from disk: format, replica id (creating one for
// a new directory), last sequence and the clock's high-water mark.
func (s *Store) recover() error {
	return s.db.Update(func(txn *badger.Txn) error {
		format, err := getUint(txn, keyFormat)
		if err != nil {
			return err
		}
		switch {
		case format > formatVersion:
			return fmt.Errorf("%w: %d (this build reads %d)", ErrNewerFormat, format, formatVersion)
		case format == 1:
			// Version 1 kept no names: find them once, and keep them from now on.
			if err := s.names.rebuild(txn); err != nil {
				return err
			}
			if err := s.names.save(txn.Set); err != nil {
				return err
			}
			fallthrough
		case format == 2:
			fallthrough
		case format == 0:
			if err := txn.Set(keyFormat, codec.EncodeUint(formatVersion)); err != nil {
				return err
			}
		}
		if err := s.names.load(txn); err != nil {
			return err
		}
		if err := s.loadReplica(txn); err != nil {
			return err
		}
		seq, err := getUint(txn, keySeq)
		if err != nil {
			return err
		}
		s.lastSeq.Store(seq)
		return getValue(txn, keyHLC, func(v []byte) error {
			hw, err := codec.DecodeTimestamp(v)
			if err == nil {
				s.clock.Restore(hw)
			}
			return err
		})
	})
}

func (s *Store) loadReplica(txn *badger.Txn) error {
	err := getValue(txn, keyReplica, func(v []byte) error {
		if len(v) != 8 || binary.BigEndian.Uint64(v) == 0 {
			return errors.New("bad replica id")
		}
		s.replica = crdt.ReplicaID(binary.BigEndian.Uint64(v))
		return nil
	})
	if err != nil || s.replica != 0 {
		return err
	}
	var b [8]byte
	for binary.BigEndian.Uint64(b[:]) == 0 {
		rand.Read(b[:])
	}
	s.replica = crdt.ReplicaID(binary.BigEndian.Uint64(b[:]))
	s.opts.Logger.Info("persist: new replica", "replica", s.replica, "dir", s.opts.Dir)
	return txn.Set(keyReplica, b[:])
}

// Replica returns this store's replica id.
func (s *Store) Replica() crdt.ReplicaID { return s.replica }

// Clock returns the store's hybrid logical clock. Callers Observe causal tokens and
// remote timestamps on it; the store stamps reactions with it and persists its
// high-water mark with every batch.
func (s *Store) Clock() *crdt.Clock { return s.clock }

// LastSeq returns the sequence number of the last committed local mutation.
func (s *Store) LastSeq() uint64 { return s.lastSeq.Load() }

// Write applies local ops atomically — all in one batch, all or none — and returns
// once they are durable, with one Result per op. An error matching ErrInvalidOp or
// ErrIdempotencyConflict means nothing was applied; ErrCommitFailed means the batch
// failed to commit and nothing was applied. If ctx ends first, Write returns
// ctx.Err() and the ops may or may not be applied.
func (s *Store) Write(ctx context.Context, ops ...Op) ([]Result, error) {
	for i, op := range ops {
		if err := op.validate(); err != nil {
			return nil, fmt.Errorf("op %d: %w", i, err)
		}
	}
	r := newRequest(requestWrite)
	r.ops = ops
	if err := s.submit(ctx, r); err != nil {
		return nil, err
	}
	res := r.results
	r.release()
	return res, nil
}

// Merge joins a delta received from another replica, keeping tallies equal to the
// registers, and returns once the result is durable, with the keys that changed and
// their new states. A register whose timestamp is beyond the clock's max drift is
// not applied: Merge refuses that key alone, applies the rest and reports the
// refused keys in the result; the sender should keep them and offer them again
// later. Every timestamp it applies is first observed on the clock. Merging the
// same delta twice changes nothing the second time.
func (s *Store) Merge(ctx context.Context, d crdt.Delta) (MergeResult, error) {
	if err := validateDelta(d); err != nil {
		return MergeResult{}, err
	}
	in, refused, drift := admit(s.clock, d)
	r := newRequest(requestMerge)
	r.delta = in
	if err := s.submit(ctx, r); err != nil {
		return MergeResult{}, err
	}
	res := MergeResult{Changed: r.changed, Refused: refused, Drift: drift}
	r.release()
	return res, nil
}

func validateDelta(d crdt.Delta) error {
	for k := range d.Counters {
		if k.Item == "" || k.Name == "" {
			return fmt.Errorf("%w: counter key %q/%q", ErrInvalidOp, k.Item, k.Name)
		}
	}
	for k := range d.Registers {
		if k.Item == "" || k.User == "" {
			return fmt.Errorf("%w: register key %q/%q", ErrInvalidOp, k.Item, k.User)
		}
	}
	for k := range d.Idem {
		if k.Item == "" || k.Key == "" {
			return fmt.Errorf("%w: idempotency key %q/%q", ErrInvalidOp, k.Item, k.Key)
		}
	}
	return nil
}

// SetAcked records durably that peer has acknowledged every local mutation up to
// seq. Marks only move forward.
func (s *Store) SetAcked(ctx context.Context, peer crdt.ReplicaID, seq uint64) error {
	r := newRequest(requestAck)
	r.peer, r.peerSeq = peer, seq
	if err := s.submit(ctx, r); err != nil {
		return err
	}
	r.release()
	return nil
}

// submit queues r for the applier and waits until it is durable or failed.
func (s *Store) submit(ctx context.Context, r *request) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.closeMu.RLock()
	if s.closeMu.closed {
		s.closeMu.RUnlock()
		return ErrClosed
	}
	select {
	case s.queue <- r:
		s.closeMu.RUnlock()
	case <-ctx.Done():
		s.closeMu.RUnlock()
		return ctx.Err()
	}
	select {
	case <-r.done:
		return r.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// stopPipeline stops the sweeper, stops taking writes, lets the applier and
// committer finish everything queued and waits for them: all of Close but
// saving the digest and closing Badger.
func (s *Store) stopPipeline() {
	s.stopSweeper()
	s.sweeper.Wait()
	s.closeMu.Lock()
	s.closeMu.closed = true
	close(s.queue)
	s.closeMu.Unlock()
	s.wg.Wait()
}

// Close stops taking writes, commits everything already queued, waits for the
// store's goroutines and closes Badger. It is safe to call more than once.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.stopPipeline()
		s.saveDigest()
		if err := s.db.Close(); err != nil {
			s.closeErr = fmt.Errorf("persist: close: %w", translate(err))
		}
	})
	return s.closeErr
}

// badgerLogger sends Badger's warnings and errors to slog, and drops its chatter.
type badgerLogger struct{ l *slog.Logger }

func (b badgerLogger) Errorf(f string, args ...any)   { b.l.Error("badger: " + fmt.Sprintf(f, args...)) }
func (b badgerLogger) Warningf(f string, args ...any) { b.l.Warn("badger: " + fmt.Sprintf(f, args...)) }
func (b badgerLogger) Infof(string, ...any)           {}
func (b badgerLogger) Debugf(string, ...any)          {}
