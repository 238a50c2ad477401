package live

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/countermesh/countermesh/tests/testkit"
)

// A burst of 1,000 changes reaches 1,000 subscribers as one final state, encoded
// once.
func TestBurstReachesEverySubscriberOnce(t *testing.T) {
	bubble(t, func(t *testing.T) {
		st := newStore()
		h := newTestHub(st, 0)
		defer runHub(t, h)()

		subs := make([]*Subscription, 1000)
		for i := range subs {
			subs[i] = subscribe(t, h, "a")
		}
		synctest.Wait()
		for _, s := range subs {
			if got := string(recvNow(t, s)); got != event("a", 0) {
				t.Fatalf("first event %q, want %q", got, event("a", 0))
			}
		}
		if n := len(st.encodeTimes("a")); n != 1 {
			t.Fatalf("%d Encodes to greet 1,000 subscribers, want 1", n)
		}

		for i := 1; i <= 1000; i++ {
			st.set("a", i)
			h.Notify("a")
		}
		time.Sleep(tick)
		synctest.Wait()
		for _, s := range subs {
			if got := string(recvNow(t, s)); got != event("a", 1000) {
				t.Fatalf("after the burst got %q, want %q", got, event("a", 1000))
			}
			expectNone(t, s)
		}
		times := st.encodeTimes("a")
		if len(times) != 2 {
			t.Fatalf("%d Encodes for the greeting and one burst, want 2", len(times))
		}
		assertSpaced(t, "Encodes", times, tick)
	})
}

// A subscriber that never reads neither delays the others nor gets stale states:
// when it reads at last, it gets the latest.
func TestStalledSubscriberSkipsToLatest(t *testing.T) {
	bubble(t, func(t *testing.T) {
		st := newStore()
		h := newTestHub(st, 0)
		stopHub := runHub(t, h)

		stalled := subscribe(t, h, "a")
		var readers []<-chan []received
		for range 100 {
			readers = append(readers, reader(t, subscribe(t, h, "a")))
		}
		synctest.Wait()

		changed := map[int]time.Time{0: time.Now()}
		for v := 1; v <= 20; v++ {
			time.Sleep(tick / 3) // between ticks
			st.set("a", v)
			changed[v] = time.Now()
			h.Notify("a")
			time.Sleep(tick - tick/3)
		}
		time.Sleep(tick)
		synctest.Wait()

		if got := string(recvNow(t, stalled)); got != event("a", 20) {
			t.Fatalf("stalled subscriber read %q, want the latest %q", got, event("a", 20))
		}
		expectNone(t, stalled)

		stopHub()
		for _, r := range readers {
			got := readAll(t, r)
			if len(got) != 21 {
				t.Fatalf("reader got %d states, want 21: %v", len(got), got)
			}
			for i, g := range got {
				if g.v != i {
					t.Fatalf("state %d is v=%d, want %d", i, g.v, i)
				}
				if lat := g.at.Sub(changed[g.v]); lat > tick {
					t.Fatalf("state %d arrived after %v, want ≤ %v", i, lat, tick)
				}
			}
		}
	})
}

