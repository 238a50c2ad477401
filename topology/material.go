package topology

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
)

// Material is what a peer's host holds for it, read from the files its
// topology names and checked by LoadPeer, so that the peer does not read
// them again.
type Material struct {
	// Certificate is the peer's certificate, signed by the mesh's CA for the
	// peer, with its private key.
	Certificate tls.Certificate
	// CA is the mesh's CA certificate, and CAPool a pool holding only it.
	CA     *x509.Certificate
	CAPool *x509.CertPool
	// GossipKeys are the gossip encryption keys, in file order: the first
	// encrypts, every one decrypts.
	GossipKeys [][]byte
	// TokenSecrets are the secrets causal tokens are signed with, in file
	// order: the first signs, every one verifies. Empty when the topology
	// lists none.
	TokenSecrets []Secret
	// APITokens are the API's bearer tokens, by the name the topology gives
	// them: what each token's file holds, trimmed. Empty when the topology
	// lists none.
	APITokens map[string]string
}

// Secret is one token secret: its id in the topology and its 32 bytes.
type Secret struct {
	ID     string
	Secret []byte
}

// LoadPeer reads, parses and validates a topology file as the host of the
// peer self does: it checks and reads only the files that peer needs — its
// own certificate and key, the CA certificate, the gossip keys, the token
// secrets and the API token files — and never touches the other peers'
// certificates and keys, which need not be on this host nor named in the
// file. It returns the topology and what those files hold, an *Error listing
// every problem found (this peer naming no cert or key is one), or an error
// when the file cannot be read or does not name self.
func LoadPeer(file, self string) (*Topology, *Material, error) {
	t, ps, err := read(file)
	if err != nil {
		return nil, nil, err
	}
	if _, ok := t.Peer(self); !ok && len(ps.found) == 0 {
		return nil, nil, fmt.Errorf("topology: peer %q is not in %s", self, file)
	}
	m := ps.checkFiles(t, self)
	if err := ps.err(); err != nil {
		return nil, nil, err
	}
	return t, m, nil
}
