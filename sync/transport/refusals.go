package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"sync/atomic"

	"github.com/quic-go/quic-go"
)

// Why a handshake was refused: the keys of [Transport.Refusals].
const (
	// RefusedNoCertificate: the client presented no certificate.
	RefusedNoCertificate = "no_certificate"
	// RefusedCertificate: its certificate does not verify against the
	// mesh's CA (another CA, expired, not for client use).
	RefusedCertificate = "certificate"
	// RefusedPeer: its certificate verifies, but does not name a peer we
	// accept (another mesh, no identity, refused by Config.Authorize).
	RefusedPeer = "peer"
	// RefusedProtocol: it does not speak our protocol version (no common ALPN).
	RefusedProtocol = "protocol"
	// RefusedOther: any other failure of the TLS handshake on our side.
	RefusedOther = "other"
)

// refusalReasons lists every key of Transport.Refusals, in the order of
// their indexes below.
var refusalReasons = [...]string{RefusedNoCertificate, RefusedCertificate, RefusedPeer, RefusedProtocol, RefusedOther}

// Indexes of refusalReasons.
const (
	reasonNoCertificate = iota
	reasonCertificate
	reasonPeer
	reasonProtocol
	reasonOther
)

// TLS alerts that tell why crypto/tls refused a client.
const (
	alertCertificateRequired = 116
)

// handshakeWatch follows one connection a client opened to us, to learn
// whether we refused its handshake.
type handshakeWatch struct {
	stop func() bool // stops the watch; false once it has run
}

// refusalCounts counts the handshakes a Transport refused, by reason.
type refusalCounts struct {
	byReason [len(refusalReasons)]atomic.Uint64
}

// Refusals returns how many TLS handshakes of clients this Transport refused
// since it started, by reason (every Refused... constant is a key, with
// zeros). Links refused later, at their hello exchange, are not counted.
func (t *Transport) Refusals() map[string]uint64 {
	out := make(map[string]uint64, len(refusalReasons))
	for i, r := range refusalReasons {
		out[r] = t.refusals.byReason[i].Load()
	}
	return out
}

// watchHandshake is quic-go's ConnContext: it is called for every
// connection a client opens, and watches it until it ends, so that a
// handshake we refuse is counted and logged (crypto/tls refuses a missing or
// foreign certificate before any callback of ours runs).
func (t *Transport) watchHandshake(ctx context.Context, ci *quic.ClientInfo) (context.Context, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.mu.closed {
		return nil, ErrClosed
	}
	w := &handshakeWatch{}
	t.watchers.Add(1)
	t.mu.watches[w] = struct{}{}
	remote := ci.RemoteAddr
	w.stop = context.AfterFunc(ctx, func() {
		defer t.watchers.Done()
		t.mu.Lock()
		delete(t.mu.watches, w)
		t.mu.Unlock()
		t.connectionEnded(remote, context.Cause(ctx))
	})
	return ctx, nil
}

// stopWatches ends the watches of connections that never ended (quic-go
// dropped them before starting them) and waits for those running. Call it
// once the QUIC endpoint is closed.
func (t *Transport) stopWatches() {
	t.mu.Lock()
	for w := range t.mu.watches {
		if w.stop() {
			delete(t.mu.watches, w)
			t.watchers.Done()
		}
	}
	t.mu.Unlock()
	t.watchers.Wait()
}

// connectionEnded counts and logs a connection from remote that ended with
// err, if err says that we refused its TLS handshake. Other ends — a link
// closed, a client that went silent — are someone else's business.
func (t *Transport) connectionEnded(remote net.Addr, err error) {
	reason, why, ok := t.refusal(err)
	if !ok {
		return
	}
	addr := "unknown"
	if remote != nil {
		addr = remote.String()
	}
	t.refusalLog.Log(t.log, slog.LevelWarn, addr, "refused a handshake",
		"reason", refusalReasons[reason], "err", why)
	t.refusals.byReason[reason].Add(1)
}

// refusal tells whether err, the end of a connection a client opened, is our
// refusal of its TLS handshake, and if so the index of its reason in
// refusalReasons and why.
func (t *Transport) refusal(err error) (reason int, why string, ok bool) {
	tErr, isTransport := errors.AsType[*quic.TransportError](err)
	if !isTransport || tErr.Remote || !tErr.ErrorCode.IsCryptoError() {
		return 0, "", false
	}
	var cause error = tErr
	for _, c := range tErr.Unwrap() {
		if c != nil && !errors.Is(c, net.ErrClosed) {
			cause = c
			break
		}
	}
	why = cause.Error()
	switch alert := uint64(tErr.ErrorCode) - 0x100; {
	case errors.Is(cause, ErrRefused):
		return reasonPeer, why, true
	case alert == alertCertificateRequired:
		return reasonNoCertificate, why, true
	case alert == alertNoApplicationProtocol:
		return reasonProtocol, why + " (we speak " + t.alpn + ")", true
	}
	if _, bad := errors.AsType[*tls.CertificateVerificationError](cause); bad {
		return reasonCertificate, why, true
	}
	return reasonOther, why, true
}
