package exchange

import (
	"context"
	"fmt"

	"github.com/countermesh/countermesh/crdt"
)

// receive serves a batch stream: it joins each batch into the store, which makes
// it durable, then acknowledges it, naming the keys it refused (timestamps beyond
// max drift): the rest of the batch is applied, and the sender offers those keys
// again. A batch the store cannot apply at all (a failed commit) is answered with
// a refusal and ends the stream, so nothing after it is acknowledged; the sender
// offers it again later.
func (e *Exchange) receive(ctx context.Context, peer string, replica crdt.ReplicaID, st Stream, first Message) error {
	defer boundBy(ctx, st)() // the link's end ends a blocked read
	m := first
	for {
		if m.Type != MsgBatch {
			return fmt.Errorf("%w: %s sent %s on a batch stream", ErrProtocol, peer, m.Type)
		}
		refused, err := e.merge(ctx, peer, replica, m.Delta)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			e.cfg.Logger.Warn("exchange: could not apply a batch; the peer offers it again", "peer", peer, "err", err)
			e.write(peer, st, Message{Type: MsgNack, Seq: m.Seq, Reason: err.Error()})
			return nil
		}
		e.noteApplied(replica, m.Seq)
		if err := e.write(peer, st, Message{Type: MsgAck, Seq: m.Seq, Refused: refused}); err != nil {
			return err
		}
		if m, err = e.read(peer, st); err != nil {
			return err
		}
	}
}
