package transport

import (
	"context"
	"errors"
	"net"
	"sync/atomic"

	"github.com/quic-go/quic-go"

	"github.com/countermesh/countermesh/topology/pki"
)

// maxReasonLen bounds the reason sent when closing a link; it travels in one
// packet.
const maxReasonLen = 512

// Link is an authenticated QUIC connection to one remote peer, up once both
// sides completed the hello exchange. Its methods are safe for concurrent use.
// A Link carries any number of [Stream]s, opened by either side.
type Link struct {
	t        *Transport
	conn     *quic.Conn
	peer     pki.PeerIdentity
	sent     atomic.Uint64
	received atomic.Uint64
}

// Peer returns the remote peer's identity, as its certificate names it.
func (l *Link) Peer() pki.PeerIdentity { return l.peer }

// RemoteAddr returns the remote peer's address.
func (l *Link) RemoteAddr() net.Addr { return l.conn.RemoteAddr() }

// OpenStream opens a new stream to the peer, blocking while the peer's limit
// of concurrent streams is reached, until ctx is done. The peer sees the
// stream in AcceptStream once the first frame arrives.
func (l *Link) OpenStream(ctx context.Context) (*Stream, error) {
	qs, err := l.conn.OpenStreamSync(ctx)
	if err != nil {
		return nil, l.streamError(ctx, err)
	}
	return newStream(l, qs, l.t.cfg.MaxFrameSize), nil
}

// AcceptStream returns the next stream the peer opened, blocking until there
// is one, ctx is done, or the link is gone.
func (l *Link) AcceptStream(ctx context.Context) (*Stream, error) {
	qs, err := l.conn.AcceptStream(ctx)
	if err != nil {
		return nil, l.streamError(ctx, err)
	}
	return newStream(l, qs, l.t.cfg.MaxFrameSize), nil
}

// streamError translates an error of opening or accepting a stream.
func (l *Link) streamError(ctx context.Context, err error) error {
	if ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
		return err
	}
	return l.t.linkError(l.peer.Name, err)
}

// Close closes the link with a reason (at most 512 bytes are sent), which is
// logged here and which the peer reads in its Err. Streams of the link fail
// on both sides. It does not wait for the peer's acknowledgement. Closing a
// link that is gone does nothing.
func (l *Link) Close(reason string) error {
	if l.conn.Context().Err() != nil {
		return nil
	}
	if len(reason) > maxReasonLen {
		reason = reason[:maxReasonLen]
	}
	l.t.log.Info("closing link", "peer", l.peer.Name, "region", l.peer.Region, "reason", reason)
	return l.conn.CloseWithError(codeClosed, reason)
}

// Done returns a channel closed when the link is gone, for any reason: closed
// by either side, idle timeout, its Transport closed.
func (l *Link) Done() <-chan struct{} { return l.conn.Context().Done() }

// Err returns why the link is gone once Done is closed, and nil before. It
// matches ErrLinkClosed (with the reason given to Close by either side),
// ErrTimeout, ErrClosed (our Transport closed), ErrRefused or ErrProtocol.
func (l *Link) Err() error {
	ctx := l.conn.Context()
	if ctx.Err() == nil {
		return nil
	}
	return l.t.linkError(l.peer.Name, context.Cause(ctx))
}

// BytesSent returns the frame payload bytes written on the link's streams.
func (l *Link) BytesSent() uint64 { return l.sent.Load() }

// BytesReceived returns the frame payload bytes read from the link's streams.
func (l *Link) BytesReceived() uint64 { return l.received.Load() }
