package exchange_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/countermesh/countermesh/crdt"
	"github.com/countermesh/countermesh/persist"
	"github.com/countermesh/countermesh/sync/exchange"
	"github.com/countermesh/countermesh/tests/testkit"
)

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// peer is one store with its exchange.
type peer struct {
	name  string
	dir   string
	store *persist.Store
	ex    *exchange.Exchange
	wall  *atomic.Int64 // wall-clock offset in ms
}

func newPeer(t testing.TB, name string) *peer {
	p := &peer{name: name, dir: t.TempDir(), wall: new(atomic.Int64)}
	p.open(t)
	return p
}

func (p *peer) open(t testing.TB) {
	t.Helper()
	opts := persist.SmallOptions(p.dir)
	opts.Logger = quietLogger()
	opts.WallClock = func() time.Time { return time.Now().Add(time.Duration(p.wall.Load()) * time.Millisecond) }
	s, err := persist.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	p.store = s
	p.ex = exchange.New(s, exchange.Config{
		Mesh: "test", FlushInterval: 5 * time.Millisecond, RetryInterval: 20 * time.Millisecond,
		MaxBatchKeys: 64, Logger: quietLogger(),
	})
}

func (p *peer) write(t *testing.T, ops ...persist.Op) {
	t.Helper()
	if _, err := p.store.Write(context.Background(), ops...); err != nil {
		t.Fatal(err)
	}
}

// connect serves a link between a and b until the returned stop is called.
func connect(t *testing.T, a, b *peer) (stop func() (errA, errB error)) {
	return serveLink(t, a.name, a.ex, b.name, b.ex)
}

// serveLink serves an in-memory link between the exchange x of the peer named a
// and the exchange y of the peer named b until the returned stop is called.
func serveLink(t *testing.T, a string, x *exchange.Exchange, b string, y *exchange.Exchange) (stop func() (errA, errB error)) {
	la, lb := newMemLinks(a, b)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var errA, errB error
	wg.Go(func() { errA = x.Serve(ctx, la) })
	wg.Go(func() { errB = y.Serve(ctx, lb) })
	var once sync.Once
	stop = func() (error, error) {
		once.Do(func() { cancel(); wg.Wait() })
		return errA, errB
	}
	t.Cleanup(func() { stop() })
	return stop
}

// converged reports whether all peers hold the same state.
func converged(peers ...*peer) bool {
	first := peers[0].store.Digest()
	for _, p := range peers[1:] {
		if len(first.Differing(p.store.Digest())) > 0 {
			return false
		}
	}
	return true
}

func writeSome(t *testing.T, p *peer, n int) {
	t.Helper()
	for i := range n {
		p.write(t, persist.Add(fmt.Sprint("item", i%7), "claps", 1),
			persist.React(fmt.Sprint("item", i%5), fmt.Sprint(p.name, "-u", i%11), []string{"like", "dislike", crdt.None}[i%3]))
	}
}

func claps(t *testing.T, p *peer, item string) int64 {
	t.Helper()
	v, err := p.store.ReadItem(item, "")
	if err != nil {
		t.Fatal(err)
	}
	return v.Counters["claps"]
}

func TestTwoPeersConverge(t *testing.T) {
	a, b := newPeer(t, "a"), newPeer(t, "b")
	var mu sync.Mutex
	notified := map[string]bool{}
	defer b.store.Follow(func(c persist.Commit) {
		mu.Lock()
		defer mu.Unlock()
		for _, it := range c.Items {
			notified[it] = true
		}
	})()
	writeSome(t, a, 100)
	writeSome(t, b, 60)
	connect(t, a, b)
	writeSome(t, a, 50) // while linked
	testkit.WaitFor(t, 10*time.Second, "convergence", func() bool { return converged(a, b) })
	if got := claps(t, b, "item0"); got != claps(t, a, "item0") || got == 0 {
		t.Errorf("claps on item0: a %d, b %d", claps(t, a, "item0"), got)
	}
	testkit.WaitFor(t, 10*time.Second, "acknowledgements", func() bool {
		st := a.ex.Stats()["b"]
		return st.Acked == a.store.LastSeq() && st.LagSeqs == 0
	})
	if st := a.ex.Stats()["b"]; st.Replica != b.store.Replica() || st.BytesSent == 0 || !st.Linked {
		t.Errorf("stats of b on a: %+v", st)
	}
	mu.Lock()
	if !notified["item0"] || !notified["item6"] {
		t.Errorf("b's commit feed told of %v, want item0…item6", notified)
	}
	mu.Unlock()
	if got, want := b.ex.Applied(a.store.Replica()), a.store.LastSeq(); got != want {
		t.Errorf("b has applied a's changes up to %d, want %d", got, want)
	}
	if got, want := b.ex.Applied(b.store.Replica()), b.store.LastSeq(); got != want {
		t.Errorf("b's own applied = %d, want its last sequence %d", got, want)
	}
}

