package exchange_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/countermesh/countermesh/crdt"
	"github.com/countermesh/countermesh/persist"
	"github.com/countermesh/countermesh/sync/exchange"
	"github.com/countermesh/countermesh/tests/testkit"
)

// reaction reads user's reaction to item on p.
func reaction(t *testing.T, p *peer, item, user string) string {
	t.Helper()
	v, err := p.store.ReadItem(item, user)
	if err != nil {
		t.Fatal(err)
	}
	return v.User.Kind
}

// writeAhead writes ops on p with its wall clock ahead by d, then sets it back:
// their timestamps stay ahead.
func writeAhead(t *testing.T, p *peer, d time.Duration, ops ...persist.Op) {
	t.Helper()
	p.wall.Store(d.Milliseconds())
	p.write(t, ops...)
	p.wall.Store(0)
}

// serve runs p's exchange over l until the test ends.
func serve(t *testing.T, p *peer, l *memLink) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.ex.Serve(ctx, l)
	}()
	t.Cleanup(func() { cancel(); <-done })
}

// TestKeyBeyondMaxDriftIsRefusedAloneAndFlowsOnceWithinBounds: a batch holding
// keys within the receiver's drift bound and one beyond it is applied and
// acknowledged but for that key, which the sender offers again; other keys keep
// flowing meanwhile; once the receiver's clock catches up, the key is taken.
func TestKeyBeyondMaxDriftIsRefusedAloneAndFlowsOnceWithinBounds(t *testing.T) {
	a, b := newPeer(t, "a"), newPeer(t, "b")
	a.write(t, persist.React("post", "u1", "like"), persist.Add("post", "claps", 3))
	writeAhead(t, a, 2*time.Minute, persist.React("post", "ahead", "dislike"))
	// a's clock has observed the write ahead, so its counters (which carry no
	// timestamps) are what stays within b's bound from now on.
	a.write(t, persist.Add("other", "claps", 2))
	connect(t, a, b)

	testkit.WaitFor(t, 10*time.Second, "the keys within bounds at b", func() bool {
		return reaction(t, b, "post", "u1") == "like" && claps(t, b, "other") == 2 && claps(t, b, "post") == 3
	})
	testkit.WaitFor(t, 10*time.Second, "a's changes acknowledged", func() bool { return a.ex.Stats()["b"].Acked == a.store.LastSeq() })
	testkit.WaitFor(t, 10*time.Second, "the refusal reported on both sides", func() bool {
		return a.ex.Stats()["b"].RefusedKeys == 1 && b.ex.Stats()["a"].RefusingKeys == 1
	})
	if got := reaction(t, b, "post", "ahead"); got != "" {
		t.Fatalf("the key beyond max drift was applied at b: %q", got)
	}
	if v, _ := b.store.ReadItem("post", ""); !v.Tallies.Equal(crdt.Tallies{"like": 1}) {
		t.Errorf("b's tallies %v while refusing, want like 1", v.Tallies)
	}
	if s := b.ex.Stats()["a"]; s.Skew == "" || s.Refusals == 0 {
		t.Errorf("b reports skew %q, %d refusals; want the reason and a count", s.Skew, s.Refusals)
	}

	// The link is not stalled: a later write flows while the key is refused.
	a.write(t, persist.Add("post", "claps", 4))
	testkit.WaitFor(t, 10*time.Second, "a later write at b", func() bool { return claps(t, b, "post") == 7 })
	if reaction(t, b, "post", "ahead") != "" {
		t.Fatal("the key beyond max drift was applied at b")
	}

	b.wall.Store((2 * time.Minute).Milliseconds()) // b's clock catches up
	testkit.WaitFor(t, 10*time.Second, "the refused key delivered", func() bool { return reaction(t, b, "post", "ahead") == "dislike" })
	testkit.WaitFor(t, 10*time.Second, "a and b converged", func() bool { return converged(a, b) })
	testkit.WaitFor(t, 10*time.Second, "the refusals cleared", func() bool {
		return a.ex.Stats()["b"].RefusedKeys == 0 && b.ex.Stats()["a"].RefusingKeys == 0
	})
	if err := b.store.CheckTallies(); err != nil {
		t.Error(err)
	}
}

// TestRefusedKeyOutlivesTheSession: keys the peer refused are offered again by
// the next session after the link drops.
func TestRefusedKeyOutlivesTheSession(t *testing.T) {
	a, b := newPeer(t, "a"), newPeer(t, "b")
	writeAhead(t, a, 2*time.Minute, persist.React("post", "ahead", "like"))
	stop := connect(t, a, b)
	testkit.WaitFor(t, 10*time.Second, "the refusal", func() bool { return a.ex.Stats()["b"].RefusedKeys == 1 })
	stop()
	b.wall.Store((2 * time.Minute).Milliseconds())
	connect(t, a, b)
	testkit.WaitFor(t, 10*time.Second, "the refused key delivered by the next session", func() bool {
		return reaction(t, b, "post", "ahead") == "like"
	})
}

