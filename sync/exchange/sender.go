package exchange

import (
	"errors"
	"fmt"
	"time"

	"github.com/countermesh/countermesh/crdt"
)

// errRefused is a sender's session ending because the receiver refused a batch.
var errRefused = errors.New("exchange: batch refused")

// sender decides, for one batch stream, what to ship and when: the pure half of a
// sending session, in the manner of etcd-io/raft's RawNode. It has no goroutines,
// no I/O and no clock: its driver (session.run) feeds it events with the time,
// passes in the change log it reads, and carries out the actions it returns.
//
// It assumes nothing of whose log it ships: a sequence, an acknowledgement and a
// change log are all it knows, so one sender per log (per partition, one day)
// serves as well as one per peer.
type sender struct {
	cfg  Config
	peer string // for errors

	last        uint64      // the last committed sequence of the log, as last told
	acked       uint64      // the peer's cumulative acknowledgement
	sentUpTo    uint64      // the sequence shipped batches cover up to
	inflight    []sentBatch // the unacknowledged batches, oldest first
	retry       retrySet    // keys the peer refused, to offer again until taken
	lastShipped time.Time   // when the last batch was shipped
	wake        time.Time   // when the armed timer fires; zero when none is armed
	ended       bool        // an end action was returned: nothing follows
}

// sentBatch is a batch awaiting its acknowledgement.
type sentBatch struct {
	upTo uint64      // the sequence it covers up to
	keys crdt.KeySet // the keys it offered
}

// changeLog is the fact of the store a sender reads: the keys changed after a
// sequence. *persist.Store is one; a partitioned store would pass a partition's.
type changeLog interface {
	// Changes returns keys changed after a sequence, up to about maxKeys, and the
	// sequence they cover up to (after, when nothing is new).
	Changes(after uint64, maxKeys int) (crdt.KeySet, uint64, error)
}

// newSender returns a sender to a peer that acknowledged acked, holding the keys
// the peer refused before (handed over by the previous session).
func newSender(cfg Config, peer string, acked uint64, retry retrySet) *sender {
	return &sender{cfg: cfg, peer: peer, last: acked, acked: acked, sentUpTo: acked, retry: retry}
}

// catchUpFirst says whether a sending session to a peer that acknowledged acked
// is first to run an anti-entropy round: the change log, starting at logStart,
// no longer holds every change after acked (it was trimmed, or the peer is new).
func catchUpFirst(acked, logStart uint64) bool { return acked+1 < logStart }

// eventKind says what happened.
type eventKind int

const (
	evTick   eventKind = iota // the armed timer fired, or the session started
	evCommit                  // the log committed more
	evReply                   // the peer answered a batch
)

// senderEvent is one input of a sender.
type senderEvent struct {
	kind eventKind
	now  time.Time
	// last is the last committed sequence of the log, a fact passed in with
	// every event; a lower value than before is ignored.
	last uint64
	// reply is the peer's answer, for evReply.
	reply Message
	// requeue holds keys the peer refused elsewhere meanwhile (an anti-entropy
	// round), to offer with the rest, at once.
	requeue retrySet
}

// actionKind says what a driver is to do.
type actionKind int

const (
	actShip actionKind = iota // send the current state of keys as a batch covering up to upTo
	actArm                    // arm the timer for at; it replaces a later one
	actAck                    // record the peer's answer to a batch
	actEnd                    // end the session with err
)

// action is one output of a sender.
type action struct {
	kind actionKind
	// upTo is, for actShip, the sequence the batch covers up to and, for actAck,
	// the sequence acknowledged.
	upTo uint64
	keys crdt.KeySet // actShip: the keys whose current state the batch carries
	at   time.Time   // actArm
	// advanced says the cumulative acknowledgement rose to upTo: the driver
	// stores it. It is false for a batch of refused keys alone.
	advanced bool
	// refused are the keys the peer refused in its answer; added of them were
	// not refused before, before were refused before it, left are refused now.
	refused             crdt.KeySet
	added, before, left int
	err                 error // actEnd
}

// step takes one event and returns what to do, in order. After an actEnd the
// sender takes no more events.
func (s *sender) step(ev senderEvent, log changeLog) []action {
	if s.ended {
		return nil
	}
	s.last = max(s.last, ev.last)
	var out []action
	switch ev.kind {
	case evTick:
		if !s.wake.IsZero() && !ev.now.Before(s.wake) {
			s.wake = time.Time{}
		}
	case evReply:
		a := s.answer(ev.reply, ev.now)
		out = append(out, a)
		if a.kind == actEnd {
			s.ended = true
			return out
		}
	}
	s.retry.join(ev.requeue)
	out = s.decide(ev.now, log, out)
	if n := len(out); n > 0 && out[n-1].kind == actEnd {
		s.ended = true
	}
	return out
}