// The first event is the current state, at once — from a fresh Encode when the
// item changed since the last one, shared by subscribers that arrive together.
func TestFirstEventIsCurrentState(t *testing.T) {
	bubble(t, func(t *testing.T) {
		st := newStore()
		st.set("a", 5)
		h := newTestHub(st, 0)
		early := make([]*Subscription, 50)
		for i := range early {
			early[i] = subscribe(t, h, "a") // before Run: all greeted by one Encode
		}
		start := time.Now()
		defer runHub(t, h)()
		synctest.Wait()
		for _, s := range early {
			if got := string(recvNow(t, s)); got != event("a", 5) {
				t.Fatalf("first event %q, want %q", got, event("a", 5))
			}
		}
		if n := len(st.encodeTimes("a")); n != 1 {
			t.Fatalf("%d Encodes for 50 subscribers arriving together, want 1", n)
		}

		// Changed, not yet encoded: a newcomer gets the new state now, the
		// others at the next tick.
		st.set("a", 6)
		h.Notify("a")
		late := subscribe(t, h, "a")
		synctest.Wait()
		if got := string(recvNow(t, late)); got != event("a", 6) {
			t.Fatalf("newcomer after a change got %q, want %q", got, event("a", 6))
		}
		if since := time.Since(start); since != 0 {
			t.Fatalf("newcomer waited %v", since)
		}
		expectNone(t, early[0])
		time.Sleep(tick)
		synctest.Wait()
		for _, s := range early {
			if got := string(recvNow(t, s)); got != event("a", 6) {
				t.Fatalf("at the tick got %q, want %q", got, event("a", 6))
			}
		}
		expectNone(t, late) // it has this state already
		if n := len(st.encodeTimes("a")); n != 2 {
			t.Fatalf("%d Encodes, want 2: the tick reuses the newcomer's", n)
		}

		// Unchanged since the last Encode: the newcomer gets that frame
		// without waiting for Run.
		cached := subscribe(t, h, "a")
		if got := string(recvNow(t, cached)); got != event("a", 6) {
			t.Fatalf("newcomer with no change got %q, want %q", got, event("a", 6))
		}
		if n := len(st.encodeTimes("a")); n != 2 {
			t.Fatalf("%d Encodes, want still 2", n)
		}
	})
}

// However fast an item changes, a subscriber gets at most one state per
// Interval, Encode runs at most once per tick, and the last state arrives.
func TestAtMostOneStatePerInterval(t *testing.T) {
	bubble(t, func(t *testing.T) {
		st := newStore()
		h := newTestHub(st, 0)
		stopHub := runHub(t, h)
		got := reader(t, subscribe(t, h, "a"))
		synctest.Wait()

		const changes = 300
		for v := 1; v <= changes; v++ {
			time.Sleep(7 * time.Millisecond)
			st.set("a", v)
			h.Notify("a")
		}
		time.Sleep(2 * tick)
		synctest.Wait()
		stopHub()

		states := readAll(t, got)
		var times []time.Time
		for _, s := range states {
			times = append(times, s.at)
		}
		assertSpaced(t, "states", times, tick)
		assertSpaced(t, "Encodes", st.encodeTimes("a"), tick)
		if last := states[len(states)-1].v; last != changes {
			t.Fatalf("last state v=%d, want %d", last, changes)
		}
		if want := changes*7*time.Millisecond/tick + 2; len(states) > int(want) {
			t.Fatalf("%d states over %d ticks", len(states), want)
		}
	})
}

// A subscriber gets its own item's events only.
func TestSubscriberGetsOnlyItsItem(t *testing.T) {
	bubble(t, func(t *testing.T) {
		st := newStore()
		h := newTestHub(st, 0)
		stopHub := runHub(t, h)
		items := []string{"a", "b", "c"}
		got := map[string][]<-chan []byte{}
		for _, item := range items {
			for range 10 {
				s := subscribe(t, h, item)
				ch := make(chan []byte, 100)
				go func() {
					for b := range s.C() {
						ch <- b
					}
					close(ch)
				}()
				got[item] = append(got[item], ch)
			}
		}
		time.Sleep(tick / 2) // change between ticks
		for v := 1; v <= 5; v++ {
			st.set("a", v)
			st.set("b", v) // changed but not notified: not sent
			h.Notify("a", "unknown")
			time.Sleep(tick)
		}
		stopHub()

		for _, item := range items {
			want := 1
			if item == "a" {
				want = 6
			}
			for _, ch := range got[item] {
				var n int
				for _, b := range receiveAll(t, ch) {
					n++
					if !bytes.Contains(b, fmt.Appendf(nil, `"item":%q`, item)) {
						t.Fatalf("subscriber of %q got %q", item, b)
					}
				}
				if n != want {
					t.Fatalf("subscriber of %q got %d events, want %d", item, n, want)
				}
			}
		}
		if n := len(st.encodeTimes("unknown")); n != 0 {
			t.Fatalf("Encode ran %d times for an item without subscribers", n)
		}
	})
}

