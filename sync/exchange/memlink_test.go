package exchange_test

import (
	"context"
	"errors"
	"io"
	"sync"

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
	mine := &memStream{in: ba, out: ab, done: l.done}
	theirs := &memStream{in: ab, out: ba, done: l.done}
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

	mu     sync.Mutex
	closed bool
}

func (s *memStream) WriteFrame(p []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("memlink: write on closed stream")
	}
	select {
	case s.out <- append([]byte(nil), p...):
		return nil
	case <-s.done:
		return errLinkClosed
	}
}

func (s *memStream) ReadFrame() ([]byte, error) {
	select {
	case b, ok := <-s.in:
		if !ok {
			return nil, io.EOF
		}
		return b, nil
	case <-s.done:
		return nil, errLinkClosed
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
