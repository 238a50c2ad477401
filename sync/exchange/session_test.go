package exchange_test

import (
	"sync"
	"testing"
	"time"

	"github.com/countermesh/countermesh/persist"
	"github.com/countermesh/countermesh/sync/exchange"
	"github.com/countermesh/countermesh/tests/testkit"
)

// fakeClock is a clock that moves only when told.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []fakeWaiter
}

type fakeWaiter struct {
	at time.Time
	c  chan time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	w := fakeWaiter{at: c.now.Add(d), c: make(chan time.Time, 1)}
	if d <= 0 {
		w.c <- c.now
	} else {
		c.waiters = append(c.waiters, w)
	}
	return w.c
}

// Advance moves the clock on by d, firing every waiter then due.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	left := c.waiters[:0]
	for _, w := range c.waiters {
		if w.at.After(c.now) {
			left = append(left, w)
			continue
		}
		w.c <- c.now
	}
	c.waiters = left
}

// waitingFor reports whether something waits until d or more from now.
func (c *fakeClock) waitingFor(d time.Duration) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, w := range c.waiters {
		if !w.at.Before(c.now.Add(d)) {
			return true
		}
	}
	return false
}

// TestSessionWaitsOnItsClock checks that the driver takes its time from the
// injected clock: a change committed within a flush interval of the last batch
// ships when that clock, not the real one, reaches the flush tick.
func TestSessionWaitsOnItsClock(t *testing.T) {
	a, b := newPeer(t, "a"), newPeer(t, "b")
	a.ex = exchange.New(a.store, exchange.Config{Mesh: "test", FlushInterval: time.Hour, Logger: quietLogger()})
	clk := newFakeClock()
	exchange.SetClock(a.ex, clk)
	connect(t, a, b)

	a.write(t, persist.Add("x", "claps", 1))
	testkit.WaitFor(t, 10*time.Second, "the first change, shipped at once on an idle link", func() bool { return claps(t, b, "x") == 1 })
	a.write(t, persist.Add("x", "claps", 1))
	testkit.WaitFor(t, 10*time.Second, "the sender to wait a flush interval on its clock", func() bool { return clk.waitingFor(time.Hour) })
	if got := claps(t, b, "x"); got != 1 {
		t.Fatalf("b has %d claps before the flush tick, want 1", got)
	}
	clk.Advance(time.Hour)
	testkit.WaitFor(t, 10*time.Second, "the second change, shipped at the flush tick", func() bool { return claps(t, b, "x") == 2 })
}
