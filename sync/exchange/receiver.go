package exchange

import (
	"fmt"
	"time"

	"github.com/countermesh/countermesh/crdt"
)

// receiver decides what this side takes from one remote replica: the pure half of
// receiving, in the manner of etcd-io/raft's RawNode, as sender is of sending. It
// has no goroutines, no I/O and no clock: its drivers (receive, for a batch
// stream, and the anti-entropy rounds the peer opens) feed it what they read and
// what the store's merge said, and carry out the actions it returns.
//
// It decides what to answer a batch (an acknowledgement naming the keys refused,
// or a refusal of the whole batch), when a message breaks the protocol, which of
// the replica's keys are refused now, and what the causal Applied mark of the
// replica may report: while some of its keys are refused, the mark holds where it
// was before the first of them, however far later batches go.
//
// One receiver serves every stream of its replica, so its drivers step it under
// the exchange's lock. It assumes nothing of whose changes it takes: a sequence
// and the keys offered and refused are all it knows.
type receiver struct {
	peer     string   // for errors
	refusing retrySet // the replica's keys refused now, until a later offer is taken
	applied  uint64   // the highest sequence whose batch, or round, was merged
	held     uint64   // what applied was when the first key now refused was refused
	holding  bool     // some keys are refused: the mark is held at held
	mark     uint64   // the Applied mark as last reported
}

// newReceiver returns a receiver of the replica of the named peer that has
// merged nothing yet.
func newReceiver(peer string) *receiver { return &receiver{peer: peer} }

// receiverEventKind says what happened.
type receiverEventKind int

const (
	rcvMessage  receiverEventKind = iota // a message was read on a batch stream
	rcvMerged                            // the store merged a batch, or states of a round
	rcvFailed                            // the store could not merge a batch at all
	rcvRoundEnd                          // an anti-entropy round the peer opened merged all it sent
)

// receiverEvent is one input of a receiver.
type receiverEvent struct {
	kind receiverEventKind
	// msg is the message read, for rcvMessage.
	msg Message
	// seq is the sequence of the batch merged or not (rcvMerged, rcvFailed), or
	// the one a round covers up to (rcvRoundEnd).
	seq uint64
	// round says, for rcvMerged, that the states came in an anti-entropy round:
	// they are answered and applied at the round's end, not one by one.
	round bool
	// delta is what was merged, and refused the keys the store refused of it
	// (timestamps beyond max clock drift), for rcvMerged.
	delta   crdt.Delta
	refused crdt.KeySet
	// drift is the store's reason for refusing, passed on to the report.
	drift error
	// err is why the store could not merge, for rcvFailed.
	err error
}

// receiverActionKind says what a driver is to do.
type receiverActionKind int

const (
	rcvMerge    receiverActionKind = iota // merge the batch's delta into the store
	rcvRefusing                           // report the keys refused now
	rcvApplied                            // Applied may report upTo for the replica
	rcvAck                                // acknowledge the batch up to upTo, naming refused
	rcvNack                               // refuse the whole batch up to upTo for err, and end the stream
	rcvEnd                                // end the stream: the peer broke the protocol (err)
)

// receiverAction is one output of a receiver.
type receiverAction struct {
	kind receiverActionKind
	// upTo is the sequence acknowledged, refused or applied.
	upTo uint64
	// batch is the message to merge, for rcvMerge.
	batch Message
	// refused are the keys refused in the batch acknowledged (rcvAck), or in the
	// delta merged (rcvRefusing); of the keys refused now, added were not refused
	// before, left are all of them, and tracking says some were before.
	refused     crdt.KeySet
	added, left int
	tracking    bool
	// err is why, for rcvNack and rcvEnd, and the store's reason for refusing,
	// for rcvRefusing.
	err error
}

// step takes one event and returns what to do, in order.
func (r *receiver) step(ev receiverEvent) []receiverAction {
	switch ev.kind {
	case rcvMessage:
		if ev.msg.Type != MsgBatch {
			return []receiverAction{{kind: rcvEnd,
				err: fmt.Errorf("%w: %s sent %s on a batch stream", ErrProtocol, r.peer, ev.msg.Type)}}
		}
		return []receiverAction{{kind: rcvMerge, upTo: ev.msg.Seq, batch: ev.msg}}
	case rcvFailed:
		return []receiverAction{{kind: rcvNack, upTo: ev.seq, err: ev.err}}
	case rcvMerged:
		out := r.settle(ev, nil)
		if ev.round {
			return r.report(out)
		}
		r.applied = max(r.applied, ev.seq)
		out = r.report(out)
		return append(out, receiverAction{kind: rcvAck, upTo: ev.seq, refused: ev.refused})
	case rcvRoundEnd:
		r.applied = max(r.applied, ev.seq)
		return r.report(nil)
	}
	return nil
}

// settle records which keys of a merged delta were refused: which are refused
// now, and whether the mark holds. The mark holds from the first refusal until
// every key refused since was taken. It reports a refusal, and the taking of the
// last key refused.
func (r *receiver) settle(ev receiverEvent, out []receiverAction) []receiverAction {
	tracking := r.refusing.Len() > 0
	if ev.refused.Len() == 0 && !tracking {
		return out
	}
	var offered crdt.KeySet
	offered.AddDelta(ev.delta)
	added := r.refusing.settle(offered, ev.refused, time.Time{}, 0)
	left := r.refusing.Len()
	switch {
	case left > 0 && !r.holding:
		r.held, r.holding = r.applied, true
	case left == 0:
		r.holding = false
	}
	if ev.refused.Len() == 0 && left > 0 {
		return out // refused before, refused still: nothing to report
	}
	return append(out, receiverAction{kind: rcvRefusing, refused: ev.refused,
		added: added, left: left, tracking: tracking, err: ev.drift})
}

// report appends the Applied mark when it moved.
func (r *receiver) report(out []receiverAction) []receiverAction {
	mark := r.applied
	if r.holding {
		mark = min(r.held, r.applied)
	}
	if mark == r.mark {
		return out
	}
	r.mark = mark
	return append(out, receiverAction{kind: rcvApplied, upTo: mark})
}