// handOver returns the keys the peer refused and has not taken, for the next
// session to the peer, which offers them at once.
func (s *sender) handOver() retrySet {
	r := s.retry
	r.release()
	s.retry = retrySet{}
	return r
}

// decide ships or arms the timer, as nextShipment says, appending to out.
func (s *sender) decide(now time.Time, log changeLog, out []action) []action {
	wait, ok := s.nextShipment(now)
	switch {
	case !ok:
	case wait > 0:
		if at := now.Add(wait); s.wake.IsZero() || at.Before(s.wake) {
			s.wake = at
			out = append(out, action{kind: actArm, at: at})
		}
	default:
		out = s.flush(now, log, out)
	}
	return out
}

// nextShipment says when to ship the next batch: in wait (zero or less: now), or
// not until something changes (ok false). A batch goes at once when a batch's worth
// is pending, or when nothing was shipped for a flush interval (an idle link adds
// no latency); otherwise at the flush timer, so whatever keeps coming coalesces
// into one batch per interval. Keys the peer refused go when their retry is due,
// alone if nothing else is pending. Nothing goes while the window is full.
func (s *sender) nextShipment(now time.Time) (wait time.Duration, ok bool) {
	if len(s.inflight) >= s.cfg.Window {
		return 0, false
	}
	wait, ok = s.retry.dueIn(now)
	if s.last > s.sentUpTo {
		flush := s.cfg.FlushInterval - now.Sub(s.lastShipped)
		if s.last-s.sentUpTo >= uint64(s.cfg.MaxBatchKeys) {
			flush = 0
		}
		if !ok || flush < wait {
			wait = flush
		}
		ok = true
	}
	return wait, ok
}

// flush ships pending changes, and the refused keys due again, while the window
// has room. Refused keys take at most half a batch.
func (s *sender) flush(now time.Time, log changeLog, out []action) []action {
	for len(s.inflight) < s.cfg.Window {
		keys := s.retry.take(now, s.cfg.MaxBatchKeys/2)
		changed, upTo, err := log.Changes(s.sentUpTo, s.cfg.MaxBatchKeys-keys.Len())
		if err != nil {
			return append(out, action{kind: actEnd, err: fmt.Errorf("read changes for %s: %w", s.peer, err)})
		}
		if upTo <= s.sentUpTo {
			if keys.Len() == 0 {
				return out
			}
			upTo = s.sentUpTo // only refused keys: the batch covers no new sequence
		}
		keys.Union(changed)
		s.sentUpTo = upTo
		s.inflight = append(s.inflight, sentBatch{upTo: upTo, keys: keys})
		s.lastShipped = now
		out = append(out, action{kind: actShip, upTo: upTo, keys: keys})
	}
	return out
}

// answer takes an acknowledgement or a refusal of the oldest batch in flight.
func (s *sender) answer(m Message, now time.Time) action {
	switch m.Type {
	case MsgAck:
		if len(s.inflight) == 0 {
			return s.end("%w: %s acknowledged %d, with no batch awaiting it", ErrProtocol, s.peer, m.Seq)
		}
		b := s.inflight[0]
		if m.Seq != b.upTo {
			return s.end("%w: %s acknowledged %d, expected %d", ErrProtocol, s.peer, m.Seq, b.upTo)
		}
		if err := within(m.Refused, b.keys); err != nil {
			return s.end("%w: %s refused %w", ErrProtocol, s.peer, err)
		}
		s.inflight = s.inflight[1:]
		a := action{kind: actAck, upTo: m.Seq, refused: m.Refused, before: s.retry.Len()}
		a.added = s.retry.settle(b.keys, m.Refused, now, s.cfg.RetryInterval)
		a.left = s.retry.Len()
		if m.Seq > s.acked { // else a batch of refused keys alone
			s.acked, a.advanced = m.Seq, true
		}
		return a
	case MsgNack:
		return s.end("%w by %s at %d: %s", errRefused, s.peer, m.Seq, m.Reason)
	}
	return s.end("%w: %s sent %s on a batch stream", ErrProtocol, s.peer, m.Type)
}

func (s *sender) end(format string, args ...any) action {
	return action{kind: actEnd, err: fmt.Errorf(format, args...)}
}

// within checks that every key of refused is one of offered.
func within(refused, offered crdt.KeySet) error {
	for k := range refused.Counters {
		if _, ok := offered.Counters[k]; !ok {
			return fmt.Errorf("counter %s/%s, which the batch did not offer", k.Item, k.Name)
		}
	}
	for k := range refused.Registers {
		if _, ok := offered.Registers[k]; !ok {
			return fmt.Errorf("register %s/%s, which the batch did not offer", k.Item, k.User)
		}
	}
	return nil
}
