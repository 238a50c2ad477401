package exchange

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"

	"github.com/countermesh/countermesh/crdt"
)

// TestSender runs the sender's scripts in testdata/sender. Times are offsets from
// the script's start; keys are items, each standing for its likes counter.
//
//	new [window=N] [max-keys=N] [flush=D] [retry=D] [acked=N] [handed-over]
//	                             a sender on a fresh log, or with the set and log
//	                             of the session that ended
//	commit at=D keys=(a,b,...)   a committed sequence changing keys
//	tick at=D                    the armed timer fired
//	ack at=D seq=N [refused=(a,...)]
//	nack at=D seq=N
//	end                          the session ends: hand the retry set over
//	catch-up acked=N log-start=N whether a session first runs anti-entropy
//	state
//
// Each command prints the sender's actions, one a line.
func TestSender(t *testing.T) {
	datadriven.Walk(t, "testdata/sender", func(t *testing.T, path string) {
		var (
			s       *sender
			log     scriptLog
			handed  retrySet
			t0      = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			at      = func(d *datadriven.TestData) time.Time { return t0.Add(scanDuration(t, d, "at", 0)) }
			stepped = func(ev senderEvent) string { return formatActions(s.step(ev, &log), t0) }
		)
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			switch d.Cmd {
			case "new":
				cfg := Config{
					Window:        scanInt(t, d, "window", 8),
					MaxBatchKeys:  scanInt(t, d, "max-keys", 4096),
					FlushInterval: scanDuration(t, d, "flush", 20*time.Millisecond),
					RetryInterval: scanDuration(t, d, "retry", time.Second),
				}.withDefaults()
				var retry retrySet
				if d.HasArg("handed-over") {
					retry, handed = handed, retrySet{}
				}
				acked := uint64(scanInt(t, d, "acked", 0))
				if !d.HasArg("handed-over") {
					log.entries = []scriptEntry{{seq: acked}} // a fresh log, acknowledged up to acked
				}
				s = newSender(cfg, "b", acked, retry)
				return ""
			case "commit":
				last := log.entries[len(log.entries)-1].seq + 1
				log.entries = append(log.entries, scriptEntry{seq: last, keys: scanKeys(t, d, "keys")})
				return stepped(senderEvent{kind: evCommit, now: at(d), last: last})
			case "tick":
				return stepped(senderEvent{kind: evTick, now: at(d)})
			case "ack":
				m := Message{Type: MsgAck, Seq: uint64(scanInt(t, d, "seq", 0)), Refused: scanKeys(t, d, "refused")}
				return stepped(senderEvent{kind: evReply, now: at(d), reply: m})
			case "nack":
				m := Message{Type: MsgNack, Seq: uint64(scanInt(t, d, "seq", 0)), Reason: "disk full"}
				return stepped(senderEvent{kind: evReply, now: at(d), reply: m})
			case "catch-up":
				return fmt.Sprintf("%t\n", catchUpFirst(uint64(scanInt(t, d, "acked", 0)), uint64(scanInt(t, d, "log-start", 0))))
			case "end":
				handed = s.handOver()
				return fmt.Sprintf("handed over: %d keys", handed.Len())
			case "state":
				var b strings.Builder
				fmt.Fprintf(&b, "acked=%d sent-up-to=%d retrying=%d\n", s.acked, s.sentUpTo, s.retry.Len())
				for _, f := range s.inflight {
					fmt.Fprintf(&b, "in flight: up-to=%d keys=%s\n", f.upTo, formatKeys(f.keys))
				}
				return b.String()
			}
			t.Fatalf("unknown command %q", d.Cmd)
			return ""
		})
	})
}

// scriptLog is a change log in memory: one entry per committed sequence.
type scriptLog struct{ entries []scriptEntry }

type scriptEntry struct {
	seq  uint64
	keys crdt.KeySet
}

// Changes gathers whole entries after after until at least maxKeys keys, as
// persist.Store does.
func (l *scriptLog) Changes(after uint64, maxKeys int) (crdt.KeySet, uint64, error) {
	var keys crdt.KeySet
	upTo := after
	for _, e := range l.entries {
		if e.seq <= after || e.keys.Len() == 0 {
			continue
		}
		keys.Union(e.keys)
		upTo = e.seq
		if keys.Len() >= maxKeys {
			break
		}
	}
	return keys, upTo, nil
}

func formatActions(as []action, t0 time.Time) string {
	var b strings.Builder
	for _, a := range as {
		switch a.kind {
		case actShip:
			fmt.Fprintf(&b, "ship up-to=%d keys=%s\n", a.upTo, formatKeys(a.keys))
		case actArm:
			fmt.Fprintf(&b, "arm at=%s\n", a.at.Sub(t0))
		case actAck:
			fmt.Fprintf(&b, "ack seq=%d advanced=%t refused=%s new=%d refusing=%d\n",
				a.upTo, a.advanced, formatKeys(a.refused), a.added, a.left)
		case actEnd:
			fmt.Fprintf(&b, "end: %v\n", a.err)
		}
	}
	return b.String()
}

func formatKeys(s crdt.KeySet) string {
	var items []string
	for k := range s.Counters {
		items = append(items, k.Item)
	}
	slices.Sort(items)
	return "(" + strings.Join(items, ",") + ")"
}

func scanKeys(t *testing.T, d *datadriven.TestData, key string) crdt.KeySet {
	var s crdt.KeySet
	if arg, ok := d.Arg(key); ok {
		for _, item := range arg.Vals {
			s.AddCounter(crdt.CounterKey{Item: item, Name: "likes"})
		}
	}
	return s
}

func scanInt(t *testing.T, d *datadriven.TestData, key string, def int) int {
	if d.HasArg(key) {
		d.ScanArgs(t, key, &def)
	}
	return def
}

func scanDuration(t *testing.T, d *datadriven.TestData, key string, def time.Duration) time.Duration {
	if !d.HasArg(key) {
		return def
	}
	var s string
	d.ScanArgs(t, key, &s)
	v, err := time.ParseDuration(s)
	if err != nil {
		t.Fatalf("%s: %v", d.Pos, err)
	}
	return v
}
