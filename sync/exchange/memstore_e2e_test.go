package exchange_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/countermesh/countermesh/crdt"
	"github.com/countermesh/countermesh/sync/exchange"
	"github.com/countermesh/countermesh/tests/testkit"
)

// Intervals of the exchanges over memStores: their sending sessions wait on a
// fake clock, so the values only name the ticks the tests advance it by.
const (
	memFlush = time.Second
	memRetry = time.Minute
	memDrift = time.Minute
)

// memPeer is a memStore with its exchange, the exchange's fake clock, and the
// store's wall clock, which the test sets.
type memPeer struct {
	name  string
	store *memStore
	ex    *exchange.Exchange
	clk   *fakeClock
	wall  atomic.Int64 // the store's wall clock, ms after the fake clock's start
}

func newMemPeer(name string, replica crdt.ReplicaID) *memPeer {
	p := &memPeer{name: name, clk: newFakeClock()}
	start := p.clk.Now()
	p.store = newMemStore(replica, func() time.Time {
		return start.Add(time.Duration(p.wall.Load()) * time.Millisecond)
	}, memDrift)
	p.ex = exchange.New(p.store, exchange.Config{Mesh: "test", FlushInterval: memFlush, RetryInterval: memRetry,
		Logger: quietLogger()})
	exchange.SetClock(p.ex, p.clk)
	return p
}

// linkMem serves a link between a and b until the test ends.
func linkMem(t *testing.T, a, b *memPeer) {
	serveLink(t, a.name, a.ex, b.name, b.ex)
}

// flush waits until p's sender waits for its flush tick, then fires it.
func (p *memPeer) flush(t *testing.T) {
	t.Helper()
	testkit.WaitFor(t, 10*time.Second, p.name+"'s sender to wait for its flush tick", func() bool {
		return p.clk.waitingFor(memFlush)
	})
	p.clk.Advance(memFlush)
}

// refusedBy returns how many keys of p the named peer refuses now.
func (p *memPeer) refusedBy(name string) int { return p.ex.Stats()[name].RefusedKeys }

// TestExchangeOverMemStoresConverges: changes written on either side are
// shipped, applied on the other and acknowledged, with no Badger involved;
// a change written while linked ships at its sender's flush tick.
func TestExchangeOverMemStoresConverges(t *testing.T) {
	a, b := newMemPeer("a", 1), newMemPeer("b", 2)
	if err := a.store.add("post", "claps", 2); err != nil {
		t.Fatal(err)
	}
	a.store.react("post", "u1", "like")
	if err := b.store.add("post", "claps", 5); err != nil {
		t.Fatal(err)
	}
	b.store.react("other", "u2", "dislike")
	linkMem(t, a, b)

	testkit.WaitFor(t, 10*time.Second, "a and b to converge", func() bool { return a.store.sameState(b.store) })
	if got := b.store.counter("post", "claps"); got != 7 {
		t.Errorf("b: claps %d, want 7", got)
	}
	if got := a.store.reaction("other", "u2"); got != "dislike" {
		t.Errorf("a: u2's reaction %q, want dislike", got)
	}
	acked := func(from, to *memPeer) bool {
		seq, _ := from.store.Acked(to.store.Replica())
		return seq == from.store.LastSeq()
	}
	testkit.WaitFor(t, 10*time.Second, "each side's changes acknowledged by the other", func() bool {
		return acked(a, b) && acked(b, a)
	})

	if err := a.store.add("post", "claps", 1); err != nil {
		t.Fatal(err)
	}
	a.flush(t)
	testkit.WaitFor(t, 10*time.Second, "the change written while linked at b", func() bool {
		return b.store.counter("post", "claps") == 8
	})
	testkit.WaitFor(t, 10*time.Second, "the change acknowledged", func() bool { return acked(a, b) })
	if got := b.ex.Applied(a.store.Replica()); got != a.store.LastSeq() {
		t.Errorf("b applied a's changes up to %d, want %d", got, a.store.LastSeq())
	}
}

// TestExchangeOverMemStoresRetriesARefusedKey: a reaction stamped beyond the
// receiver's max drift is refused alone, the rest of its batch applied; the
// sender keeps it and offers it again at its retry tick, and once the
// receiver's clock has caught up it is taken.
func TestExchangeOverMemStoresRetriesARefusedKey(t *testing.T) {
	a, b := newMemPeer("a", 1), newMemPeer("b", 2)
	a.store.react("post", "u1", "like")
	a.wall.Store((2 * memDrift).Milliseconds())
	a.store.react("post", "ahead", "dislike")
	if err := a.store.add("post", "claps", 3); err != nil {
		t.Fatal(err)
	}
	linkMem(t, a, b)

	testkit.WaitFor(t, 10*time.Second, "b to refuse the key ahead", func() bool { return a.refusedBy("b") == 1 })
	// The refusal came with the acknowledgement of the batch: the rest of it
	// is applied by now.
	if got := b.store.reaction("post", "u1"); got != "like" {
		t.Errorf("b: u1's reaction %q, want like", got)
	}
	if got := b.store.counter("post", "claps"); got != 3 {
		t.Errorf("b: claps %d, want 3", got)
	}
	if got := b.store.reaction("post", "ahead"); got != "" {
		t.Fatalf("b took the reaction beyond its max drift: %q", got)
	}
	if got := b.ex.Stats()["a"].Refusals; got != 1 {
		t.Errorf("b counts %d refusals from a, want 1", got)
	}

	// Offered again while b's clock is still behind: refused again.
	retried := b.ex.Stats()["a"].Refusals
	testkit.WaitFor(t, 10*time.Second, "a's sender to wait for its retry tick", func() bool {
		return a.clk.waitingFor(memRetry)
	})
	a.clk.Advance(memRetry)
	testkit.WaitFor(t, 10*time.Second, "b to refuse the key again", func() bool {
		return b.ex.Stats()["a"].Refusals > retried
	})

	b.wall.Store((2 * memDrift).Milliseconds())
	testkit.WaitFor(t, 10*time.Second, "a's sender to wait for its next retry tick", func() bool {
		return a.clk.waitingFor(memRetry)
	})
	a.clk.Advance(memRetry)
	testkit.WaitFor(t, 10*time.Second, "the key taken once b's clock caught up", func() bool {
		return b.store.reaction("post", "ahead") == "dislike" && a.refusedBy("b") == 0
	})
	testkit.WaitFor(t, 10*time.Second, "a and b to converge", func() bool { return a.store.sameState(b.store) })
}

// TestExchangeOverMemStoresCatchesUpPastATrimmedLog: a peer whose changes
// another has not acknowledged, and are trimmed from the change log, is
// caught up by anti-entropy over the stores' digests before batches flow.
func TestExchangeOverMemStoresCatchesUpPastATrimmedLog(t *testing.T) {
	a, b := newMemPeer("a", 1), newMemPeer("b", 2)
	for _, item := range []string{"p1", "p2", "p3"} {
		if err := a.store.add(item, "claps", 1); err != nil {
			t.Fatal(err)
		}
		a.store.react(item, "u1", "like")
	}
	if err := a.store.TrimLog(a.store.LastSeq()); err != nil {
		t.Fatal(err)
	}
	b.store.react("p1", "u2", "dislike")
	linkMem(t, a, b)

	testkit.WaitFor(t, 10*time.Second, "a and b to converge", func() bool { return a.store.sameState(b.store) })
	testkit.WaitFor(t, 10*time.Second, "b's acknowledgement of a's trimmed changes", func() bool {
		seq, _ := a.store.Acked(b.store.Replica())
		return seq == a.store.LastSeq()
	})
}
