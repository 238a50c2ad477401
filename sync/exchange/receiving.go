package exchange

import (
	"context"

	"github.com/countermesh/countermesh/crdt"
)

// receive serves a batch stream: the driver of the replica's receiver on it. It
// reads each message, joins each batch into the store, which makes it durable,
// and answers as the receiver decides: an acknowledgement naming the keys refused
// (timestamps beyond max drift; the rest of the batch is applied, and the sender
// offers those keys again), or, for a batch the store cannot apply at all (a
// failed commit), a refusal that ends the stream, so nothing after it is
// acknowledged; the sender offers it again later.
func (e *Exchange) receive(ctx context.Context, peer string, replica crdt.ReplicaID, st Stream, first Message) error {
	defer boundBy(ctx, st)() // the link's end ends a blocked read
	ev := receiverEvent{kind: rcvMessage, msg: first}
	for {
		for _, a := range e.stepReceiver(peer, replica, ev) {
			switch a.kind {
			case rcvMerge:
				var err error
				if ev, err = e.merge(ctx, a.batch.Delta); err != nil {
					if ctx.Err() != nil {
						return ctx.Err()
					}
					ev = receiverEvent{kind: rcvFailed, err: err}
				}
				ev.seq = a.upTo
			case rcvAck:
				if err := e.write(peer, st, Message{Type: MsgAck, Seq: a.upTo, Refused: a.refused}); err != nil {
					return err
				}
				m, err := e.read(peer, st)
				if err != nil {
					return err
				}
				ev = receiverEvent{kind: rcvMessage, msg: m}
			case rcvNack:
				e.cfg.Logger.Warn("exchange: could not apply a batch; the peer offers it again", "peer", peer, "err", a.err)
				e.write(peer, st, Message{Type: MsgNack, Seq: a.upTo, Reason: a.err.Error()})
				return nil
			case rcvEnd:
				return a.err
			}
		}
	}
}
