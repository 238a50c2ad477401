package exchange_test

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"

	"github.com/countermesh/countermesh/sync/exchange"
)

// memLink is an in-memory exchange.Link: a hand-written fake for tests, with
// streams as buffered channels of frames. Close on either end closes both.
type memLink struct {
	name    string // the peer's name, as the other end is called
	accept  chan exchange.Stream
	peer    *memLink
	done    chan struct{}
	once    *sync.Once
	reasons chan string // close reasons, seen by both ends
}

var errLinkClosed = errors.New("memlink: closed")

// newMemLinks returns the two ends of a link between peers named a and b: the
// first is a's end (its PeerName is b).
func newMemLinks(a, b string) (*memLink, *memLink) {
	done, once, reasons := make(chan struct{}), &sync.Once{}, make(chan string, 4)
	la := &memLink{name: b, accept: make(chan exchange.Stream, 16), done: done, once: once, reasons: reasons}
	lb := &memLink{name: a, accept: make(chan exchange.Stream, 16), done: done, once: once, reasons: reasons}
	la.peer, lb.peer = lb, la
	return la, lb
}

func (l *memLink) PeerName() string      { return l.name }
func (l *memLink) Done() <-chan struct{} { return l.done }

func (l *memLink) Close(reason string) error {
	l.once.Do(func() {
		l.reasons <- reason
		close(l.done)
	})
	return nil
}

func (l *memLink) OpenStream(ctx context.Context) (exchange.Stream, error) {
	ab, ba := make(chan []byte, 64), make(chan []byte, 64)
	mine := newMemStream(ba, ab, l.done)
	theirs := newMemStream(ab, ba, l.done)
	select {
	case l.peer.accept <- theirs:
		return mine, nil
	case <-l.done:
		return nil, errLinkClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (l *memLink) AcceptStream(ctx context.Context) (exchange.Stream, error) {
	select {
	case st := <-l.accept:
		return st, nil
	case <-l.done:
		return nil, errLinkClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// memStream is one end of an in-memory stream.
type memStream struct {
	in   <-chan []byte
	out  chan []byte
	done <-chan struct{}

	mu       sync.Mutex
	closed   bool
	deadline time.Time
	moved    chan struct{} // closed and replaced when the deadline changes
}

func newMemStream(in <-chan []byte, out chan []byte, done <-chan struct{}) *memStream {
	return &memStream{in: in, out: out, done: done, moved: make(chan struct{})}
}

// errDeadline is what a memStream's read or write fails with past its deadline.
var errDeadline = errors.New("memlink: deadline exceeded")

// SetDeadline bounds reads and writes, those blocked now included.
func (s *memStream) SetDeadline(t time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deadline = t
	close(s.moved)
	s.moved = make(chan struct{})
	return nil
}

// expiry returns a channel that fires at the deadline (nil for none) and one
// closed when the deadline moves, and a func to release the timer.
func (s *memStream) expiry() (<-chan time.Time, <-chan struct{}, func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.deadline.IsZero() {
		return nil, s.moved, func() {}
	}
	t := time.NewTimer(time.Until(s.deadline))
	return t.C, s.moved, func() { t.Stop() }
}

func (s *memStream) WriteFrame(p []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("memlink: write on closed stream")
	}
	var fire <-chan time.Time // the deadline as it is now: mu, held, keeps it
	if !s.deadline.IsZero() {
		t := time.NewTimer(time.Until(s.deadline))
		defer t.Stop()
		fire = t.C
	}
	select {
	case s.out <- append([]byte(nil), p...):
		return nil
	case <-s.done:
		return errLinkClosed
	case <-fire:
		return errDeadline
	}
}

func (s *memStream) ReadFrame() ([]byte, error) {
	for {
		fire, moved, stop := s.expiry()
		select {
		case b, ok := <-s.in:
			stop()
			if !ok {
				return nil, io.EOF
			}
			return b, nil
		case <-s.done:
			stop()
			return nil, errLinkClosed
		case <-fire:
			return nil, errDeadline
		case <-moved: // look at the new deadline
			stop()
		}
	}
}

func (s *memStream) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		close(s.out)
	}
	return nil
}
