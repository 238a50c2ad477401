package transport

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/quic-go/quic-go"
)

// Stream is a bidirectional stream of frames on a [Link]. Frames are read and
// written whole, in order.
//
// One goroutine may call ReadFrame while another calls WriteFrame; two
// concurrent ReadFrames, or two concurrent WriteFrames, are not allowed.
// SetDeadline and Close may be called from any goroutine at any time.
//
// A stream's state is released once both sides have closed their write side
// and read the other's up to io.EOF, or when the link closes.
type Stream struct {
	link *Link
	qs   *quic.Stream
	fr   *frameReader
	rerr error // sticky error of ReadFrame; only its goroutine touches it
	hdr  [10]byte
}

func newStream(l *Link, qs *quic.Stream, maxFrame int) *Stream {
	return &Stream{link: l, qs: qs, fr: newFrameReader(qs, maxFrame)}
}

// WriteFrame writes one frame: p's length as a uvarint, then p. It refuses a
// payload over MaxFrameSize with ErrFrameTooLarge, writing nothing. It blocks
// while flow control holds the stream back, until the write deadline.
func (s *Stream) WriteFrame(p []byte) error {
	if len(p) > s.fr.max {
		return fmt.Errorf("%w: %d bytes, at most %d", ErrFrameTooLarge, len(p), s.fr.max)
	}
	if _, err := s.qs.Write(appendFrameHeader(s.hdr[:0], len(p))); err != nil {
		return s.translate(err)
	}
	if _, err := s.qs.Write(p); err != nil {
		return s.translate(err)
	}
	s.link.sent.Add(uint64(len(p)))
	return nil
}

// ReadFrame reads the next frame and returns its payload, which the caller
// owns. It returns io.EOF when the other side closed the stream between
// frames, and ErrFrameTooLarge for a frame over MaxFrameSize (the stream is
// then abandoned for reading: the other side's writes fail). After a deadline
// error the partial frame is kept, and a later ReadFrame resumes it; after
// any other error, ReadFrame returns that error again.
func (s *Stream) ReadFrame() ([]byte, error) {
	if s.rerr != nil {
		return nil, s.rerr
	}
	p, err := s.fr.next()
	if err != nil {
		if errors.Is(err, ErrFrameTooLarge) || errors.Is(err, ErrProtocol) {
			s.qs.CancelRead(streamCodeFrameTooLarge)
		}
		err = s.translate(err)
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			s.rerr = err
		}
		return nil, err
	}
	s.link.received.Add(uint64(len(p)))
	return p, nil
}

// SetDeadline sets the deadline of ReadFrame and WriteFrame, including calls
// blocked now; past it they fail with an error matching
// os.ErrDeadlineExceeded. The zero time means none.
func (s *Stream) SetDeadline(t time.Time) error {
	return s.qs.SetDeadline(t)
}

// Close closes the write side: the other side reads io.EOF after the frames
// written. It does not wait for them to be delivered. Reading goes on.
func (s *Stream) Close() error {
	return s.qs.Close()
}

// translate turns an error of the QUIC stream into one of this package.
func (s *Stream) translate(err error) error {
	switch {
	case err == io.EOF, errors.Is(err, os.ErrDeadlineExceeded),
		errors.Is(err, ErrFrameTooLarge), errors.Is(err, ErrProtocol):
		return err
	case err == io.ErrUnexpectedEOF:
		return fmt.Errorf("%w: %s ended a stream within a frame: %w", ErrProtocol, s.link.peer.Name, err)
	}
	if se, ok := errors.AsType[*quic.StreamError](err); ok {
		if se.Remote && se.ErrorCode == streamCodeFrameTooLarge {
			return fmt.Errorf("%w: %s refused a frame of ours as too large or malformed", ErrFrameTooLarge, s.link.peer.Name)
		}
		by := "by us"
		if se.Remote {
			by = "by " + s.link.peer.Name
		}
		return fmt.Errorf("%w %s (code %d)", ErrStreamReset, by, se.ErrorCode)
	}
	return s.link.t.linkError(s.link.peer.Name, err) // the link is gone
}
