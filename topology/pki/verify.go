package pki

import (
	"crypto/x509"
	"fmt"
)

// VerifyPeer verifies a peer's certificate against roots (the mesh's CA) for an
// extended key usage — [x509.ExtKeyUsageServerAuth] for a peer dialled,
// [x509.ExtKeyUsageClientAuth] for a peer that dialled — and returns the peer it
// names. It does not check the identity against a topology: that is the
// caller's.
func VerifyPeer(cert *x509.Certificate, roots *x509.CertPool, usage x509.ExtKeyUsage) (PeerIdentity, error) {
	if cert == nil {
		return PeerIdentity{}, fmt.Errorf("pki: verify peer: %w", ErrNoIdentity)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
		return PeerIdentity{}, fmt.Errorf("pki: verify peer %q: %w", cert.Subject.CommonName, err)
	}
	id, err := IdentityOf(cert)
	if err != nil {
		return PeerIdentity{}, fmt.Errorf("pki: verify peer %q: %w", cert.Subject.CommonName, err)
	}
	return id, nil
}
