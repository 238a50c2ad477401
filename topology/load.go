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

	"github.com/countermesh/countermesh/topology/pki"
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

// Load reads, parses and validates a topology file, then checks every file it
// names that this host holds, as the operator's machine does before shipping
// the topology: each must be readable and hold what it should — the CA a CA
// certificate, each gossip key a base64 key of 32 bytes, each token file a
// token, each token secret file a base64 secret of 32 bytes, and each peer's
// cert a certificate signed by the CA for that peer
// (countermesh://<mesh>/<region>/<peer>) matching the peer's key. A peer's
// cert or key file that does not exist, or a peer that names none, is not a
// problem — a peer's host holds only its own — but is listed in the
// topology's Unchecked. Paths are made absolute. It returns an *Error listing
// every problem found, or the error of reading the topology file itself.
func Load(file string) (*Topology, error) {
	t, ps, err := read(file)
	if err != nil {
		return nil, err
	}
	ps.checkFiles(t, "")
	if err := ps.err(); err != nil {
		return nil, err
	}
	return t, nil
}

// read reads and parses a topology file, resolving its paths against its
// directory made absolute.
func read(file string) (*Topology, *problems, error) {
	abs, err := filepath.Abs(file)
	if err != nil {
		return nil, nil, fmt.Errorf("topology: load %s: %w", file, err)
	}
	data, err := os.ReadFile(abs)
	if err != nil {
		return nil, nil, fmt.Errorf("topology: load: %w", err)
	}
	t, ps := parse(file, filepath.Dir(abs), data)
	t.File = abs
	return t, ps, nil
}

// checkFiles reports the files of t that cannot be read or do not hold what
// they should, and returns what they hold. With self "" it checks every file
// it can see, noting in t.Unchecked the peers' files that are not there; with
// a peer's name, the files that peer's host needs and no other: the shared
// files and that peer's own certificate and key, which must be there.
func (ps *problems) checkFiles(t *Topology, self string) *Material {
	m := &Material{}
	contents := map[string][]byte{}
	for _, r := range t.refs {
		own := r.kind != refPeerCert && r.kind != refPeerKey
		if r.written == "" || !own && self != "" && r.subject != self {
			continue // named by no field, or another peer's: not this host's business
		}
		data, err := os.ReadFile(r.path)
		switch {
		case err != nil && !own && self == "" && errors.Is(err, fs.ErrNotExist):
			t.Unchecked = append(t.Unchecked, Problem{File: ps.file, Line: r.line,
				Msg: fmt.Sprintf("%s is not on this host: not checked", r.describe())})
			continue
		case err != nil:
			ps.addf(r.line, "cannot read %s: %s", r.describe(), fileErr(err))
			continue
		}
		contents[r.path] = data
		ps.checkShared(r, data, m)
	}
	for _, p := range t.Peers() {
		if p.Name == "" || self != "" && p.Name != self {
			continue // unnamed: reported already
		}
		if p.Cert == "" || p.Key == "" {
			ps.missingPeerFiles(t, p, self)
			continue
		}
		certPEM, keyPEM := contents[p.Cert], contents[p.Key]
		switch {
		case certPEM != nil && keyPEM != nil:
			if pair, ok := ps.checkPeerPair(t, p, certPEM, keyPEM, m.CAPool); ok && p.Name == self {
				m.Certificate = pair
			}
		case certPEM != nil:
			ps.checkPeerCert(t, p, certPEM, m.CAPool)
		}
	}
	return m
}

// checkShared reports a file of r's kind (other than a peer's) that does not
// hold what it should, and adds what it holds to m.
func (ps *problems) checkShared(r fileRef, data []byte, m *Material) {
	switch r.kind {
	case refCA:
		m.CA = ps.checkCA(r, data)
		if m.CA != nil {
			m.CAPool = x509.NewCertPool()
			m.CAPool.AddCert(m.CA)
		}
	case refGossipKey:
		key, err := pki.ParseGossipKey(data)
		if err != nil {
			ps.addf(r.line, "%s: %v", r.describe(), err)
			return
		}
		m.GossipKeys = append(m.GossipKeys, key)
	case refTokenSecret:
		secret, err := pki.ParseTokenSecret(data)
		if err != nil {
			ps.addf(r.line, "%s: %v", r.describe(), err)
			return
		}
		m.TokenSecrets = append(m.TokenSecrets, Secret{ID: r.subject, Secret: secret})
	case refToken:
		tok := strings.TrimSpace(string(data))
		if tok == "" || strings.ContainsAny(tok, " \t\r\n") {
			ps.addf(r.line, "%s must hold one token on one line", r.describe())
			return
		}
		if m.APITokens == nil {
			m.APITokens = map[string]string{}
		}
		m.APITokens[r.subject] = tok
	}
}

// missingPeerFiles reports, for a peer that names no cert or no key, a
// problem when it is self (its host needs them), a note in t.Unchecked
// otherwise.
func (ps *problems) missingPeerFiles(t *Topology, p Peer, self string) {
	line := t.ref(refPeerCert, p.Name).line
	if p.Name == self {
		ps.addf(line, "peer %q names no cert and key: this peer needs both (countermesh certs issue makes them)", p.Name)
		return
	}
	t.Unchecked = append(t.Unchecked, Problem{File: ps.file, Line: line,
		Msg: fmt.Sprintf("peer %q names no cert and key: not checked", p.Name)})
}

// checkCA reports a CA file that holds no CA certificate, and returns the
// certificate otherwise.
func (ps *problems) checkCA(r fileRef, data []byte) *x509.Certificate {
	cert, err := pki.ParseCertificatePEM(data)
	if err != nil {
		ps.addf(r.line, "%s: %v", r.describe(), err)
		return nil
	}
	if !cert.IsCA {
		ps.addf(r.line, "%s is not a CA certificate", r.describe())
		return nil
	}
	return cert
}

// checkPeerPair reports a peer certificate that does not match its key or
// fails checkPeerCert, and returns the pair otherwise.
func (ps *problems) checkPeerPair(t *Topology, p Peer, certPEM, keyPEM []byte, roots *x509.CertPool) (tls.Certificate, bool) {
	certRef, keyRef := t.ref(refPeerCert, p.Name), t.ref(refPeerKey, p.Name)
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		ps.addf(keyRef.line, "%s does not go with %s: %v", keyRef.describe(), certRef.describe(), err)
		return pair, false
	}
	return pair, ps.checkPeerCert(t, p, certPEM, roots)
}

// checkPeerCert reports a peer certificate that is not one, is not signed by
// the CA (when roots is known) or names another peer, and returns whether it
// is good.
func (ps *problems) checkPeerCert(t *Topology, p Peer, certPEM []byte, roots *x509.CertPool) bool {
	certRef := t.ref(refPeerCert, p.Name)
	cert, err := pki.ParseCertificatePEM(certPEM)
	if err != nil {
		ps.addf(certRef.line, "%s: %v", certRef.describe(), err)
		return false
	}
	if roots != nil {
		for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
			opts := x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{usage}}
			if _, err := cert.Verify(opts); err != nil {
				ps.addf(certRef.line, "%s does not verify against the mesh CA: %v", certRef.describe(), err)
				return false
			}
		}
	}
	id, err := pki.IdentityOf(cert)
	if err != nil {
		ps.addf(certRef.line, "%s: %v", certRef.describe(), err)
		return false
	}
	want := pki.PeerIdentity{Mesh: t.Mesh, Region: p.Region, Name: p.Name}
	if id.String() != want.String() {
		ps.addf(certRef.line, "%s is issued for %s, want %s", certRef.describe(), id, want)
		return false
	}
	return true
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