// MaxSubscribers bounds the hub; Close frees the slot, once however often it is
// called, and closes C.
func TestMaxSubscribers(t *testing.T) {
	h := newTestHub(newStore(), 3)
	subs := []*Subscription{subscribe(t, h, "a"), subscribe(t, h, "a"), subscribe(t, h, "b")}
	if _, err := h.Subscribe("c"); !errors.Is(err, ErrTooManySubscribers) {
		t.Fatalf("4th Subscribe: %v, want ErrTooManySubscribers", err)
	}
	if n := h.Subscribers(); n != 3 {
		t.Fatalf("Subscribers() = %d, want 3", n)
	}
	subs[0].Close()
	subs[0].Close()
	if n := h.Subscribers(); n != 2 {
		t.Fatalf("after closing one twice, Subscribers() = %d, want 2", n)
	}
	if _, ok := <-subs[0].C(); ok {
		t.Fatal("C open after Close")
	}
	subs[0] = subscribe(t, h, "c")
	if _, err := h.Subscribe("c"); !errors.Is(err, ErrTooManySubscribers) {
		t.Fatalf("Subscribe past the limit again: %v", err)
	}
	for _, s := range subs {
		s.Close()
	}
	if n := h.Subscribers(); n != 0 {
		t.Fatalf("all closed, Subscribers() = %d", n)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.mu.items) != 0 {
		t.Fatalf("items left after every Close: %v", h.mu.items)
	}
}

// When Run returns every C is closed, including those of subscribers not yet
// greeted; later subscriptions are born closed and Run cannot start again.
func TestRunReturnReleasesEverySubscriber(t *testing.T) {
	bubble(t, func(t *testing.T) {
		st := newStore()
		st.failNext("never", 1<<30) // its subscribers are never greeted
		h := newTestHub(st, 0)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- h.Run(ctx) }()

		var subs []*Subscription
		for _, item := range []string{"a", "b", "never"} {
			for range 10 {
				subs = append(subs, subscribe(t, h, item))
			}
		}
		time.Sleep(3 * tick)
		cancel()
		if err := within(t, done, realSlack, "Run returning after cancel"); err != nil {
			t.Fatalf("Run: %v", err)
		}
		for _, s := range subs {
			drain(t, s) // the greeting, if any
		}
		if n := h.Subscribers(); n != 0 {
			t.Fatalf("Subscribers() = %d after Run returned", n)
		}
		s, err := h.Subscribe("a")
		if err != nil {
			t.Fatalf("Subscribe after Run: %v", err)
		}
		select {
		case _, ok := <-s.C():
			if ok {
				t.Fatal("subscription after Run returned has an event")
			}
		default:
			t.Fatal("subscription after Run returned has an open C")
		}
		s.Close()
		subs[0].Close()
		if err := h.Run(t.Context()); err == nil {
			t.Fatal("second Run returned nil")
		}
	})
}

