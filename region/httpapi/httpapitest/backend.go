// Package httpapitest provides Backend, a hand-written in-memory fake of the
// peer the frontend API serves (httpapi.Backend), for tests of the API and of
// its callers that need no durable store, no mesh and no disk.
//
// Its state is a crdt.State, the reference the durable store is tested
// against; its writes are atomic and "durable" as soon as they return. The
// test sets what a mesh would decide — readiness, writability, replication
// progress of other replicas, the mesh status, a full disk, a failing commit —
// and plays the changes other peers would send with Merge.
package httpapitest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/countermesh/countermesh/crdt"
	"github.com/countermesh/countermesh/persist"
	"github.com/countermesh/countermesh/region"
)

// Config configures a Backend. Zero fields take the defaults named.
type Config struct {
	// Replica is the fake peer's replica id. Default 1.
	Replica crdt.ReplicaID
	// ReactionKinds are the reaction kinds in force. Default like and dislike.
	ReactionKinds []string
	// Wall is the wall clock of the peer's hybrid clock. Default time.Now.
	Wall func() time.Time
	// MaxDrift is how far ahead of Wall an observed timestamp may be. Default
	// crdt.DefaultMaxDrift.
	MaxDrift time.Duration
}

// Backend is an in-memory peer alone in its mesh: it implements every method
// of httpapi.Backend over a crdt.State, and lets the test set the rest. It is
// safe for concurrent use; no method blocks, and it starts no goroutine.
type Backend struct {
	replica crdt.ReplicaID
	kinds   []string
	clock   *crdt.Clock

	mu struct {
		sync.Mutex
		state     *crdt.State
		lastSeq   uint64
		committed chan struct{} // closed at the next commit
		ready     error
		writable  error
		freeSpace error // what CheckFreeSpace returns; writes fail with it too
		writeErr  error // every write fails with it, applying nothing
		applied   map[crdt.ReplicaID]uint64
		status    *region.MeshStatus
		follower  *func(items []string) // set by Follow
	}
}

// New returns an empty Backend configured by cfg.
func New(cfg Config) *Backend {
	if cfg.Replica == 0 {
		cfg.Replica = 1
	}
	if cfg.ReactionKinds == nil {
		cfg.ReactionKinds = []string{"like", "dislike"}
	}
	b := &Backend{replica: cfg.Replica, kinds: slices.Clone(cfg.ReactionKinds),
		clock: crdt.NewClock(cfg.Wall, cfg.MaxDrift)}
	b.mu.state = crdt.NewState(cfg.Replica)
	b.mu.committed = make(chan struct{})
	b.mu.applied = make(map[crdt.ReplicaID]uint64)
	return b
}

// Write applies ops atomically, as persist.Store.Write does: increments
// (idempotency keys honoured, replays and conflicts answered as the store
// does) and reactions stamped by the clock. It checks no more of the ops than
// the crdt rules do; the API validates them first. It fails with ctx's error
// when ctx has ended, with the error of SetFreeSpace or SetWriteErr when one
// is set, and applies nothing then.
func (b *Backend) Write(ctx context.Context, ops ...persist.Op) ([]persist.Result, error) {
	res, f, items, err := b.write(ctx, ops)
	if f != nil && len(items) > 0 {
		f(items)
	}
	return res, err
}

// write applies ops and returns the follower to tell of the items changed.
func (b *Backend) write(ctx context.Context, ops []persist.Op) (_ []persist.Result, f func([]string), items []string, _ error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	res, err := b.writeLocked(ops)
	if err != nil {
		return nil, nil, nil, err
	}
	for i, op := range ops {
		if (op.Kind == persist.OpAdd && !res[i].Replayed) || !res[i].Adjust.IsZero() {
			items = append(items, op.Item)
		}
	}
	if b.mu.follower != nil {
		f = *b.mu.follower
	}
	return res, f, items, nil
}

func (b *Backend) writeLocked(ops []persist.Op) ([]persist.Result, error) {
	if err := b.mu.writeErr; err != nil {
		return nil, fmt.Errorf("httpapitest: write: %w", err)
	}
	if err := b.mu.freeSpace; err != nil {
		return nil, fmt.Errorf("httpapitest: write: %w", err)
	}
	// Apply to a copy, kept only when every op succeeds: all or none.
	next := crdt.NewState(b.replica)
	next.Apply(b.mu.state.Full())
	seq := b.mu.lastSeq
	res := make([]persist.Result, len(ops))
	for i, op := range ops {
		var err error
		if res[i], err = b.apply(next, op); err != nil {
			return nil, fmt.Errorf("op %d: %w", i, err)
		}
		if !res[i].Replayed {
			seq++
			res[i].Seq = seq
		}
	}
	b.mu.state, b.mu.lastSeq = next, seq
	b.commitLocked()
	return res, nil
}

