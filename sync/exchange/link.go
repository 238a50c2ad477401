package exchange

import (
	"context"
	"time"
)

// Stream is an ordered, reliable, bidirectional channel of frames within a Link.
// One goroutine may read while another writes.
type Stream interface {
	// WriteFrame sends one frame.
	WriteFrame(p []byte) error
	// ReadFrame returns the next frame; io.EOF after the other side closed.
	ReadFrame() ([]byte, error)
	// Close ends the writing side.
	Close() error
	// SetDeadline bounds ReadFrame and WriteFrame, those blocked now included:
	// past t they fail. The zero time removes the bound.
	SetDeadline(t time.Time) error
}

// Link is an authenticated connection to one remote peer that carries streams. The
// region package adapts transport links to it; tests use in-memory links.
type Link interface {
	// PeerName is the remote peer's name, as proven by its certificate.
	PeerName() string
	// OpenStream opens a new stream to the peer.
	OpenStream(ctx context.Context) (Stream, error)
	// AcceptStream waits for the peer to open a stream.
	AcceptStream(ctx context.Context) (Stream, error)
	// Close closes the link with a reason the other side can log.
	Close(reason string) error
	// Done is closed once the link is gone.
	Done() <-chan struct{}
}
