package exchange_test

import (
	"context"
	"testing"
	"time"

	"github.com/countermesh/countermesh/crdt"
	"github.com/countermesh/countermesh/crdt/digest"
	"github.com/countermesh/countermesh/sync/exchange"
)

// FuzzServeStream feeds arbitrary frames, after a valid hello, to a peer serving a
// link: it must never panic, and whatever it does must leave its store consistent.
func FuzzServeStream(f *testing.F) {
	var d crdt.Delta
	var c crdt.PNCounter
	c.JoinEntry(7, crdt.PN{P: 3})
	d.JoinCounter(crdt.CounterKey{Item: "a", Name: "claps"}, c)
	for _, m := range []exchange.Message{
		{Type: exchange.MsgBatch, Seq: 1, Delta: d},
		{Type: exchange.MsgDigest, Seq: 1, Digest: make([]uint64, digest.Buckets)},
		{Type: exchange.MsgDigest, Seq: 1, Digest: []uint64{1}},
		{Type: exchange.MsgAck, Seq: 9},
		{Type: exchange.MsgAck, Seq: 9, Refused: crdt.KeySet{Registers: map[crdt.RegisterKey]struct{}{{Item: "a", User: "u"}: {}}}},
		{Type: exchange.MsgStates, Delta: d},
	} {
		f.Add(exchange.EncodeMessage(m), []byte{0x92, 0x01, 0x91, 0x08})
	}
	a := newPeer(f, "a")
	f.Fuzz(func(t *testing.T, first, second []byte) {
		la, lx := newMemLinks("a", "x")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- a.ex.Serve(ctx, la) }()
		st, err := lx.OpenStream(ctx)
		if err != nil {
			t.Fatal(err)
		}
		st.WriteFrame(exchange.EncodeMessage(exchange.Message{Type: exchange.MsgHello, Mesh: "test", Replica: 99}))
		st.WriteFrame(first)
		st.WriteFrame(second)
		st.Close()
		time.Sleep(5 * time.Millisecond) // let it chew; then stop either way
		lx.Close("fuzz done")
		<-done
		if err := a.store.CheckTallies(); err != nil {
			t.Fatal(err)
		}
	})
}