// apply applies one op to s; the caller numbers it.
func (b *Backend) apply(s *crdt.State, op persist.Op) (persist.Result, error) {
	switch op.Kind {
	case persist.OpAdd:
		if op.IdempotencyKey == "" {
			if _, err := s.Add(op.Item, op.Counter, op.By); err != nil {
				return persist.Result{}, fmt.Errorf("%s/%s: %w", op.Item, op.Counter, err)
			}
			return persist.Result{Value: value(s, op.Item, op.Counter)}, nil
		}
		_, replayed, err := s.AddOnce(op.Item, op.Counter, op.By, op.IdempotencyKey, b.clock.Now())
		if errors.Is(err, crdt.ErrIdemConflict) {
			return persist.Result{}, fmt.Errorf("%w: key %q: %w", persist.ErrIdempotencyConflict, op.IdempotencyKey, err)
		}
		if err != nil {
			return persist.Result{}, fmt.Errorf("%s/%s: %w", op.Item, op.Counter, err)
		}
		return persist.Result{Value: value(s, op.Item, op.Counter), Replayed: replayed}, nil
	case persist.OpReact:
		r := crdt.Register{Kind: op.Reaction, TS: b.clock.Now(), Replica: s.Replica()}
		_, adj := register(s, op.Item, op.User).Merge(r)
		s.SetReaction(op.Item, op.User, op.Reaction, r.TS)
		return persist.Result{Register: r, Adjust: adj}, nil
	}
	return persist.Result{}, fmt.Errorf("%w: unknown kind %d", persist.ErrInvalidOp, op.Kind)
}

// value returns the value of item's counter name in s.
func value(s *crdt.State, item, name string) int64 {
	if it := s.Item(item); it != nil {
		return it.Value(name)
	}
	return 0
}

// register returns user's register of item in s; zero if none.
func register(s *crdt.State, item, user string) crdt.Register {
	if it := s.Item(item); it != nil {
		return it.Registers[user]
	}
	return crdt.Register{}
}

// Merge joins d as changes merged from another peer: they become readable,
// the commit is published, and the follower (Follow) is called with the
// items that changed, as a peer does. It returns those items.
func (b *Backend) Merge(d crdt.Delta) []string {
	b.mu.Lock()
	changed := b.mu.state.Apply(d)
	b.commitLocked()
	var f func([]string)
	if b.mu.follower != nil {
		f = *b.mu.follower
	}
	b.mu.Unlock()
	seen := map[string]bool{}
	var items []string
	add := func(item string) {
		if !seen[item] {
			seen[item] = true
			items = append(items, item)
		}
	}
	for k := range changed.Counters {
		add(k.Item)
	}
	for k := range changed.Registers {
		add(k.Item)
	}
	if f != nil && len(items) > 0 {
		f(items)
	}
	return items
}

// commitLocked publishes a commit: Committed's channel closes.
func (b *Backend) commitLocked() {
	close(b.mu.committed)
	b.mu.committed = make(chan struct{})
}

// ReadItems reads items as persist.Store.ReadItems does, from the state as
// the last write or merge left it.
func (b *Backend) ReadItems(items []string, user string) ([]persist.ItemView, error) {
	views := make([]persist.ItemView, len(items))
	return views, b.ReadItemsInto(items, user, views)
}

// ReadItemsInto reads items into views as persist.Store.ReadItemsInto does,
// from the state as the last write or merge left it.
func (b *Backend) ReadItemsInto(items []string, user string, views []persist.ItemView) error {
	if len(views) != len(items) {
		return fmt.Errorf("httpapitest: %d views for %d items", len(views), len(items))
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for i, id := range items {
		v := &views[i]
		v.Counters, v.Tallies, v.User = emptied(v.Counters), emptied(v.Tallies), crdt.Register{}
		if it := b.mu.state.Item(id); it != nil {
			for name, c := range it.Counters {
				v.Counters[name] = c.Value()
			}
			maps.Copy(v.Tallies, it.Tallies)
			if user != "" {
				v.User = it.Registers[user]
			}
		}
	}
	return nil
}

// emptied returns m cleared, or a new map if m is nil.
func emptied[M ~map[string]int64](m M) M {
	if m == nil {
		return M{}
	}
	clear(m)
	return m
}

// Register returns user's register of item: what a test checks a reaction
// write stored.
func (b *Backend) Register(item, user string) crdt.Register {
	b.mu.Lock()
	defer b.mu.Unlock()
	return register(b.mu.state, item, user)
}

// LastSeq returns the sequence of the last local change written.
func (b *Backend) LastSeq() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.mu.lastSeq
}

