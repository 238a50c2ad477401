package exchange

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/countermesh/countermesh/crdt"
)

// errRefused is a sender's session ending because the receiver refused a batch.
var errRefused = errors.New("exchange: batch refused")

// sendLoop runs sending sessions to the peer until ctx ends, waiting
// RetryInterval after a session fails for any reason but a protocol violation.
func (e *Exchange) sendLoop(ctx context.Context, link Link) error {
	for {
		err := e.sendSession(ctx, link)
		if ctx.Err() != nil || errors.Is(err, ErrProtocol) {
			return err
		}
		e.cfg.Logger.Debug("exchange: send session ended", "peer", link.PeerName(), "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(e.cfg.RetryInterval):
		}
	}
}

// sendSession opens a batch stream and ships changes until it fails. A peer behind
// the start of the change log is first caught up by anti-entropy.
func (e *Exchange) sendSession(ctx context.Context, link Link) error {
	name := link.PeerName()
	st, replica, err := e.openStream(ctx, link)
	if err != nil {
		return err
	}
	defer st.Close()
	acked, err := e.store.Acked(replica)
	if err != nil {
		return err
	}
	start, err := e.store.LogStart()
	if err != nil {
		return err
	}
	if acked+1 < start {
		e.cfg.Logger.Info("exchange: peer behind the change log, repairing by anti-entropy",
			"peer", name, "acked", acked, "log_start", start)
		if acked, err = e.AntiEntropy(ctx, link); err != nil {
			return fmt.Errorf("catch up %s: %w", name, err)
		}
	}
	e.update(name, func(p *peerState) { p.acked = acked })

	replies := make(chan Message, e.cfg.Window+1)
	readErr := make(chan error, 1)
	readCtx, stopReading := context.WithCancel(ctx)
	release := boundBy(readCtx, st) // ending the session ends the reader's read
	var reader sync.WaitGroup
	defer func() { stopReading(); reader.Wait(); release() }()
	reader.Go(func() {
		for {
			m, err := e.read(name, st)
			if err != nil {
				readErr <- err
				return
			}
			select {
			case replies <- m:
			case <-readCtx.Done():
				return
			}
		}
	})
	s := &session{e: e, name: name, replica: replica, st: st, acked: acked, sentUpTo: acked,
		retry: e.takeRetry(name)}
	// The keys the peer refused outlive the session: the next one offers them.
	defer func() { e.returnRetry(name, s.retry) }()
	return s.run(ctx, replies, readErr)
}

// session is one sender's state on one stream.
type session struct {
	e        *Exchange
	name     string
	replica  crdt.ReplicaID
	st       Stream
	acked    uint64      // the peer's cumulative acknowledgement
	sentUpTo uint64      // the sequence shipped batches cover up to
	inflight []sentBatch // the unacknowledged batches, oldest first
	retry    retrySet    // keys the peer refused, to offer again until taken

	lastShipped time.Time // when the last batch was written
}

// sentBatch is a batch awaiting its acknowledgement.
type sentBatch struct {
	upTo uint64      // the sequence it covers up to
	keys crdt.KeySet // the keys it offered
}

func (s *session) run(ctx context.Context, replies <-chan Message, readErr <-chan error) error {
	timer := time.NewTimer(0)
	defer timer.Stop()
	var wake time.Time // when the timer fires; zero when it is not armed
	committed := s.e.store.Committed()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-readErr:
			return err
		case m := <-replies:
			if err := s.handleReply(ctx, m); err != nil {
				return err
			}
		case <-committed:
			committed = s.e.store.Committed()
			s.e.lag.note(s.e.store.LastSeq(), time.Now())
		case <-timer.C:
			wake = time.Time{}
		}
		s.retry.join(s.e.takeRetry(s.name)) // refused in an anti-entropy round meanwhile
		now := time.Now()
		wait, ok := s.nextShipment(now)
		switch {
		case !ok:
		case wait > 0:
			if at := now.Add(wait); wake.IsZero() || at.Before(wake) {
				timer.Reset(wait)
				wake = at
			}
		default:
			if err := s.flush(); err != nil {
				return err
			}
		}
	}
}

// nextShipment says when to ship the next batch: in wait (zero or less: now), or
// not until something changes (ok false). A batch goes at once when a batch's worth
// is pending, or when nothing was shipped for a flush interval (an idle link adds
// no latency); otherwise at the flush timer, so whatever keeps coming coalesces
// into one batch per interval. Keys the peer refused go when their retry is due,
// alone if nothing else is pending.
func (s *session) nextShipment(now time.Time) (wait time.Duration, ok bool) {
	if len(s.inflight) >= s.e.cfg.Window {
		return 0, false
	}
	wait, ok = s.retry.dueIn(now)
	if pending := s.e.store.LastSeq() - s.sentUpTo; pending > 0 {
		flush := s.e.cfg.FlushInterval - now.Sub(s.lastShipped)
		if pending >= uint64(s.e.cfg.MaxBatchKeys) {
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
func (s *session) flush() error {
	for len(s.inflight) < s.e.cfg.Window {
		keys := s.retry.take(time.Now(), s.e.cfg.MaxBatchKeys/2)
		changed, upTo, err := s.e.store.Changes(s.sentUpTo, s.e.cfg.MaxBatchKeys-keys.Len())
		if err != nil {
			return err
		}
		if upTo <= s.sentUpTo {
			if keys.Len() == 0 {
				return nil
			}
			upTo = s.sentUpTo // only refused keys: the batch covers no new sequence
		}
		keys.Union(changed)
		state, err := s.e.store.State(keys)
		if err != nil {
			return err
		}
		if err := s.e.write(s.name, s.st, Message{Type: MsgBatch, Seq: upTo, Delta: state}); err != nil {
			return err
		}
		s.sentUpTo = upTo
		s.inflight = append(s.inflight, sentBatch{upTo: upTo, keys: keys})
		s.lastShipped = time.Now()
	}
	return nil
}

// handleReply takes an acknowledgement or a refusal from the receiver.
func (s *session) handleReply(ctx context.Context, m Message) error {
	switch m.Type {
	case MsgAck:
		if len(s.inflight) == 0 {
			return fmt.Errorf("%w: %s acknowledged %d, with no batch awaiting it", ErrProtocol, s.name, m.Seq)
		}
		if m.Seq != s.inflight[0].upTo {
			return fmt.Errorf("%w: %s acknowledged %d, expected %d", ErrProtocol, s.name, m.Seq, s.inflight[0].upTo)
		}
		b := s.inflight[0]
		if err := within(m.Refused, b.keys); err != nil {
			return fmt.Errorf("%w: %s refused %w", ErrProtocol, s.name, err)
		}
		s.inflight = s.inflight[1:]
		before := s.retry.Len()
		added := s.retry.settle(b.keys, m.Refused, time.Now(), s.e.cfg.RetryInterval)
		s.e.noteRefused(s.name, m.Refused, added, before, s.retry.Len())
		if m.Seq <= s.acked {
			return nil // a batch of refused keys alone
		}
		if err := s.e.store.SetAcked(ctx, s.replica, m.Seq); err != nil {
			return err
		}
		s.acked = m.Seq
		s.e.update(s.name, func(p *peerState) { p.acked = m.Seq })
		return nil
	case MsgNack:
		s.e.cfg.Logger.Warn("exchange: peer could not apply a batch; will offer it again",
			"peer", s.name, "seq", m.Seq, "reason", m.Reason)
		return fmt.Errorf("%w by %s: %s", errRefused, s.name, m.Reason)
	}
	return fmt.Errorf("%w: %s sent %s on a batch stream", ErrProtocol, s.name, m.Type)
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
