package exchange

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/countermesh/countermesh/crdt"
)

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
		case <-e.clock.After(e.cfg.RetryInterval):
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
	if catchUpFirst(acked, start) {
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
	s := &session{e: e, name: name, replica: replica, st: st,
		machine: newSender(e.cfg, name, acked, e.takeRetry(name))}
	// The keys the peer refused outlive the session: the next one offers them.
	defer func() { e.returnRetry(name, s.machine.handOver()) }()
	return s.run(ctx, replies, readErr)
}

// session drives a sender on one stream: it owns the stream's I/O, the store and
// the clock, feeds the sender what happens, and carries out what it decides.
type session struct {
	e       *Exchange
	name    string
	replica crdt.ReplicaID
	st      Stream
	machine *sender
}

// run feeds the sender every event until it or the stream ends the session. The
// session starts with a tick, so whatever is pending ships at once.
func (s *session) run(ctx context.Context, replies <-chan Message, readErr <-chan error) error {
	var wake <-chan time.Time // fires when the sender's timer is due; nil when none is armed
	committed := s.e.store.Committed()
	ev := senderEvent{kind: evTick}
	for {
		ev.now, ev.last = s.e.clock.Now(), s.e.store.LastSeq()
		ev.requeue = s.e.takeRetry(s.name) // refused in an anti-entropy round meanwhile
		for _, a := range s.machine.step(ev, s.e.store) {
			if a.kind == actArm {
				wake = s.e.clock.After(a.at.Sub(ev.now))
			} else if err := s.do(ctx, a); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-readErr:
			return err
		case m := <-replies:
			ev = senderEvent{kind: evReply, reply: m}
		case <-committed:
			committed = s.e.store.Committed()
			s.e.lag.note(s.e.store.LastSeq(), s.e.clock.Now())
			ev = senderEvent{kind: evCommit}
		case <-wake:
			wake = nil
			ev = senderEvent{kind: evTick}
		}
	}
}

// do carries out one of the sender's actions but arming the timer.
func (s *session) do(ctx context.Context, a action) error {
	switch a.kind {
	case actShip:
		state, err := s.e.store.State(a.keys)
		if err != nil {
			return err
		}
		return s.e.write(s.name, s.st, Message{Type: MsgBatch, Seq: a.upTo, Delta: state})
	case actAck:
		s.e.noteRefused(s.name, a.refused, a.added, a.before, a.left)
		if !a.advanced {
			return nil
		}
		if err := s.e.store.SetAcked(ctx, s.replica, a.upTo); err != nil {
			return err
		}
		s.e.update(s.name, func(p *peerState) { p.acked = a.upTo })
		return nil
	case actEnd:
		if errors.Is(a.err, errRefused) {
			s.e.cfg.Logger.Warn("exchange: peer could not apply a batch; will offer it again",
				"peer", s.name, "err", a.err)
		}
		return a.err
	}
	return nil
}
