package exchange

import (
	"context"
	"errors"
	"fmt"

	"github.com/countermesh/countermesh/crdt"
	"github.com/countermesh/countermesh/sync/wire"
)

// receive serves a batch stream: it joins each batch into the store, which makes
// it durable, then acknowledges it. A batch the store refuses (a timestamp beyond
// max drift, a failed commit) is answered with a refusal and ends the stream, so
// nothing after it is acknowledged; the sender offers it again later.
func (e *Exchange) receive(ctx context.Context, peer string, replica crdt.ReplicaID, st Stream, first wire.Message) error {
	m := first
	for {
		if m.Type != wire.MsgBatch {
			return fmt.Errorf("%w: %s sent %s on a batch stream", ErrProtocol, peer, m.Type)
		}
		if err := e.merge(ctx, m.Delta); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			reason := err.Error()
			if errors.Is(err, crdt.ErrClockDrift) {
				e.update(peer, func(p *peerState) { p.skew = reason })
				e.cfg.Logger.Warn("exchange: refusing a batch beyond max clock drift", "peer", peer, "err", err)
			}
			e.write(peer, st, wire.Message{Type: wire.MsgNack, Seq: m.Seq, Reason: reason})
			return nil
		}
		e.noteApplied(replica, m.Seq)
		if err := e.write(peer, st, wire.Message{Type: wire.MsgAck, Seq: m.Seq}); err != nil {
			return err
		}
		var err error
		if m, err = e.read(peer, st); err != nil {
			return err
		}
	}
}
