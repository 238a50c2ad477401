package exchange

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"

	"github.com/countermesh/countermesh/crdt"
)

// TestReceiver runs the receiver's scripts in testdata/receiver. Keys are items,
// each standing for its likes counter.
//
//	new                          a receiver that merged nothing yet
//	batch seq=N keys=(a,...)     a batch read on a batch stream
//	message type=T               a message of another type read on a batch stream
//	merged seq=N keys=(a,...) [refused=(a,...)] [round]
//	                             the store merged a batch (or, with round, the
//	                             states of an anti-entropy round), refusing some
//	failed seq=N                 the store could not merge a batch at all
//	round-end seq=N              an anti-entropy round merged all it sent
//	state
//
// Each command prints the receiver's actions, one a line.
func TestReceiver(t *testing.T) {
	datadriven.Walk(t, "testdata/receiver", func(t *testing.T, path string) {
		var r *receiver
		stepped := func(ev receiverEvent) string { return formatReceiverActions(r.step(ev)) }
		seq := func(d *datadriven.TestData) uint64 { return uint64(scanInt(t, d, "seq", 0)) }
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			switch d.Cmd {
			case "new":
				r = newReceiver("a")
				return ""
			case "batch":
				m := Message{Type: MsgBatch, Seq: seq(d), Delta: scanDelta(t, d, "keys")}
				return stepped(receiverEvent{kind: rcvMessage, msg: m})
			case "message":
				var name string
				d.ScanArgs(t, "type", &name)
				return stepped(receiverEvent{kind: rcvMessage, msg: Message{Type: messageTypeNamed(t, name)}})
			case "merged":
				refused := scanKeys(t, d, "refused")
				var drift error
				if refused.Len() > 0 {
					drift = errors.New("timestamp 10s ahead, beyond max drift 1s")
				}
				return stepped(receiverEvent{kind: rcvMerged, seq: seq(d), round: d.HasArg("round"),
					delta: scanDelta(t, d, "keys"), refused: refused, drift: drift})
			case "failed":
				return stepped(receiverEvent{kind: rcvFailed, seq: seq(d), err: errors.New("commit: disk full")})
			case "round-end":
				return stepped(receiverEvent{kind: rcvRoundEnd, seq: seq(d)})
			case "state":
				return fmt.Sprintf("applied=%d mark=%d holding=%t refusing=%d\n", r.applied, r.mark, r.holding, r.refusing.Len())
			}
			t.Fatalf("unknown command %q", d.Cmd)
			return ""
		})
	})
}

// scanDelta returns a delta of the keys named by key, each with an empty state.
func scanDelta(t *testing.T, d *datadriven.TestData, key string) crdt.Delta {
	keys := scanKeys(t, d, key)
	delta := crdt.Delta{Counters: make(map[crdt.CounterKey]crdt.PNCounter)}
	for k := range keys.Counters {
		delta.Counters[k] = crdt.PNCounter{}
	}
	return delta
}

// messageTypeNamed returns the message type whose name is name.
func messageTypeNamed(t *testing.T, name string) MessageType {
	for typ := MsgHello; typ <= MsgStatesEnd; typ++ {
		if typ.String() == name {
			return typ
		}
	}
	t.Fatalf("no message type %q", name)
	return 0
}

func formatReceiverActions(as []receiverAction) string {
	var b strings.Builder
	for _, a := range as {
		switch a.kind {
		case rcvMerge:
			var keys crdt.KeySet
			keys.AddDelta(a.batch.Delta)
			fmt.Fprintf(&b, "merge seq=%d keys=%s\n", a.upTo, formatKeys(keys))
		case rcvRefusing:
			fmt.Fprintf(&b, "refusing refused=%s new=%d refusing=%d\n", formatKeys(a.refused), a.added, a.left)
		case rcvApplied:
			fmt.Fprintf(&b, "applied up-to=%d\n", a.upTo)
		case rcvAck:
			fmt.Fprintf(&b, "ack seq=%d refused=%s\n", a.upTo, formatKeys(a.refused))
		case rcvNack:
			fmt.Fprintf(&b, "nack seq=%d: %v\n", a.upTo, a.err)
		case rcvEnd:
			fmt.Fprintf(&b, "end: %v\n", a.err)
		}
	}
	return b.String()
}
