package live

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"
)

// ErrTooManySubscribers is returned by Hub.Subscribe when the hub already holds
// Config.MaxSubscribers subscriptions.
var ErrTooManySubscribers = errors.New("live: too many subscribers")

// errRunTwice is returned by a second call of Hub.Run.
var errRunTwice = errors.New("live: hub already ran")

const (
	defaultInterval       = 100 * time.Millisecond
	defaultMaxSubscribers = 20_000
)

// Config configures a Hub. The zero value of every field but Encode means its
// default.
type Config struct {
	// Interval is the tick of the hub: a subscriber receives at most one state
	// of its item per Interval (after its first state). Default 100 ms.
	Interval time.Duration

	// MaxSubscribers bounds the hub's open subscriptions (one hub per peer).
	// Default 20,000.
	MaxSubscribers int

	// Encode reads the item's current state and returns its JSON, on one line.
	// Required. The hub calls it from Run's goroutine only, one call at a time,
	// once per item per tick however many subscribers the item has — plus, when
	// new subscribers arrive after a change that has not been encoded yet, one
	// call shared by all of them to greet them with the current state. The
	// returned bytes are shared by every subscriber and must not be changed
	// afterwards. An error is logged and the item retried at the next tick.
	Encode func(item string) ([]byte, error)

	// Logger receives the hub's logs. Default slog.Default().
	Logger *slog.Logger
}

// withDefaults returns a copy of c with defaults filled in; c is not changed.
func (c Config) withDefaults() Config {
	if c.Interval <= 0 {
		c.Interval = defaultInterval
	}
	if c.MaxSubscribers <= 0 {
		c.MaxSubscribers = defaultMaxSubscribers
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Hub fans the live state of items out to their subscribers. Create it with
// NewHub and run it with Run; its methods are safe for concurrent use.
type Hub struct {
	cfg  Config
	wake chan struct{} // cap 1: new subscribers wait for their first state

	// mu guards the item index and the work queues. It is held only for map
	// look-ups and flag flips, never across Encode or a delivery, so Notify
	// stays cheap while Run fans a state out.
	mu struct {
		sync.Mutex
		items   map[string]*itemState // items with at least one subscription
		n       int                   // open subscriptions
		due     []*itemState          // items the next tick must look at
		greet   []*itemState          // items with subscribers awaiting their first state
		running bool                  // Run was called
		stopped bool                  // Run returned: every subscription is released
	}

	// Owned by Run's goroutine.
	spare []*itemState // the previous queue, reused
	jobs  []job
}

// itemState is the fan-out state of one item.
type itemState struct {
	key string
	hub *Hub

	// Guarded by Hub.mu.
	refs     int    // subscriptions of the item; at zero it leaves Hub.mu.items
	gen      uint64 // counts Notify calls: a frame whose Encode started at gen is current
	due      bool   // in Hub.mu.due
	greeting bool   // in Hub.mu.greet

	// mu guards the subscriber lists and the latest frame; Run holds it while it
	// delivers a frame to the item's subscribers.
	mu struct {
		sync.Mutex
		subs     []*Subscription // greeted: they receive every tick's state
		fresh    []*Subscription // waiting for their first state
		frame    []byte          // the latest framed state; nil before the first Encode
		frameGen uint64          // the gen at which frame's Encode started
		closed   bool            // the hub stopped: subscriptions arriving now are closed
	}
}

// job is one item Run publishes in a pass, with its generation when the pass
// began.
type job struct {
	st  *itemState
	gen uint64
}

// NewHub returns a hub for cfg; the caller's cfg is not changed. It panics if
// cfg.Encode is nil. Nothing is delivered until Run is called.
func NewHub(cfg Config) *Hub {
	if cfg.Encode == nil {
		panic("live: Config.Encode is nil")
	}
	h := &Hub{cfg: cfg.withDefaults(), wake: make(chan struct{}, 1)}
	h.mu.items = make(map[string]*itemState)
	return h
}

// Run is the hub's one goroutine: it encodes and delivers states until ctx ends,
// then releases every subscription (closing its C) and returns nil. Subscriptions
// made after that get an already closed C. Call Run once; a second call returns
// an error at once.
func (h *Hub) Run(ctx context.Context) error {
	h.mu.Lock()
	if h.mu.running {
		h.mu.Unlock()
		return errRunTwice
	}
	h.mu.running = true
	h.mu.Unlock()
	defer h.stop()

	t := time.NewTicker(h.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			h.tick()
		case <-h.wake:
			h.greetFresh()
		}
	}
}

// Notify marks items as changed, by a local write or a remote one. Their new
// state reaches their subscribers at the hub's next tick. Items without
// subscribers are ignored. Notify never blocks on Run or on subscribers, and may
// be called from any goroutine, with or without Run.
func (h *Hub) Notify(items ...string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, item := range items {
		st := h.mu.items[item]
		if st == nil {
			continue
		}
		st.gen++
		h.markDueLocked(st)
	}
}

// Subscribers returns the number of open subscriptions.
func (h *Hub) Subscribers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.mu.n
}

