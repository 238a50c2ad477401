package persist

import (
	"slices"
	"sync"
)

// The commit feed (DESIGN.md §5). Every committed batch is published once, on
// the applier goroutine, before its callers are released, in this order: the
// reaction and item filters take its keys and the read model its states; the
// last sequence and the digest move on; the channel Committed returned is
// closed; and every follower is called with the items it changed. Everything
// that shows the store's state — reads, live streams, sync senders — follows the feed, so
// nobody has to tell them of a write.

// Commit is what one committed batch changed, as the feed tells followers.
type Commit struct {
	// Items are the items whose counter values or reaction tallies the batch
	// changed, each once, in no particular order. The slice is the follower's
	// to keep.
	Items []string
	// LastSeq is the last local sequence committed, this batch included.
	LastSeq uint64
}

// followers is the feed's list of followers.
type followers struct {
	mu   sync.Mutex
	list []*func(Commit) // in the order they came; replaced, never changed
}

// Follow calls fn with every commit published from now on, in commit order,
// until the returned stop is called (stop is idempotent; once it returns, fn is
// not called again; fn must not call it). fn runs on the store's commit path
// and holds up every write while it runs: it must return at once, neither
// blocking nor calling the store's writes. A follower that needs to do more
// hands the items to its own goroutine.
func (s *Store) Follow(fn func(Commit)) (stop func()) {
	f, p := &s.followers, &fn
	f.mu.Lock()
	f.list = append(slices.Clip(f.list), p)
	f.mu.Unlock()
	return func() {
		f.mu.Lock()
		f.list = slices.DeleteFunc(slices.Clone(f.list), func(q *func(Commit)) bool { return q == p })
		f.mu.Unlock()
		// Wait out a publish that may be calling fn right now. Not under
		// f.mu: publish takes f.mu while it holds publishing.
		s.publishing.Lock()
		s.publishing.Unlock() //nolint:staticcheck // an empty critical section: a barrier
	}
}

// publish makes b, just committed, visible to everything that follows the
// feed. It runs on the applier goroutine, before b's callers are released.
func (s *Store) publish(b *batch) {
	s.publishing.Lock()
	defer s.publishing.Unlock()
	items := b.changedItems()
	// The filters first: the model asks the reaction filter under its lock
	// (readModel.readAt), so what the model holds must be in it already.
	for k := range b.registers {
		s.reactions.add(k)
	}
	// Items the item filter had ruled out had no counter and no tally before
	// b: b holds the whole of them, and the model takes them in as b leaves
	// them.
	var born []string
	for _, item := range items {
		if s.items.add(item) {
			born = append(born, item)
		}
	}
	s.model.apply(b, born)
	s.digest.Lock()
	if b.lastSeq != 0 {
		s.lastSeq.Store(b.lastSeq)
	}
	for bucket, x := range b.digest {
		s.digest.d[bucket] ^= x
	}
	close(s.digest.notify)
	s.digest.notify = make(chan struct{})
	s.digest.Unlock()

	s.followers.mu.Lock()
	list := s.followers.list
	s.followers.mu.Unlock()
	if len(list) == 0 || len(items) == 0 {
		return
	}
	c := Commit{Items: items, LastSeq: s.lastSeq.Load()}
	for i, fn := range list {
		if i > 0 {
			c.Items = slices.Clone(items)
		}
		(*fn)(c)
	}
}

// Committed returns a channel closed when the next batch commits: a sender waits
// on it for new local changes, then calls Committed again.
func (s *Store) Committed() <-chan struct{} {
	s.digest.Lock()
	defer s.digest.Unlock()
	return s.digest.notify
}
