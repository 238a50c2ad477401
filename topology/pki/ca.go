package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"time"
)

// Validity periods of what this package issues.
const (
	CAValidity   = 10 * 365 * 24 * time.Hour // a mesh's CA
	PeerValidity = 5 * 365 * 24 * time.Hour  // a peer's certificate, at most until the CA expires
	// Backdate is how far before now certificates become valid, so that a peer
	// whose clock runs behind still accepts a certificate issued just now.
	Backdate = 24 * time.Hour
)

// ErrNotCA is returned by [LoadCA] for a certificate that cannot sign others.
var ErrNotCA = errors.New("pki: not a CA certificate")

// CA is the certificate authority of one mesh: it signs the certificates of the
// mesh's peers. It is safe for concurrent use.
type CA struct {
	cert    *x509.Certificate
	key     *ecdsa.PrivateKey
	certPEM []byte
	keyPEM  []byte
	mesh    string // from the CA's URI name; "" when it names none
}

// NewCA makes a new CA for a mesh: an ECDSA P-256 key and a self-signed
// certificate valid for [CAValidity], naming the mesh as countermesh://<mesh>.
func NewCA(mesh string) (*CA, error) {
	if !ValidName(mesh) {
		return nil, fmt.Errorf("pki: new CA: bad mesh name %q", mesh)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("pki: new CA: generate key: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               pkix.Name{Organization: []string{"countermesh"}, CommonName: "countermesh " + mesh + " CA"},
		NotBefore:             now.Add(-Backdate),
		NotAfter:              now.Add(CAValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            0,
		MaxPathLenZero:        true,
		URIs:                  []*url.URL{{Scheme: URIScheme, Host: mesh}},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("pki: new CA: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("pki: new CA: %w", err)
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return nil, fmt.Errorf("pki: new CA: %w", err)
	}
	return &CA{cert: cert, key: key, certPEM: encodeCert(der), keyPEM: keyPEM, mesh: mesh}, nil
}

// LoadCA reads a CA from its PEM certificate and PEM private key (PKCS #8 or
// SEC 1), as written by [CA.CertPEM] and [CA.KeyPEM]. The key must match the
// certificate, and the certificate must be a CA's.
func LoadCA(certPEM, keyPEM []byte) (*CA, error) {
	cert, err := ParseCertificatePEM(certPEM)
	if err != nil {
		return nil, fmt.Errorf("pki: load CA: %w", err)
	}
	if !cert.IsCA || !cert.BasicConstraintsValid || cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		return nil, fmt.Errorf("pki: load CA: %w", ErrNotCA)
	}
	key, err := ParseKeyPEM(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("pki: load CA: %w", err)
	}
	if !key.PublicKey.Equal(cert.PublicKey) {
		return nil, errors.New("pki: load CA: private key does not match the certificate")
	}
	normKey, err := encodeKey(key)
	if err != nil {
		return nil, fmt.Errorf("pki: load CA: %w", err)
	}
	ca := &CA{cert: cert, key: key, certPEM: encodeCert(cert.Raw), keyPEM: normKey}
	for _, u := range cert.URIs {
		if u.Scheme == URIScheme && u.Path == "" {
			ca.mesh = u.Host
		}
	}
	return ca, nil
}

// Mesh returns the mesh the CA was made for, or "" if its certificate names none.
func (c *CA) Mesh() string { return c.mesh }

// Certificate returns the CA's certificate. The caller must not change it.
func (c *CA) Certificate() *x509.Certificate { return c.cert }

// Pool returns a new certificate pool holding only the CA's certificate, to
// verify peers with.
func (c *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(c.cert)
	return p
}

// CertPEM returns the CA's certificate, PEM encoded.
func (c *CA) CertPEM() []byte { return append([]byte(nil), c.certPEM...) }

// KeyPEM returns the CA's private key, PEM encoded (PKCS #8). Keep it secret.
func (c *CA) KeyPEM() []byte { return append([]byte(nil), c.keyPEM...) }

// Issue makes a key and a certificate for a peer, signed by the CA: valid for
// server and client authentication for [PeerValidity] (at most until the CA
// expires), with common name and DNS name p.Name, the hosts of p.Hosts as DNS or
// IP names, and the URI name countermesh://<mesh>/<region>/<name>. It refuses a
// peer of another mesh than the CA's.
func (c *CA) Issue(p PeerIdentity) (certPEM, keyPEM []byte, err error) {
	if err := p.Validate(); err != nil {
		return nil, nil, fmt.Errorf("pki: issue: %w", err)
	}
	if c.mesh != "" && p.Mesh != c.mesh {
		return nil, nil, fmt.Errorf("pki: issue %s: the CA is of mesh %q", p, c.mesh)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: issue %s: generate key: %w", p, err)
	}
	now := time.Now()
	notAfter := now.Add(PeerValidity)
	if notAfter.After(c.cert.NotAfter) {
		notAfter = c.cert.NotAfter
	}
	dns, ips := p.sans()
	tmpl := &x509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               pkix.Name{Organization: []string{"countermesh"}, OrganizationalUnit: []string{p.Mesh + "/" + p.Region}, CommonName: p.Name},
		NotBefore:             now.Add(-Backdate),
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		DNSNames:              dns,
		IPAddresses:           ips,
		URIs:                  []*url.URL{p.URI()},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.cert, &key.PublicKey, c.key)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: issue %s: %w", p, err)
	}
	keyPEM, err = encodeKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: issue %s: %w", p, err)
	}
	return encodeCert(der), keyPEM, nil
}

// randomSerial returns a random positive 127-bit serial number.
func randomSerial() *big.Int {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // never fails
	b[0] &= 0x7f
	b[0] |= 0x40 // non-zero, fixed length
	return new(big.Int).SetBytes(b)
}
