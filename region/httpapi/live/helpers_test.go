package live

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

const tick = 100 * time.Millisecond

// Every wait in these tests has a deadline, so that a failure fails at once
// instead of hanging until the -timeout.
const (
	// realSlack bounds a wait for something that takes micro- or milliseconds:
	// generous because other tests load the machine and -race slows everything;
	// it only runs out when the test is failing anyway. In a bubble it is fake
	// time, free.
	realSlack = 30 * time.Second

	// fakeLimit bounds the fake clock of a bubble; no test needs more than a few
	// seconds of it. A bubble with a running hub never deadlocks, as Run's ticker
	// always has a next tick: without this bound a test stuck on a wait would
	// advance the fake clock for ever, Run waking at every tick, and hang until
	// the -timeout instead of failing.
	fakeLimit = 10 * time.Minute

	// realLimit bounds, on the real clock, a bubble test (each takes well under a
	// second): a goroutine that never blocks, or blocks on a lock for good, stops
	// the fake clock, and fakeLimit with it.
	realLimit = 2 * time.Minute
)

// bubble runs f in a synctest bubble. If f is stuck — past fakeLimit on the
// bubble's clock or realLimit on the real one — it prints every goroutine and
// panics, failing at once rather than at the -timeout.
func bubble(t *testing.T, f func(t *testing.T)) {
	t.Helper()
	name := t.Name()
	real := time.AfterFunc(realLimit, func() { stuck(name, "real", realLimit) })
	defer real.Stop()
	synctest.Test(t, func(t *testing.T) {
		fake := time.AfterFunc(fakeLimit, func() { stuck(name, "fake", fakeLimit) })
		t.Cleanup(func() { fake.Stop() }) // registered first, so it runs last
		f(t)
	})
}

// stuck reports a stuck test with every goroutine's stack and panics.
func stuck(test, clock string, d time.Duration) {
	buf := make([]byte, 8<<20)
	buf = buf[:runtime.Stack(buf, true)]
	fmt.Fprintf(os.Stderr, "%s still running after %v on the %s clock; goroutines:\n\n%s\n", test, d, clock, buf)
	panic(fmt.Sprintf("%s stuck: still running after %v on the %s clock", test, d, clock))
}

// within returns the next value from ch, failing the test if none comes within
// d (fake time in a bubble).
func within[T any](t testing.TB, ch <-chan T, d time.Duration, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(d):
		t.Fatalf("%s: nothing within %v", what, d)
		var zero T
		return zero
	}
}

// wgWithin waits for wg, failing the test after d.
func wgWithin(t testing.TB, wg *sync.WaitGroup, d time.Duration, what string) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	within(t, done, d, what)
}

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

// runHub starts h.Run and returns a function that stops it, checking that it
// returns nil promptly. The test's cleanup stops it too, so that a test failing
// half-way leaves no hub behind: in a bubble, a hub left running would keep the
// fake clock ticking. stop may be called more than once.
func runHub(t testing.TB, h *Hub) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	var once sync.Once
	stop = func() {
		t.Helper()
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run returned %v", err)
				}
			case <-time.After(realSlack):
				t.Errorf("Run still running %v after its context ended", realSlack)
			}
		})
	}
	t.Cleanup(stop)
	return stop
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

// readAll returns what a reader saw, once its C closed (the hub stopped),
// failing the test if the reader has not finished within realSlack or saw
// nothing.
func readAll(t testing.TB, r <-chan []received) []received {
	t.Helper()
	got := within(t, r, realSlack, "reader ending after Run returned")
	if len(got) == 0 {
		t.Fatal("reader got no state at all")
	}
	return got
}

// receiveAll receives from ch until it closes, failing the test if it is still
// open after realSlack.
func receiveAll[T any](t testing.TB, ch <-chan T) []T {
	t.Helper()
	var got []T
	deadline := time.After(realSlack)
	for {
		select {
		case v, ok := <-ch:
			if !ok {
				return got
			}
			got = append(got, v)
		case <-deadline:
			t.Fatalf("channel still open after %v", realSlack)
		}
	}
}

// drain receives from s until C closes, failing the test if it is still open
// after realSlack, and returns how many events it took.
func drain(t testing.TB, s *Subscription) (n int) {
	t.Helper()
	return len(receiveAll(t, s.C()))
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