func TestRestartedReceiverLosesNothingAndSenderResumes(t *testing.T) {
	a, b := newPeer(t, "a"), newPeer(t, "b")
	stop := connect(t, a, b)
	writeSome(t, a, 40)
	testkit.WaitFor(t, 10*time.Second, "first convergence and its acknowledgement", func() bool {
		return converged(a, b) && a.ex.Stats()["b"].Acked == a.store.LastSeq()
	})
	stop()
	acked, err := a.store.Acked(b.store.Replica())
	if err != nil || acked != a.store.LastSeq() {
		t.Fatalf("durable ack = %d, %v; want %d", acked, err, a.store.LastSeq())
	}
	b.store.Close()
	writeSome(t, a, 40) // while b is down
	b.open(t)
	a.store.Close()
	a.open(t) // the sender restarts too: it resumes from the stored ack
	connect(t, a, b)
	testkit.WaitFor(t, 10*time.Second, "convergence after restarts", func() bool { return converged(a, b) })
}

func TestTrimmedLogAndNewReplicaCatchUpByAntiEntropy(t *testing.T) {
	a := newPeer(t, "a")
	writeSome(t, a, 200)
	if err := a.store.TrimLog(a.store.LastSeq()); err != nil {
		t.Fatal(err)
	}
	b := newPeer(t, "b") // a brand-new replica
	connect(t, a, b)
	testkit.WaitFor(t, 10*time.Second, "anti-entropy catch-up", func() bool { return converged(a, b) })
	writeSome(t, a, 10) // and then the log carries on
	testkit.WaitFor(t, 10*time.Second, "convergence after catch-up", func() bool { return converged(a, b) })
	if acked, _ := a.store.Acked(b.store.Replica()); acked == 0 {
		t.Error("catch-up recorded no acknowledgement")
	}
}

func TestAntiEntropyRepairsPartialPartition(t *testing.T) {
	a, b, c := newPeer(t, "a"), newPeer(t, "b"), newPeer(t, "c")
	// a↛c, but a–b and b–c work. Deltas are never forwarded, so only
	// anti-entropy between b and c brings a's writes to c.
	connect(t, a, b)
	writeSome(t, a, 30)
	testkit.WaitFor(t, 10*time.Second, "a and b", func() bool { return converged(a, b) })
	lb, lc := newMemLinks("b", "c")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go c.ex.Serve(ctx, lc)
	if converged(b, c) {
		t.Fatal("c already has a's writes before anti-entropy")
	}
	if _, err := b.ex.AntiEntropy(ctx, lb); err != nil {
		t.Fatal(err)
	}
	if !converged(a, b, c) {
		t.Error("anti-entropy did not repair c")
	}
}

func TestDriftRefusedUntilTheClockIsFixed(t *testing.T) {
	a, b := newPeer(t, "a"), newPeer(t, "b")
	b.wall.Store(-(2 * time.Minute).Milliseconds()) // b's clock is 2 min behind
	a.write(t, persist.React("post", "u", "like"))
	connect(t, a, b)
	testkit.WaitFor(t, 10*time.Second, "the refusal to be reported", func() bool { return b.ex.Stats()["a"].Skew != "" && a.ex.Stats()["b"].Skew != "" })
	if converged(a, b) {
		t.Fatal("a register beyond max drift was applied")
	}
	b.wall.Store(0) // fixed: the data flows, nothing was dropped
	testkit.WaitFor(t, 10*time.Second, "delivery after the fix", func() bool { return converged(a, b) })
}

