package exchange

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/countermesh/countermesh/crdt"
	"github.com/countermesh/countermesh/sync/wire"
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

	replies := make(chan wire.Message, e.cfg.Window+1)
	readErr := make(chan error, 1)
	go func() { // ends when st fails or closes, which the deferred Close forces
		for {
			m, err := e.read(name, st)
			if err != nil {
				readErr <- err
				return
			}
			replies <- m
		}
	}()
	s := &session{e: e, name: name, replica: replica, st: st, acked: acked, sentUpTo: acked}
	return s.run(ctx, replies, readErr)
}

// session is one sender's state on one stream.
type session struct {
	e        *Exchange
	name     string
	replica  crdt.ReplicaID
	st       Stream
	acked    uint64   // the peer's cumulative acknowledgement
	sentUpTo uint64   // the sequence shipped batches cover up to
	inflight []uint64 // upTo of each unacknowledged batch, ascending

	lastShipped time.Time // when the last batch was written
}

func (s *session) run(ctx context.Context, replies <-chan wire.Message, readErr <-chan error) error {
	// Ship at once when a batch's worth is pending, or when nothing was shipped
	// for a flush interval (an idle link adds no latency); otherwise wait for the
	// flush timer, so whatever keeps coming coalesces into one batch per interval.
	timer := time.NewTimer(0)
	defer timer.Stop()
	armed := true
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
			armed = false
		}
		pending := s.e.store.LastSeq() - s.sentUpTo
		if pending == 0 || len(s.inflight) >= s.e.cfg.Window {
			continue
		}
		wait := s.e.cfg.FlushInterval - time.Since(s.lastShipped)
		if wait > 0 && pending < uint64(s.e.cfg.MaxBatchKeys) {
			if !armed {
				timer.Reset(wait)
				armed = true
			}
			continue
		}
		if err := s.flush(); err != nil {
			return err
		}
	}
}

// flush ships pending changes while the window has room.
func (s *session) flush() error {
	for len(s.inflight) < s.e.cfg.Window {
		keys, upTo, err := s.e.store.Changes(s.sentUpTo, s.e.cfg.MaxBatchKeys)
		if err != nil {
			return err
		}
		if upTo <= s.sentUpTo {
			return nil
		}
		state, err := s.e.store.State(keys)
		if err != nil {
			return err
		}
		if err := s.e.write(s.name, s.st, wire.Message{Type: wire.MsgBatch, Seq: upTo, Delta: state}); err != nil {
			return err
		}
		s.sentUpTo = upTo
		s.inflight = append(s.inflight, upTo)
		s.lastShipped = time.Now()
	}
	return nil
}

// handleReply takes an acknowledgement or a refusal from the receiver.
func (s *session) handleReply(ctx context.Context, m wire.Message) error {
	switch m.Type {
	case wire.MsgAck:
		if len(s.inflight) == 0 || m.Seq != s.inflight[0] {
			return fmt.Errorf("%w: %s acknowledged %d, expected %v", ErrProtocol, s.name, m.Seq, s.inflight)
		}
		s.inflight = s.inflight[1:]
		if err := s.e.store.SetAcked(ctx, s.replica, m.Seq); err != nil {
			return err
		}
		s.acked = m.Seq
		s.e.update(s.name, func(p *peerState) { p.acked = m.Seq })
		return nil
	case wire.MsgNack:
		s.e.cfg.Logger.Warn("exchange: peer refused a batch; will offer it again",
			"peer", s.name, "seq", m.Seq, "reason", m.Reason)
		s.e.update(s.name, func(p *peerState) { p.skew = m.Reason })
		return fmt.Errorf("%w by %s: %s", errRefused, s.name, m.Reason)
	}
	return fmt.Errorf("%w: %s sent %s on a batch stream", ErrProtocol, s.name, m.Type)
}