// Notify never blocks: not before Run, not while Run is stuck in an Encode, not
// while Run delivers to a subscriber that never reads. Neither do Subscribe,
// Subscribers and Close wait for Run. On the real clock: a goroutine waiting for a
// lock is not durably blocked, so in a bubble it would stop the fake clock rather
// than miss a deadline. Encode is held until the checks are done, so a call that
// waited for Run would wait for ever: the generous deadline tells it apart from a
// slow machine.
func TestNotifyNeverBlocks(t *testing.T) {
	st := newStore()
	entered := make(chan string, 1)
	release := make(chan struct{})
	h := NewHub(Config{Interval: time.Millisecond, Logger: quietLogger(), Encode: func(item string) ([]byte, error) {
		select {
		case entered <- item:
		default:
		}
		<-release
		return st.encode(item)
	}})
	s := subscribe(t, h, "a") // never read until the end
	notifyMany := func(when string) {
		t.Helper()
		done := make(chan struct{})
		go func() {
			defer close(done)
			for i := range 10_000 {
				h.Notify("a", "b", strconv.Itoa(i%10))
			}
		}()
		within(t, done, realSlack, "10,000 Notify calls "+when)
	}

	notifyMany("before Run")
	stopHub := runHub(t, h)
	var releaseOnce sync.Once
	releaseEncode := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(releaseEncode) // runs before runHub's cleanup: Run must leave Encode to stop
	if item := within(t, entered, realSlack, "Run calling Encode to greet"); item != "a" {
		t.Fatalf("Encode(%q), want Encode(\"a\")", item)
	}

	// Run now waits in Encode, until release.
	st.set("a", 7)
	notifyMany("while Run is in Encode")
	others := make(chan struct{})
	go func() {
		defer close(others)
		s2, err := h.Subscribe("a")
		if err != nil {
			t.Errorf("Subscribe: %v", err)
			return
		}
		if n := h.Subscribers(); n != 2 {
			t.Errorf("Subscribers() = %d, want 2", n)
		}
		s2.Close()
	}()
	within(t, others, realSlack, "Subscribe, Subscribers and Close while Run is in Encode")

	releaseEncode()
	notifyMany("while Run delivers to a subscriber that never reads")
	// s, unread all along, ends up with the latest state.
	last := -1
	testkit.WaitFor(t, realSlack, "s to end up with the latest state", func() bool {
		select {
		case b := <-s.C():
			last = valueOf(t, b)
		default:
		}
		return last == 7
	})
	stopHub()
}

// An Encode error is logged and the item retried at the next tick, for both a
// greeting and a change.
func TestEncodeErrorRetried(t *testing.T) {
	bubble(t, func(t *testing.T) {
		st := newStore()
		var logs syncBuffer
		h := NewHub(Config{Interval: tick, Encode: st.encode, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		defer runHub(t, h)()

		st.failNext("a", 2)
		start := time.Now()
		s := subscribe(t, h, "a")
		if v := valueOf(t, recvWithin(t, s, 10*tick)); v != 0 {
			t.Fatalf("greeting v=%d", v)
		}
		if waited := time.Since(start); waited != 2*tick {
			t.Fatalf("greeting after %v, want 2 ticks (fail, fail at the tick, retry)", waited)
		}

		st.failNext("a", 1)
		st.set("a", 1)
		h.Notify("a")
		start = time.Now()
		if v := valueOf(t, recvWithin(t, s, 10*tick)); v != 1 {
			t.Fatalf("after a change v=%d", v)
		}
		if waited := time.Since(start); waited != 2*tick {
			t.Fatalf("change delivered after %v, want 2 ticks", waited)
		}
		if n := strings.Count(logs.String(), "encode item"); n != 3 {
			t.Fatalf("%d encode errors logged, want 3:\n%s", n, logs.String())
		}
	})
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestFrameEvent(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"plain", `{"a":1}`, "event: item\ndata: {\"a\":1}\n\n"},
		{"json.Encoder newline", "{\"a\":1}\n", "event: item\ndata: {\"a\":1}\n\n"},
		{"indented", "{\n  \"a\": 1\r\n}\n", "event: item\ndata: {\ndata:   \"a\": 1\ndata: }\n\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(frameEvent([]byte(tc.in))); got != tc.want {
				t.Fatalf("frameEvent(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestNewHubDefaults(t *testing.T) {
	cfg := Config{Encode: newStore().encode}
	h := NewHub(cfg)
	if h.cfg.Interval != defaultInterval || h.cfg.MaxSubscribers != defaultMaxSubscribers || h.cfg.Logger == nil {
		t.Fatalf("defaults not filled: %+v", h.cfg)
	}
	if cfg.Interval != 0 || cfg.Logger != nil {
		t.Fatal("NewHub changed the caller's Config")
	}
}
