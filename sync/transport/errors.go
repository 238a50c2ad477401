package transport

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/quic-go/quic-go"
)

// Errors of the package. Errors returned by its functions match one of them
// with errors.Is (except context errors, deadline errors of streams, which
// match os.ErrDeadlineExceeded, and io.EOF), and their text says more.
var (
	// ErrClosed: the Transport is closed, or the link was closed by its
	// Transport's Close.
	ErrClosed = errors.New("transport: closed")
	// ErrRefused: the peer refused us or we refused it — a certificate not
	// from the mesh's CA, another mesh, another peer than expected, Authorize
	// said no, another protocol version — with the reason in the text.
	ErrRefused = errors.New("transport: refused")
	// ErrLinkClosed: the link was closed with Link.Close, by either side (the
	// text has the reason given), or reset by a peer that restarted.
	ErrLinkClosed = errors.New("transport: link closed")
	// ErrTimeout: the peer stopped answering (idle timeout), or a link's
	// set-up took longer than the handshake timeout.
	ErrTimeout = errors.New("transport: peer not responding")
	// ErrFrameTooLarge: a frame's payload is larger than MaxFrameSize. A
	// stream that read one is unusable for reading.
	ErrFrameTooLarge = errors.New("transport: frame too large")
	// ErrProtocol: the peer broke the protocol (a bad hello, a malformed frame).
	ErrProtocol = errors.New("transport: protocol error")
	// ErrStreamReset: the other side abandoned the stream.
	ErrStreamReset = errors.New("transport: stream reset")
)

// Application error codes, sent when closing a link.
const (
	codeClosed    quic.ApplicationErrorCode = 0x0 // Link.Close
	codeGoingAway quic.ApplicationErrorCode = 0x1 // Transport.Close
	codeRefused   quic.ApplicationErrorCode = 0x2 // refused after the handshake
	codeProtocol  quic.ApplicationErrorCode = 0x3 // broken protocol
)

// Stream error codes, sent when abandoning a stream.
const (
	streamCodeFrameTooLarge quic.StreamErrorCode = 0x1
)

// alertNoApplicationProtocol is the TLS alert for a failed ALPN negotiation.
const alertNoApplicationProtocol = 120

// linkError translates why a QUIC connection to peer ended into an error of
// this package.
func (t *Transport) linkError(peer string, err error) error {
	if appErr, ok := errors.AsType[*quic.ApplicationError](err); ok {
		by := "by us"
		if appErr.Remote {
			by = "by " + peer
		}
		switch {
		case appErr.ErrorCode == codeGoingAway && !appErr.Remote:
			return ErrClosed
		case appErr.ErrorCode == codeGoingAway:
			return fmt.Errorf("%w by %s: %s", ErrLinkClosed, peer, appErr.ErrorMessage)
		case appErr.ErrorCode == codeRefused:
			return fmt.Errorf("%w %s: %s", ErrRefused, by, appErr.ErrorMessage)
		case appErr.ErrorCode == codeProtocol:
			return fmt.Errorf("%w: link closed %s: %s", ErrProtocol, by, appErr.ErrorMessage)
		default:
			return fmt.Errorf("%w %s: %s", ErrLinkClosed, by, appErr.ErrorMessage)
		}
	}
	if tErr, ok := errors.AsType[*quic.TransportError](err); ok && tErr.ErrorCode.IsCryptoError() {
		if !tErr.Remote {
			return localCryptoError(peer, tErr)
		}
		if tErr.ErrorCode == 0x100+alertNoApplicationProtocol {
			return fmt.Errorf("%w: %s does not speak our protocol %s (no common ALPN)", ErrRefused, peer, t.alpn)
		}
		return fmt.Errorf("%w: %s refused the TLS handshake (%s)", ErrRefused, peer, tErr.ErrorCode.Message())
	}
	if _, ok := errors.AsType[*quic.IdleTimeoutError](err); ok {
		return fmt.Errorf("%w: nothing from %s for the idle timeout", ErrTimeout, peer)
	}
	if _, ok := errors.AsType[*quic.HandshakeTimeoutError](err); ok {
		return fmt.Errorf("%w: handshake with %s timed out", ErrTimeout, peer)
	}
	if _, ok := errors.AsType[*quic.StatelessResetError](err); ok {
		return fmt.Errorf("%w: reset by %s (it restarted and lost the link)", ErrLinkClosed, peer)
	}
	if _, ok := errors.AsType[*quic.VersionNegotiationError](err); ok {
		return fmt.Errorf("%w: %s: no common QUIC version: %w", ErrRefused, peer, err)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w: %s: %w", ErrTimeout, peer, err)
	}
	if errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("%w: link to %s: %w", ErrClosed, peer, err)
	}
	return fmt.Errorf("transport: link to %s: %w", peer, err)
}

// localCryptoError translates the failure of our side of a TLS handshake: our
// own refusal from verifyPeer as it is, a failure of crypto/tls (the peer's
// certificate did not verify) with its reason.
func localCryptoError(peer string, tErr *quic.TransportError) error {
	for _, cause := range tErr.Unwrap() {
		switch {
		case errors.Is(cause, ErrRefused):
			return cause
		case cause != nil && cause != net.ErrClosed:
			return fmt.Errorf("%w: we refused %s in the TLS handshake: %w", ErrRefused, peer, cause)
		}
	}
	return fmt.Errorf("%w: we refused %s in the TLS handshake: %w", ErrRefused, peer, tErr)
}
