package transport

import (
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"fmt"

	"github.com/quic-go/quic-go"

	"github.com/countermesh/countermesh/topology/pki"
)

// serverTLS returns the TLS configuration of accepted links: TLS 1.3 only, a
// client certificate required and verified against the mesh's CA, then the
// identity it names checked by verifyPeer. Whatever refuses a client — crypto/tls
// or verifyPeer — the refusal is counted and logged by watchHandshake.
func (t *Transport) serverTLS() *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{t.cfg.Certificate},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    t.cfg.CA,
		NextProtos:   []string{t.alpn},
		VerifyConnection: func(cs tls.ConnectionState) error {
			_, err := t.verifyPeer(cs, "")
			return err
		},
	}
}

// clientTLS returns the TLS configuration of a link dialled to peer: TLS 1.3
// only, the server certificate verified against the mesh's CA for the DNS name
// peer, then the identity it names checked by verifyPeer.
func (t *Transport) clientTLS(peer string) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{t.cfg.Certificate},
		RootCAs:      t.cfg.CA,
		ServerName:   peer,
		NextProtos:   []string{t.alpn},
		VerifyConnection: func(cs tls.ConnectionState) error {
			_, err := t.verifyPeer(cs, peer)
			return err
		},
	}
}

// verifyPeer checks the remote peer of a handshake whose certificate
// crypto/tls has verified against the CA: it must name a countermesh peer of
// our mesh (called want, if want is not empty) that Authorize accepts. It
// returns the identity read, if any, even with an error.
func (t *Transport) verifyPeer(cs tls.ConnectionState, want string) (pki.PeerIdentity, error) {
	if len(cs.VerifiedChains) == 0 || len(cs.PeerCertificates) == 0 {
		return pki.PeerIdentity{}, fmt.Errorf("%w: peer presented no verified certificate", ErrRefused)
	}
	id, err := pki.IdentityOf(cs.PeerCertificates[0])
	switch {
	case err != nil:
		return id, fmt.Errorf("%w: peer certificate: %w", ErrRefused, err)
	case id.Mesh != t.cfg.Identity.Mesh:
		return id, fmt.Errorf("%w: peer %s is of mesh %q, not ours (%q)", ErrRefused, id, id.Mesh, t.cfg.Identity.Mesh)
	case want != "" && id.Name != want:
		return id, fmt.Errorf("%w: dialled %q, but the certificate names %s", ErrRefused, want, id)
	case cs.NegotiatedProtocol != t.alpn:
		return id, fmt.Errorf("%w: peer %s speaks %q, not %q", ErrRefused, id, cs.NegotiatedProtocol, t.alpn)
	}
	if t.cfg.Authorize != nil {
		if err := t.cfg.Authorize(id); err != nil {
			return id, fmt.Errorf("%w: peer %s not authorized: %w", ErrRefused, id, err)
		}
	}
	return id, nil
}

// statelessResetKey derives the key of QUIC stateless resets from the
// certificate's private key, so that it survives a restart of the peer: a
// restarted peer then resets the links of its previous life at once, instead
// of leaving them to the idle timeout. Nil (no resets) if the key cannot be
// marshalled.
func statelessResetKey(cert tls.Certificate) *quic.StatelessResetKey {
	der, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		return nil
	}
	var key quic.StatelessResetKey
	k, err := hkdf.Key(sha256.New, der, nil, "countermesh/transport stateless reset key", len(key))
	if err != nil {
		return nil
	}
	copy(key[:], k)
	return &key
}