// markDueLocked queues st for the next tick.
func (h *Hub) markDueLocked(st *itemState) {
	if !st.due {
		st.due = true
		h.mu.due = append(h.mu.due, st)
	}
}

// tick delivers the current state of every item notified since the last tick
// to all of its subscribers, greeted or not, encoding it unless a greeting
// already did. Run's goroutine only.
func (h *Hub) tick() {
	h.mu.Lock()
	queue := h.mu.due
	h.mu.due = h.spare[:0]
	for _, st := range queue {
		st.due = false
	}
	h.runJobsUnlock(queue, true)
	clear(queue)
	h.spare = queue
}

// greetFresh gives subscribers waiting for their first state the item's current
// state: the latest frame if no change was notified since its Encode started,
// otherwise a new Encode shared by all of them (the next tick then delivers that
// frame to the others without encoding again). Run's goroutine only.
func (h *Hub) greetFresh() {
	h.mu.Lock()
	queue := h.mu.greet
	h.mu.greet = nil
	for _, st := range queue {
		st.greeting = false
	}
	h.runJobsUnlock(queue, false)
}

// runJobsUnlock snapshots the generation of every queued item that still has
// subscriptions, releases Hub.mu, and publishes them. Hub.mu must be held.
func (h *Hub) runJobsUnlock(queue []*itemState, all bool) {
	jobs := h.jobs[:0]
	for _, st := range queue {
		if st.refs > 0 {
			jobs = append(jobs, job{st: st, gen: st.gen})
		}
	}
	h.mu.Unlock()
	for _, j := range jobs {
		h.publish(j, all)
	}
	clear(jobs)
	h.jobs = jobs
}

// publish encodes j's item unless its latest frame is current, then delivers
// the frame to its fresh subscribers (which become greeted) and, with all, to
// every greeted subscriber that does not have it yet. An Encode error is logged
// and the item retried at the next tick. Run's goroutine only.
func (h *Hub) publish(j job, all bool) {
	st := j.st
	st.mu.Lock()
	current := st.mu.frame != nil && st.mu.frameGen == j.gen
	idle := len(st.mu.fresh) == 0 && (!all || len(st.mu.subs) == 0)
	st.mu.Unlock()
	if idle {
		return
	}

	var frame []byte
	if !current {
		data, err := h.cfg.Encode(st.key)
		if err != nil {
			h.cfg.Logger.Warn("live: encode item", "item", st.key, "err", err)
			h.mu.Lock()
			h.markDueLocked(st)
			h.mu.Unlock()
			return
		}
		frame = frameEvent(data)
	}

	st.mu.Lock()
	defer st.mu.Unlock()
	if st.mu.closed {
		return
	}
	if frame != nil {
		st.mu.frame, st.mu.frameGen = frame, j.gen
	}
	frame, gen := st.mu.frame, st.mu.frameGen
	from := len(st.mu.subs)
	for _, s := range st.mu.fresh {
		s.idx, s.flags.greeted = len(st.mu.subs), true
		st.mu.subs = append(st.mu.subs, s)
	}
	clear(st.mu.fresh)
	st.mu.fresh = st.mu.fresh[:0]
	if all {
		from = 0
	}
	for _, s := range st.mu.subs[from:] {
		s.offer(frame, gen)
	}
}

// frameEvent frames one JSON state as an SSE "item" event. JSON holds no raw line
// breaks but may end with one (json.Encoder adds it); should one appear inside,
// each line becomes its own data line, which SSE joins back with "\n", JSON
// whitespace.
func frameEvent(data []byte) []byte {
	const head, tail = "event: item\ndata: ", "\n\n"
	data = bytes.TrimRight(data, " \t\r\n")
	if !bytes.ContainsAny(data, "\r\n") {
		b := make([]byte, 0, len(head)+len(data)+len(tail))
		b = append(b, head...)
		b = append(b, data...)
		return append(b, tail...)
	}
	b := []byte("event: item\n")
	for _, line := range bytes.FieldsFunc(data, func(r rune) bool { return r == '\r' || r == '\n' }) {
		b = append(b, "data: "...)
		b = append(b, line...)
		b = append(b, '\n')
	}
	return append(b, '\n')
}

// stop releases every subscription: their C close, Subscribers drops to zero and
// later subscriptions are born closed. Called once, by Run as it returns.
func (h *Hub) stop() {
	h.mu.Lock()
	h.mu.stopped = true
	h.mu.n = 0
	items := make([]*itemState, 0, len(h.mu.items))
	for _, st := range h.mu.items {
		items = append(items, st)
	}
	h.mu.Unlock()

	for _, st := range items {
		st.mu.Lock()
		st.mu.closed = true
		for _, s := range st.mu.subs {
			s.release()
		}
		for _, s := range st.mu.fresh {
			s.release()
		}
		st.mu.subs, st.mu.fresh, st.mu.frame = nil, nil, nil
		st.mu.Unlock()
	}
}