// refusedThenRestarted returns a, whose one key b refused, restarted: it has
// forgotten the refusal, and b has acknowledged the key's sequence. b's clock is
// still behind, and a link between them is ready.
func refusedThenRestarted(t *testing.T) (a, b *peer, la *memLink) {
	a, b = newPeer(t, "a"), newPeer(t, "b")
	writeAhead(t, a, 2*time.Minute, persist.React("post", "ahead", "like"))
	stop := connect(t, a, b)
	// a reports the refusal before it records the acknowledgement: wait for both.
	testkit.WaitFor(t, 10*time.Second, "the refusal, acknowledged", func() bool {
		s := a.ex.Stats()["b"]
		return s.RefusedKeys == 1 && s.Acked == a.store.LastSeq()
	})
	stop()
	a.store.Close()
	a.open(t) // a new process: the retry set is gone
	if acked, _ := a.store.Acked(b.store.Replica()); acked != a.store.LastSeq() {
		t.Fatalf("b acknowledged %d of %d", acked, a.store.LastSeq())
	}
	la, lb := newMemLinks("a", "b")
	serve(t, b, lb)
	return a, b, la
}

// TestAntiEntropyRepairsRefusedKeysAfterARestart: a restarted sender has
// forgotten which keys the peer refused, and the peer acknowledged their
// sequence; anti-entropy brings them once within bounds, and a key anti-entropy
// itself has refused is offered again by the sender.
func TestAntiEntropyRepairsRefusedKeysAfterARestart(t *testing.T) {
	a, b, la := refusedThenRestarted(t)
	if _, err := a.ex.AntiEntropy(context.Background(), la); err != nil {
		t.Fatalf("anti-entropy while b's clock is behind: %v", err)
	}
	if reaction(t, b, "post", "ahead") != "" {
		t.Fatal("anti-entropy applied a key beyond max drift")
	}
	if got := a.ex.Stats()["b"].RefusedKeys; got != 1 {
		t.Errorf("after anti-entropy a counts %d keys refused by b, want 1", got)
	}
	b.wall.Store((2 * time.Minute).Milliseconds())
	serve(t, a, la) // its session offers the key again
	testkit.WaitFor(t, 10*time.Second, "the key delivered", func() bool { return reaction(t, b, "post", "ahead") == "like" })
}

// TestPeriodicAntiEntropyRepairsAForgottenRefusal: a sender restarted while its
// peer refused a key has forgotten it, and the peer acknowledged its sequence;
// the next anti-entropy round once within bounds brings it.
func TestPeriodicAntiEntropyRepairsAForgottenRefusal(t *testing.T) {
	a, b, la := refusedThenRestarted(t)
	b.wall.Store((2 * time.Minute).Milliseconds())
	if _, err := a.ex.AntiEntropy(context.Background(), la); err != nil {
		t.Fatal(err)
	}
	if got := reaction(t, b, "post", "ahead"); got != "like" {
		t.Errorf("after anti-entropy b holds %q, want like", got)
	}
}

// TestAckRefusingKeysNotOfferedClosesTheLink: a receiver may refuse only keys of
// the batch it acknowledges; naming others breaks the protocol, and the sender
// keeps no retry for them.
func TestAckRefusingKeysNotOfferedClosesTheLink(t *testing.T) {
	a := newPeer(t, "a")
	a.write(t, persist.React("post", "u1", "like"))
	la, lx := newMemLinks("a", "x")
	errs := make(chan error, 1)
	go func() { errs <- a.ex.Serve(context.Background(), la) }()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := lx.AcceptStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	read := func(want exchange.MessageType) exchange.Message {
		t.Helper()
		b, err := st.ReadFrame()
		if err != nil {
			t.Fatal(err)
		}
		m, err := exchange.DecodeMessage(b)
		if err != nil || m.Type != want {
			t.Fatalf("got %+v, %v; want %s", m, err, want)
		}
		return m
	}
	read(exchange.MsgHello)
	st.WriteFrame(exchange.EncodeMessage(exchange.Message{Type: exchange.MsgHello, Mesh: "test", Replica: 99}))
	batch := read(exchange.MsgBatch)
	var forged crdt.KeySet
	forged.AddRegister(crdt.RegisterKey{Item: "post", User: "someone-else"})
	st.WriteFrame(exchange.EncodeMessage(exchange.Message{Type: exchange.MsgAck, Seq: batch.Seq, Refused: forged}))

	select {
	case err := <-errs:
		if !errors.Is(err, exchange.ErrProtocol) {
			t.Errorf("Serve returned %v, want ErrProtocol", err)
		}
	case <-ctx.Done():
		t.Fatal("Serve did not stop")
	}
	if got := a.ex.Stats()["x"].RefusedKeys; got != 0 {
		t.Errorf("a counts %d refused keys, want none", got)
	}
}
