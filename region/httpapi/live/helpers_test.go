package live

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"
)

const tick = 100 * time.Millisecond

// store is a fake item store: Encode reads a counter per item and records when
// it was called; fail makes the next calls for an item return an error.
type store struct {
	mu      sync.Mutex
	vals    map[string]int
	encodes map[string][]time.Time
	fail    map[string]int
}

func newStore() *store {
	return &store{vals: map[string]int{}, encodes: map[string][]time.Time{}, fail: map[string]int{}}
}

func (s *store) set(item string, v int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.vals[item] = v
}

func (s *store) failNext(item string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail[item] = n
}

func (s *store) encode(item string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.encodes[item] = append(s.encodes[item], time.Now())
	if s.fail[item] > 0 {
		s.fail[item]--
		return nil, errors.New("store unavailable")
	}
	return fmt.Appendf(nil, `{"item":%q,"v":%d}`, item, s.vals[item]), nil
}

// encodeTimes returns when Encode ran for item.
func (s *store) encodeTimes(item string) []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Time(nil), s.encodes[item]...)
}

// event is the frame the hub sends for item at value v.
func event(item string, v int) string {
	return fmt.Sprintf("event: item\ndata: {\"item\":%q,\"v\":%d}\n\n", item, v)
}

// valueOf extracts v from a frame made by store.encode, or reports an error and
// returns -1. Safe from any goroutine.
func valueOf(t testing.TB, frame []byte) int {
	t.Helper()
	_, after, ok := bytes.Cut(frame, []byte(`"v":`))
	end := bytes.IndexByte(after, '}')
	if !ok || end < 0 {
		t.Errorf("not a store frame: %q", frame)
		return -1
	}
	v, err := strconv.Atoi(string(after[:end]))
	if err != nil {
		t.Errorf("frame %q: %v", frame, err)
		return -1
	}
	return v
}

// runHub starts h.Run and returns a function that stops it and checks it
// returned nil.
func runHub(t testing.TB, h *Hub) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	return func() {
		t.Helper()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run returned %v", err)
		}
	}
}

// quietLogger discards logs.
func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// newTestHub returns a hub over st with the test tick.
func newTestHub(st *store, max int) *Hub {
	return NewHub(Config{Interval: tick, MaxSubscribers: max, Encode: st.encode, Logger: quietLogger()})
}

// subscribe subscribes or fails the test.
func subscribe(t testing.TB, h *Hub, item string) *Subscription {
	t.Helper()
	s, err := h.Subscribe(item)
	if err != nil {
		t.Fatalf("Subscribe(%q): %v", item, err)
	}
	return s
}

// recvNow returns the event waiting on s, failing the test if there is none.
func recvNow(t testing.TB, s *Subscription) []byte {
	t.Helper()
	select {
	case b, ok := <-s.C():
		if !ok {
			t.Fatal("C closed")
		}
		return b
	default:
		t.Fatal("no event waiting")
		return nil
	}
}

// recvWithin returns the next event on s, failing the test after d.
func recvWithin(t testing.TB, s *Subscription, d time.Duration) []byte {
	t.Helper()
	select {
	case b, ok := <-s.C():
		if !ok {
			t.Fatal("C closed")
		}
		return b
	case <-time.After(d):
		t.Fatalf("no event within %v", d)
		return nil
	}
}

// expectNone fails the test if an event is waiting on s.
func expectNone(t testing.TB, s *Subscription) {
	t.Helper()
	select {
	case b, ok := <-s.C():
		t.Fatalf("unexpected event %q (open %v)", b, ok)
	default:
	}
}

// received is what a reader goroutine saw.
type received struct {
	v  int
	at time.Time
}

// reader receives from s until C closes, then sends everything it saw.
func reader(t testing.TB, s *Subscription) <-chan []received {
	out := make(chan []received, 1)
	go func() {
		var got []received
		for b := range s.C() {
			got = append(got, received{valueOf(t, b), time.Now()})
		}
		out <- got
	}()
	return out
}

// assertSpaced fails the test if two consecutive times are less than d apart.
func assertSpaced(t testing.TB, what string, times []time.Time, d time.Duration) {
	t.Helper()
	for i := 1; i < len(times); i++ {
		if gap := times[i].Sub(times[i-1]); gap < d {
			t.Fatalf("%s %d and %d only %v apart, want ≥ %v", what, i-1, i, gap, d)
		}
	}
}