// Replica returns the replica id of Config.Replica.
func (b *Backend) Replica() crdt.ReplicaID { return b.replica }

// WallMillis reads Config.Wall in milliseconds since the Unix epoch.
func (b *Backend) WallMillis() int64 { return b.clock.WallMillis() }

// LastTimestamp returns the highest timestamp the clock handed out or observed.
func (b *Backend) LastTimestamp() crdt.Timestamp { return b.clock.Last() }

// ObserveTimestamp observes ts on the clock, refusing it beyond the max drift.
func (b *Backend) ObserveTimestamp(ts crdt.Timestamp) error { return b.clock.Observe(ts) }

// Committed returns a channel closed at the next write or merge.
func (b *Backend) Committed() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.mu.committed
}

// CheckFreeSpace returns the error SetFreeSpace set; nil by default.
func (b *Backend) CheckFreeSpace() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.mu.freeSpace
}

// SetFreeSpace sets what CheckFreeSpace returns: an error matching
// persist.ErrDiskFull plays a disk below the store's reserve, and writes fail
// with it too. Nil frees the disk.
func (b *Backend) SetFreeSpace(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.mu.freeSpace = err
}

// SetWriteErr makes every write fail with err (wrapped), applying nothing —
// persist.ErrCommitFailed plays a failing disk. Nil ends it.
func (b *Backend) SetWriteErr(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.mu.writeErr = err
}

// DiskSize returns zero: the fake takes no disk.
func (b *Backend) DiskSize() (lsm, vlog int64) { return 0, 0 }

// CommitStats returns no commit: the fake commits nothing to a disk.
func (b *Backend) CommitStats() persist.CommitStats {
	return persist.CommitStats{}
}

// Status returns the status SetStatus set; by default that of a peer alone in
// its mesh, with its replica and last sequence.
func (b *Backend) Status() region.MeshStatus {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.mu.status != nil {
		return *b.mu.status
	}
	replica := b.replica.String()
	return region.MeshStatus{Mesh: "fake", Self: "fake-1", Region: "fake", Replica: replica, LastSeq: b.mu.lastSeq,
		Regions: []region.RegionStatus{{Name: "fake", Peers: []region.PeerStatus{
			{Name: "fake-1", Self: true, Membership: "alive", Replica: replica}}}}}
}

// SetStatus sets what Status returns.
func (b *Backend) SetStatus(s region.MeshStatus) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.mu.status = &s
}

// Ready returns the error SetReady set; nil by default.
func (b *Backend) Ready() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.mu.ready
}

// SetReady sets what Ready returns.
func (b *Backend) SetReady(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.mu.ready = err
}

// Writable returns the error SetWritable set; nil by default.
func (b *Backend) Writable() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.mu.writable
}

// SetWritable sets what Writable returns: the API refuses writes while it is
// not nil.
func (b *Backend) SetWritable(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.mu.writable = err
}

// Applied returns LastSeq for the fake's own replica, and for another the
// sequence SetApplied set (0 by default).
func (b *Backend) Applied(r crdt.ReplicaID) uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	if r == b.replica {
		return b.mu.lastSeq
	}
	return b.mu.applied[r]
}

// SetApplied sets how far the changes of replica r are readable here, and
// publishes a commit, as a merge of them would.
func (b *Backend) SetApplied(r crdt.ReplicaID, seq uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.mu.applied[r] = seq
	b.commitLocked()
}

// ReactionKinds returns Config.ReactionKinds.
func (b *Backend) ReactionKinds() []string { return slices.Clone(b.kinds) }

// Follow sets the function every commit — Write, Merge — calls with the items
// it changed, after the commit is published and outside the Backend's lock;
// Changed calls it too. One follower at a time: a later Follow replaces it.
// stop removes f if it is still the follower.
func (b *Backend) Follow(f func(items []string)) (stop func()) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.mu.follower = &f
	return func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		if b.mu.follower == &f {
			b.mu.follower = nil
		}
	}
}

// Changed tells the follower that items changed, without changing anything:
// a notification alone.
func (b *Backend) Changed(items ...string) {
	b.mu.Lock()
	var f func([]string)
	if b.mu.follower != nil {
		f = *b.mu.follower
	}
	b.mu.Unlock()
	if f != nil {
		f(items)
	}
}
