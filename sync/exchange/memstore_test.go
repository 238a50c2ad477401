package exchange_test

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"sync"
	"time"

	"github.com/countermesh/countermesh/crdt"
	"github.com/countermesh/countermesh/crdt/digest"
	"github.com/countermesh/countermesh/persist"
	"github.com/countermesh/countermesh/sync/exchange"
)

// memStore is an exchange.Store held in memory over a crdt.State, for testing
// the exchange end to end without Badger. Local writes (add, react) commit a
// sequence and enter the change log; Merge joins a remote delta, refusing the
// register keys whose timestamps are beyond its clock's max drift, as
// *persist.Store does. It is safe for concurrent use.
type memStore struct {
	mu        sync.Mutex
	state     *crdt.State
	clock     *crdt.Clock
	log       exchange.ChangeLog
	trimmed   uint64 // the change log holds nothing at or before it
	lastSeq   uint64
	committed chan struct{}
	acked     map[crdt.ReplicaID]uint64
}

var _ exchange.Store = (*memStore)(nil)

// newMemStore returns an empty store of replica r whose clock reads wall and
// refuses remote timestamps more than maxDrift ahead of it.
func newMemStore(r crdt.ReplicaID, wall func() time.Time, maxDrift time.Duration) *memStore {
	return &memStore{state: crdt.NewState(r), clock: crdt.NewClock(wall, maxDrift),
		committed: make(chan struct{}), acked: map[crdt.ReplicaID]uint64{}}
}

// commitLocked records a local write's delta as the next sequence and wakes
// the waiters of Committed.
func (s *memStore) commitLocked(d crdt.Delta) {
	s.lastSeq++
	var keys crdt.KeySet
	keys.AddDelta(d)
	s.log.Commit(s.lastSeq, keys)
	close(s.committed)
	s.committed = make(chan struct{})
}

// add adds by to the counter name of item, as a local write.
func (s *memStore) add(item, name string, by int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, err := s.state.Add(item, name, by)
	if err == nil {
		s.commitLocked(d)
	}
	return err
}

// react sets user's reaction to item at the store's clock, as a local write.
func (s *memStore) react(item, user, kind string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.commitLocked(s.state.SetReaction(item, user, kind, s.clock.Now()))
}

// counter returns the value of item's counter name.
func (s *memStore) counter(item, name string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if it := s.state.Item(item); it != nil {
		return it.Counters[name].Value()
	}
	return 0
}

// reaction returns user's reaction to item (crdt.None if none).
func (s *memStore) reaction(item, user string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if it := s.state.Item(item); it != nil {
		return it.Registers[user].Kind
	}
	return crdt.None
}

// sameState reports whether s and o hold the same replicated state.
func (s *memStore) sameState(o *memStore) bool {
	s.mu.Lock()
	d := s.state.Full()
	s.mu.Unlock()
	o.mu.Lock()
	defer o.mu.Unlock()
	return d.Equal(o.state.Full())
}

func (s *memStore) Replica() crdt.ReplicaID { return s.state.Replica() }

func (s *memStore) LastSeq() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastSeq
}

func (s *memStore) Committed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.committed
}

func (s *memStore) Changes(after uint64, maxKeys int) (crdt.KeySet, uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.Changes(after, maxKeys)
}

func (s *memStore) LogStart() (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.trimmed + 1, nil
}

func (s *memStore) TrimLog(upTo uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	upTo = min(upTo, s.lastSeq)
	s.log.Trim(upTo)
	s.trimmed = max(s.trimmed, upTo)
	return nil
}

func (s *memStore) State(keys crdt.KeySet) (crdt.Delta, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var d crdt.Delta
	for k := range keys.Counters {
		if it := s.state.Item(k.Item); it != nil {
			if c, ok := it.Counters[k.Name]; ok {
				d.JoinCounter(k, c)
			}
		}
	}
	for k := range keys.Registers {
		if it := s.state.Item(k.Item); it != nil {
			if r, ok := it.Registers[k.User]; ok {
				d.JoinRegister(k, r)
			}
		}
	}
	for k := range keys.Idem {
		if rec, ok := s.state.Idem(k); ok {
			d.JoinIdem(k, rec)
		}
	}
	return d, nil
}

func (s *memStore) Merge(ctx context.Context, d crdt.Delta) (persist.MergeResult, error) {
	if err := ctx.Err(); err != nil {
		return persist.MergeResult{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var res persist.MergeResult
	in := d
	in.Registers = map[crdt.RegisterKey]crdt.Register{}
	for k, r := range d.Registers {
		var drift *crdt.DriftError
		if err := s.clock.Observe(r.TS); errors.As(err, &drift) {
			res.Refused.AddRegister(k)
			if res.Drift == nil || res.Drift.Remote.Before(drift.Remote) {
				res.Drift = drift
			}
			continue
		}
		in.Registers[k] = r
	}
	res.Changed = s.state.Apply(in)
	return res, nil
}

func (s *memStore) Acked(peer crdt.ReplicaID) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.acked[peer], nil
}

func (s *memStore) SetAcked(ctx context.Context, peer crdt.ReplicaID, seq uint64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.acked[peer] = max(s.acked[peer], seq)
	return nil
}

// DigestAt computes the digest from the whole state. Its entry hashes are its
// own, not persist's: memStores compare digests only with each other.
func (s *memStore) DigestAt() (*digest.Digest, uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var dg digest.Digest
	hash := func(item string, entry any) {
		h := fnv.New64a()
		fmt.Fprintf(h, "%#v", entry)
		dg[digest.BucketOf(item)] ^= h.Sum64()
	}
	full := s.state.Full()
	for k, c := range full.Counters {
		for _, r := range c.Replicas() {
			hash(k.Item, []any{k, r, c.Entry(r)})
		}
	}
	for k, r := range full.Registers {
		hash(k.Item, []any{k, r})
	}
	for k, rec := range full.Idem {
		hash(k.Item, []any{k, rec})
	}
	return &dg, s.lastSeq
}

func (s *memStore) BucketStates(buckets []int, maxKeys int, fn func(crdt.Delta) error) error {
	s.mu.Lock()
	full := s.state.Full()
	s.mu.Unlock()
	want := map[int]bool{}
	for _, b := range buckets {
		want[b] = true
	}
	var chunk crdt.Delta
	flush := func() error {
		if chunk.Len() == 0 {
			return nil
		}
		err := fn(chunk)
		chunk = crdt.Delta{}
		return err
	}
	add := func(item string, join func(*crdt.Delta)) error {
		if !want[digest.BucketOf(item)] {
			return nil
		}
		if join(&chunk); chunk.Len() >= maxKeys {
			return flush()
		}
		return nil
	}
	for k, c := range full.Counters {
		if err := add(k.Item, func(d *crdt.Delta) { d.JoinCounter(k, c) }); err != nil {
			return err
		}
	}
	for k, r := range full.Registers {
		if err := add(k.Item, func(d *crdt.Delta) { d.JoinRegister(k, r) }); err != nil {
			return err
		}
	}
	for k, rec := range full.Idem {
		if err := add(k.Item, func(d *crdt.Delta) { d.JoinIdem(k, rec) }); err != nil {
			return err
		}
	}
	return flush()
}
