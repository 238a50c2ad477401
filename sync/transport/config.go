package transport

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/countermesh/countermesh/topology/pki"
)

// Defaults of [Config].
const (
	DefaultHandshakeTimeout = 5 * time.Second
	DefaultIdleTimeout      = 15 * time.Second
	DefaultKeepAlive        = 2 * time.Second
	DefaultMaxFrameSize     = 16 << 20
)

// Config configures a [Transport]. The zero value of every optional field means
// its default. [Listen] copies the Config; the caller's is never changed.
type Config struct {
	// Identity names this peer. It must be what Certificate was issued for.
	Identity pki.PeerIdentity
	// Certificate is this peer's certificate and key, issued by the mesh's CA
	// (see [pki.CA.Issue]). It serves both as server and as client certificate.
	Certificate tls.Certificate
	// CA holds the mesh's CA: the only roots trusted, for the certificates of
	// both the peers that dial us and the peers we dial.
	CA *x509.CertPool
	// Authorize is called, on both sides of every link, with the verified
	// identity of the remote peer (read from the URI name of a certificate that
	// chains to CA and is of our mesh); an error refuses the link, and its text
	// becomes part of the refusal. The peer wires it to its topology (a known
	// peer, in the right region). It runs on quic-go's handshake goroutines:
	// it must be safe for concurrent use and must not block. Nil accepts every
	// peer of the mesh.
	Authorize func(pki.PeerIdentity) error
	// HandshakeTimeout bounds a link's set-up: the QUIC and TLS handshake and
	// the hello exchange, and the wait of an accepted link for Accept. Zero
	// means DefaultHandshakeTimeout (5 s).
	HandshakeTimeout time.Duration
	// IdleTimeout closes a link that received nothing for that long (the
	// smaller of both sides' values applies). Zero means DefaultIdleTimeout
	// (15 s).
	IdleTimeout time.Duration
	// KeepAlive is the period of keep-alive packets on an idle link (at most
	// half the idle timeout). Zero means DefaultKeepAlive (2 s); negative
	// disables keep-alives.
	KeepAlive time.Duration
	// MaxFrameSize is the largest frame payload read or written, in bytes.
	// Zero means DefaultMaxFrameSize (16 MiB). Both sides should agree.
	MaxFrameSize int
	// Logger receives the transport's events: links up and down, refusals
	// (refused handshakes at most once per client address per minute). Nil
	// discards them.
	// Give it the local peer's name as an attribute (region's peer logger
	// names it "local"); lines about a remote peer name it "peer".
	Logger *slog.Logger
}

// withDefaults returns a copy of c with defaults filled in and the leaf of its
// certificate parsed, or why c is unusable.
func (c Config) withDefaults() (Config, error) {
	if err := c.Identity.Validate(); err != nil {
		return c, fmt.Errorf("transport: config: identity: %w", err)
	}
	if c.CA == nil {
		return c, errors.New("transport: config: no CA")
	}
	if len(c.Certificate.Certificate) == 0 || c.Certificate.PrivateKey == nil {
		return c, errors.New("transport: config: no certificate or no private key")
	}
	if c.Certificate.Leaf == nil {
		leaf, err := x509.ParseCertificate(c.Certificate.Certificate[0])
		if err != nil {
			return c, fmt.Errorf("transport: config: certificate: %w", err)
		}
		c.Certificate.Leaf = leaf
	}
	for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
		id, err := pki.VerifyPeer(c.Certificate.Leaf, c.CA, usage)
		if err != nil {
			return c, fmt.Errorf("transport: config: our own certificate: %w", err)
		}
		if !sameName(id, c.Identity) {
			return c, fmt.Errorf("transport: config: certificate is for %s, identity is %s", id, c.Identity)
		}
	}
	switch {
	case c.HandshakeTimeout < 0, c.IdleTimeout < 0, c.MaxFrameSize < 0:
		return c, errors.New("transport: config: negative timeout or frame size")
	}
	if c.HandshakeTimeout == 0 {
		c.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.KeepAlive == 0 {
		c.KeepAlive = DefaultKeepAlive
	}
	if c.MaxFrameSize == 0 {
		c.MaxFrameSize = DefaultMaxFrameSize
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

// sameName reports whether two identities name the same peer (hosts aside).
func sameName(a, b pki.PeerIdentity) bool {
	return a.Mesh == b.Mesh && a.Region == b.Region && a.Name == b.Name
}
