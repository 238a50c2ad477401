package exchange_test

import (
	"context"
	"testing"
	"time"

	"github.com/countermesh/countermesh/crdt"
	"github.com/countermesh/countermesh/persist"
	"github.com/countermesh/countermesh/sync/exchange"
)

// A peer that stalls in the middle of an anti-entropy round — it reads the
// digest and never answers, while its link stays up — cannot hold the round:
// the round ends within its IOTimeout, and the next round over the same link,
// with a peer that answers, repairs everything.
func TestStalledPeerCannotHoldAnAntiEntropyRound(t *testing.T) {
	a := newPeer(t, "a")
	const ioTimeout = 300 * time.Millisecond
	a.ex = exchange.New(a.store, exchange.Config{Mesh: "test", IOTimeout: ioTimeout, Logger: quietLogger()})
	a.write(t, persist.Add("post", "claps", 2))
	la, lb := newMemLinks("a", "b")

	// The stalling peer: it answers the hello, takes the digest, then waits
	// for the test to end without a word.
	stalled := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		st, err := lb.AcceptStream(context.Background())
		if err != nil {
			return
		}
		for _, reply := range []bool{true, false} {
			if _, err := st.ReadFrame(); err != nil {
				return
			}
			if reply {
				hello := exchange.Message{Type: exchange.MsgHello, Mesh: "test", Replica: crdt.ReplicaID(77)}
				if err := st.WriteFrame(exchange.EncodeMessage(hello)); err != nil {
					return
				}
			}
		}
		close(stalled)
		<-t.Context().Done()
	}()
	start := time.Now()
	errc := make(chan error, 1)
	go func() {
		_, err := a.ex.AntiEntropy(context.Background(), la)
		errc <- err
	}()
	select {
	case err := <-errc:
		if err == nil {
			t.Fatal("a round with a peer that never answered succeeded")
		}
		<-stalled
		if took := time.Since(start); took < ioTimeout {
			t.Fatalf("the round ended after %s, before its timeout %s: %v", took, ioTimeout, err)
		}
	case <-time.After(30 * ioTimeout):
		t.Fatalf("the round is still waiting on a stalled peer after %s", 30*ioTimeout)
	}

	// The same link, now served by a peer that answers.
	b := newPeer(t, "b")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	served := make(chan struct{})
	go func() { defer close(served); _ = b.ex.Serve(ctx, lb) }()
	if _, err := a.ex.AntiEntropy(context.Background(), la); err != nil {
		t.Fatalf("round after the stall: %v", err)
	}
	if got := claps(t, b, "post"); got != 2 {
		t.Errorf("b has claps %d after the round, want 2", got)
	}
	cancel()
	<-served
}
