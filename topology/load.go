package topology

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/countermesh/countermesh/sync/transport/pki"
)

// refKind is what a file named by the topology holds.
type refKind int

const (
	refCA refKind = iota
	refGossipKey
	refToken
	refTokenSecret
	refPeerCert
	refPeerKey
)

// fileRef is one file named by the topology.
type fileRef struct {
	kind    refKind
	field   string // its field: ca, gossip_key, file, cert, key
	subject string // the token, secret or peer it belongs to; "" for ca and gossip_key
	written string // the path as written in the file
	path    string // the path resolved against the topology's directory
	line    int
}

// describe names the file in messages: `ca file "certs/ca.crt"`,
// `cert "certs/p.crt" of peer "p"`.
func (r fileRef) describe() string {
	switch r.kind {
	case refToken:
		return fmt.Sprintf("file %q of api token %q", r.written, r.subject)
	case refTokenSecret:
		return fmt.Sprintf("file %q of token secret %q", r.written, r.subject)
	case refPeerCert, refPeerKey:
		return fmt.Sprintf("%s %q of peer %q", r.field, r.written, r.subject)
	}
	return fmt.Sprintf("%s file %q", r.field, r.written)
}

// Load reads, parses and validates a topology file, then checks the files it
// names: each must be readable and hold what it should — the CA a CA
// certificate, gossip_key a base64 key of 32 bytes, each token file a token,
// each token secret file a base64 secret of 32 bytes, and
// each peer's cert a certificate signed by the CA for that peer
// (countermesh://<mesh>/<region>/<peer>) matching the peer's key. Paths are
// made absolute. It returns an *Error listing every problem found, or the
// error of reading the topology file itself.
func Load(file string) (*Topology, error) {
	abs, err := filepath.Abs(file)
	if err != nil {
		return nil, fmt.Errorf("topology: load %s: %w", file, err)
	}
	data, err := os.ReadFile(abs)
	if err != nil {
		return nil, fmt.Errorf("topology: load: %w", err)
	}
	t, ps := parse(file, filepath.Dir(abs), data)
	t.File = abs
	ps.checkFiles(t)
	if err := ps.err(); err != nil {
		return nil, err
	}
	return t, nil
}

// checkFiles reports the files of t that cannot be read or do not hold what
// they should.
func (ps *problems) checkFiles(t *Topology) {
	contents := map[string][]byte{}
	readable := func(r fileRef) bool {
		data, err := os.ReadFile(r.path)
		if err != nil {
			ps.addf(r.line, "cannot read %s: %s", r.describe(), fileErr(err))
			return false
		}
		contents[r.path] = data
		return true
	}
	var roots *x509.CertPool
	for _, r := range t.refs {
		if !readable(r) {
			continue
		}
		data := contents[r.path]
		switch r.kind {
		case refCA:
			roots = ps.checkCA(r, data)
		case refGossipKey:
			if _, err := pki.ParseGossipKey(data); err != nil {
				ps.addf(r.line, "%s: %v", r.describe(), err)
			}
		case refTokenSecret:
			if _, err := pki.ParseTokenSecret(data); err != nil {
				ps.addf(r.line, "%s: %v", r.describe(), err)
			}
		case refToken:
			if tok := strings.TrimSpace(string(data)); tok == "" || strings.ContainsAny(tok, " \t\r\n") {
				ps.addf(r.line, "%s must hold one token on one line", r.describe())
			}
		}
	}
	for _, p := range t.Peers() {
		certPEM, keyPEM := contents[p.Cert], contents[p.Key]
		if certPEM == nil || keyPEM == nil || p.Name == "" {
			continue // unreadable or unnamed: reported already
		}
		ps.checkPeerCert(t, p, certPEM, keyPEM, roots)
	}
}

// checkCA reports a CA file that holds no CA certificate, and returns a pool of
// it otherwise.
func (ps *problems) checkCA(r fileRef, data []byte) *x509.CertPool {
	cert, err := pki.ParseCertificatePEM(data)
	if err != nil {
		ps.addf(r.line, "%s: %v", r.describe(), err)
		return nil
	}
	if !cert.IsCA {
		ps.addf(r.line, "%s is not a CA certificate", r.describe())
		return nil
	}
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	return roots
}

// checkPeerCert reports a peer certificate that does not match its key, is not
// signed by the CA (when roots is known) or names another peer.
func (ps *problems) checkPeerCert(t *Topology, p Peer, certPEM, keyPEM []byte, roots *x509.CertPool) {
	certRef, keyRef := t.ref(refPeerCert, p.Name), t.ref(refPeerKey, p.Name)
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		ps.addf(keyRef.line, "%s does not go with %s: %v", keyRef.describe(), certRef.describe(), err)
		return
	}
	cert := pair.Leaf
	if roots != nil {
		for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
			opts := x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{usage}}
			if _, err := cert.Verify(opts); err != nil {
				ps.addf(certRef.line, "%s does not verify against the mesh CA: %v", certRef.describe(), err)
				return
			}
		}
	}
	id, err := pki.IdentityOf(cert)
	if err != nil {
		ps.addf(certRef.line, "%s: %v", certRef.describe(), err)
		return
	}
	want := pki.PeerIdentity{Mesh: t.Mesh, Region: p.Region, Name: p.Name}
	if id.String() != want.String() {
		ps.addf(certRef.line, "%s is issued for %s, want %s", certRef.describe(), id, want)
	}
}

// ref returns the file reference of kind for subject.
func (t *Topology) ref(kind refKind, subject string) fileRef {
	for _, r := range t.refs {
		if r.kind == kind && r.subject == subject {
			return r
		}
	}
	return fileRef{kind: kind, subject: subject}
}

// fileErr returns the reason of a file error without the path, which the
// message names as written in the topology.
func fileErr(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}
