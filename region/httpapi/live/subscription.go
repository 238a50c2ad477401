package live

import "sync/atomic"

// Subscription is one subscriber's view of one item: a one-slot mailbox holding
// the latest SSE event not yet received. Create it with Hub.Subscribe; the
// subscriber (typically one HTTP handler goroutine) receives from C and calls
// Close when it leaves.
type Subscription struct {
	st     *itemState  // nil for a subscription born closed
	ch     chan []byte // cap 1; sent to and closed only under st.mu
	closed atomic.Bool // Close was called

	// Guarded by st.mu.
	idx   int    // position in st.mu.subs or st.mu.fresh
	next  uint64 // 1 + the generation of the last frame offered; 0 before any
	flags subscriberFlags
}

// subscriberFlags are a subscription's place in its item.
type subscriberFlags struct {
	greeted  bool // in st.mu.subs, else in st.mu.fresh
	released bool // ch is closed
}

// Subscribe subscribes to item's live state. The first event on C is the item's
// current state, delivered as soon as Run gets to it (at once if the hub already
// holds a current encoding); after that, at most one event per Config.Interval,
// each the latest state, while the item changes. It returns
// ErrTooManySubscribers if the hub holds Config.MaxSubscribers subscriptions
// already. If Run has returned, the subscription's C is already closed. Any
// goroutine may call it; it never waits for Run.
func (h *Hub) Subscribe(item string) (*Subscription, error) {
	h.mu.Lock()
	if h.mu.stopped {
		h.mu.Unlock()
		s := &Subscription{ch: make(chan []byte)}
		s.closed.Store(true)
		close(s.ch)
		return s, nil
	}
	if h.mu.n >= h.cfg.MaxSubscribers {
		h.mu.Unlock()
		return nil, ErrTooManySubscribers
	}
	h.mu.n++
	st := h.mu.items[item]
	if st == nil {
		st = &itemState{key: item, hub: h}
		h.mu.items[item] = st
	}
	st.refs++
	gen := st.gen
	h.mu.Unlock()

	s := &Subscription{st: st, ch: make(chan []byte, 1)}
	st.mu.Lock()
	switch {
	case st.mu.closed: // Run returned meanwhile
		s.release()
		st.mu.Unlock()
		return s, nil
	case st.mu.frame != nil && st.mu.frameGen == gen:
		// Nothing was notified since this frame's Encode began: it is the
		// current state.
		s.idx, s.flags.greeted = len(st.mu.subs), true
		st.mu.subs = append(st.mu.subs, s)
		s.offer(st.mu.frame, st.mu.frameGen)
		st.mu.Unlock()
		return s, nil
	}
	s.idx = len(st.mu.fresh)
	st.mu.fresh = append(st.mu.fresh, s)
	st.mu.Unlock()

	h.mu.Lock()
	if !st.greeting {
		st.greeting = true
		h.mu.greet = append(h.mu.greet, st)
	}
	h.mu.Unlock()
	select {
	case h.wake <- struct{}{}:
	default: // Run has a wake-up pending already
	}
	return s, nil
}

// C returns the channel of the subscription's events, each one SSE-framed
// ("event: item\ndata: <json>\n\n") and shared with other subscribers: the
// receiver must not change it. C is closed by Close and when Run returns.
func (s *Subscription) C() <-chan []byte { return s.ch }

// Close ends the subscription: it frees its slot in the hub, drops it from its
// item and closes C. It is idempotent and safe from any goroutine; it may wait
// for a delivery to the item in progress, never for a tick.
func (s *Subscription) Close() {
	if s.closed.Swap(true) || s.st == nil {
		return
	}
	st := s.st
	h := st.hub
	h.mu.Lock()
	if !h.mu.stopped {
		h.mu.n--
	}
	st.refs--
	if st.refs == 0 && h.mu.items[st.key] == st {
		delete(h.mu.items, st.key)
	}
	h.mu.Unlock()

	st.mu.Lock()
	defer st.mu.Unlock()
	if s.flags.released {
		return // the hub stopped
	}
	if s.flags.greeted {
		st.mu.subs = removeAt(st.mu.subs, s.idx)
	} else {
		st.mu.fresh = removeAt(st.mu.fresh, s.idx)
	}
	s.release()
}

// offer puts frame in the mailbox, replacing an event not yet received, unless
// the subscriber was offered this generation already. It never blocks: the hub
// is the only sender and holds st.mu, so once the slot is emptied the send
// succeeds. st.mu must be held.
func (s *Subscription) offer(frame []byte, gen uint64) {
	if s.next == gen+1 {
		return
	}
	s.next = gen + 1
	select {
	case s.ch <- frame:
		return
	default:
	}
	select {
	case <-s.ch: // the stale state, skipped
	default: // the subscriber took it meanwhile
	}
	s.ch <- frame
}

// release closes C once; st.mu must be held (or s never shared).
func (s *Subscription) release() {
	if !s.flags.released {
		s.flags.released = true
		close(s.ch)
	}
}

// removeAt removes list[i] by moving the last element into its place, fixing
// that element's idx; the caller holds the item's lock.
func removeAt(list []*Subscription, i int) []*Subscription {
	last := len(list) - 1
	if i != last {
		list[i] = list[last]
		list[i].idx = i
	}
	list[last] = nil
	return list[:last]
}