func TestProtocolViolationClosesTheLink(t *testing.T) {
	a := newPeer(t, "a")
	la, lx := newMemLinks("a", "x")
	errs := make(chan error, 1)
	go func() { errs <- a.ex.Serve(context.Background(), la) }()
	st, err := lx.OpenStream(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	st.WriteFrame([]byte{0x92, 0x01, 0x91, 0x63}) // a message of an unknown type
	select {
	case err := <-errs:
		if !errors.Is(err, exchange.ErrProtocol) {
			t.Errorf("Serve returned %v, want ErrProtocol", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not stop")
	}
	select {
	case reason := <-la.reasons:
		if reason == "" {
			t.Error("link closed without a reason")
		}
	default:
		t.Error("link not closed")
	}
}

func TestPeerOfAnotherMeshIsRefused(t *testing.T) {
	a := newPeer(t, "a")
	other := newPeer(t, "o")
	other.ex = exchange.New(other.store, exchange.Config{Mesh: "elsewhere", Logger: quietLogger()})
	writeSome(t, a, 5)
	la, lo := newMemLinks("a", "o")
	errs := make(chan error, 2)
	go func() { errs <- a.ex.Serve(context.Background(), la) }()
	go func() { errs <- other.ex.Serve(context.Background(), lo) }()
	protocol := false
	for range 2 {
		select {
		case err := <-errs:
			protocol = protocol || errors.Is(err, exchange.ErrProtocol)
		case <-time.After(10 * time.Second):
			t.Fatal("Serve did not stop")
		}
	}
	if !protocol {
		t.Error("neither side reported a protocol violation")
	}
	if v, _ := other.store.ReadItem("item0", ""); len(v.Counters) != 0 {
		t.Error("a peer of another mesh received data")
	}
}

func TestTrimPoint(t *testing.T) {
	cases := []struct {
		acks            []uint64
		last, retention uint64
		want            uint64
	}{
		{[]uint64{5, 9}, 10, 100, 5},
		{nil, 10, 100, 10},
		{[]uint64{0, 9}, 10, 100, 0},
		{[]uint64{0, 9}, 1000, 100, 900}, // a dead peer cannot hold more than the cap
		{[]uint64{950}, 1000, 100, 950},
	}
	for _, c := range cases {
		if got := exchange.TrimPoint(c.acks, c.last, c.retention); got != c.want {
			t.Errorf("TrimPoint(%v, %d, %d) = %d, want %d", c.acks, c.last, c.retention, got, c.want)
		}
	}
}

// TestPeerStaysLinkedWhenANewerLinkReplacesAnOlder: the region replaces a link
// with a newer one to the same peer, and the older one stops after the newer
// started. The peer must still count as linked — the mesh's status, its drain
// at shutdown and the chaos suite's settling all read it.
func TestPeerStaysLinkedWhenANewerLinkReplacesAnOlder(t *testing.T) {
	a, b := newPeer(t, "a"), newPeer(t, "b")
	linked := func() bool {
		for _, s := range a.ex.Stats() {
			if s.Name == "b" {
				return s.Linked
			}
		}
		return false
	}
	stopOld := connect(t, a, b)
	testkit.WaitFor(t, 10*time.Second, "a linked to b", linked)
	connect(t, a, b) // the newer link
	testkit.WaitFor(t, 10*time.Second, "a serving both links to b", func() bool { return exchange.LinksServed(a.ex, "b") == 2 })
	stopOld()
	if !linked() {
		t.Fatal("b no longer counts as linked once the older of two links stopped")
	}
	writeSome(t, a, 5)
	testkit.WaitFor(t, 10*time.Second, "b to have a's writes over the newer link", func() bool { return converged(a, b) })
}
