package pki

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/url"
	"slices"
	"strings"
	"testing"
)

func newCA(t *testing.T, mesh string) *CA {
	t.Helper()
	ca, err := NewCA(mesh)
	if err != nil {
		t.Fatalf("NewCA(%q): %v", mesh, err)
	}
	return ca
}

func issue(t *testing.T, ca *CA, p PeerIdentity) *x509.Certificate {
	t.Helper()
	certPEM, keyPEM, err := ca.Issue(p)
	if err != nil {
		t.Fatalf("Issue(%v): %v", p, err)
	}
	if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
		t.Fatalf("issued key does not match the certificate: %v", err)
	}
	cert, err := ParseCertificatePEM(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func TestIssuedCertVerifiesForServerAndClient(t *testing.T) {
	ca := newCA(t, "demo")
	p := PeerIdentity{Mesh: "demo", Region: "eu-west", Name: "eu-west-1", Hosts: []string{"127.0.0.1", "peer.example.com", "::1"}}
	cert := issue(t, ca, p)
	for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
		if _, err := cert.Verify(x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
			t.Errorf("verify for usage %v: %v", usage, err)
		}
		id, err := VerifyPeer(cert, ca.Pool(), usage)
		if err != nil || id.Name != "eu-west-1" {
			t.Errorf("VerifyPeer for usage %v = %v, %v", usage, id, err)
		}
	}
	for _, host := range []string{"eu-west-1", "peer.example.com", "127.0.0.1", "::1"} {
		if err := cert.VerifyHostname(host); err != nil {
			t.Errorf("VerifyHostname(%q): %v", host, err)
		}
	}
	if cert.Subject.CommonName != "eu-west-1" {
		t.Errorf("CN = %q", cert.Subject.CommonName)
	}
	if got := cert.URIs; len(got) != 1 || got[0].String() != "countermesh://demo/eu-west/eu-west-1" {
		t.Errorf("URIs = %v", got)
	}
	if cert.IsCA {
		t.Error("peer certificate is a CA")
	}
}

func TestIdentityOfRoundTrip(t *testing.T) {
	ca := newCA(t, "demo")
	cases := []PeerIdentity{
		{Mesh: "demo", Region: "eu-west", Name: "eu-west-1"},
		{Mesh: "demo", Region: "us-east", Name: "a", Hosts: []string{"a.example.com", "10.0.0.1"}},
		{Mesh: "demo", Region: "r", Name: "p", Hosts: []string{"p", "x.example", "x.example", "127.0.0.1", "[::1]"}},
	}
	wantHosts := [][]string{nil, {"a.example.com", "10.0.0.1"}, {"x.example", "127.0.0.1", "::1"}}
	for i, p := range cases {
		got, err := IdentityOf(issue(t, ca, p))
		if err != nil {
			t.Fatalf("IdentityOf: %v", err)
		}
		if got.Mesh != p.Mesh || got.Region != p.Region || got.Name != p.Name || !slices.Equal(got.Hosts, wantHosts[i]) {
			t.Errorf("IdentityOf(Issue(%+v)) = %+v", p, got)
		}
	}
}

func TestCertFromAnotherCAFails(t *testing.T) {
	ours, theirs := newCA(t, "demo"), newCA(t, "demo")
	cert := issue(t, theirs, PeerIdentity{Mesh: "demo", Region: "eu-west", Name: "intruder"})
	var unknown x509.UnknownAuthorityError
	if _, err := cert.Verify(x509.VerifyOptions{Roots: ours.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); !errors.As(err, &unknown) {
		t.Errorf("verify against another CA: %v, want UnknownAuthorityError", err)
	}
	if _, err := VerifyPeer(cert, ours.Pool(), x509.ExtKeyUsageServerAuth); !errors.As(err, &unknown) {
		t.Errorf("VerifyPeer against another CA: %v, want UnknownAuthorityError", err)
	}
}

func TestCAIsNotAPeer(t *testing.T) {
	ca := newCA(t, "demo")
	if _, err := IdentityOf(ca.Certificate()); !errors.Is(err, ErrNoIdentity) {
		t.Errorf("IdentityOf(CA) = %v, want ErrNoIdentity", err)
	}
	if _, err := VerifyPeer(nil, ca.Pool(), x509.ExtKeyUsageServerAuth); !errors.Is(err, ErrNoIdentity) {
		t.Errorf("VerifyPeer(nil) = %v", err)
	}
}

func TestIdentityOfRejectsMalformedURIs(t *testing.T) {
	cases := []struct {
		name string
		uris []string
	}{
		{"none", nil},
		{"other scheme", []string{"spiffe://demo/eu/p"}},
		{"no region", []string{"countermesh://demo/p"}},
		{"too deep", []string{"countermesh://demo/eu/p/x"}},
		{"bad mesh", []string{"countermesh://De_mo/eu/p"}},
		{"empty name", []string{"countermesh://demo/eu/"}},
		{"query", []string{"countermesh://demo/eu/p?x=1"}},
		{"two", []string{"countermesh://demo/eu/p", "countermesh://demo/eu/q"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cert := &x509.Certificate{}
			for _, s := range c.uris {
				u, err := url.Parse(s)
				if err != nil {
					t.Fatal(err)
				}
				cert.URIs = append(cert.URIs, u)
			}
			if id, err := IdentityOf(cert); !errors.Is(err, ErrNoIdentity) {
				t.Errorf("IdentityOf = %+v, %v; want ErrNoIdentity", id, err)
			}
		})
	}
}

func TestIssueRefusesBadIdentities(t *testing.T) {
	ca := newCA(t, "demo")
	cases := []struct {
		p    PeerIdentity
		want string
	}{
		{PeerIdentity{Mesh: "other", Region: "r", Name: "p"}, `the CA is of mesh "demo"`},
		{PeerIdentity{Mesh: "demo", Region: "", Name: "p"}, "bad region name"},
		{PeerIdentity{Mesh: "demo", Region: "r", Name: "P/1"}, "bad peer name"},
		{PeerIdentity{Mesh: "demo", Region: "r", Name: "p", Hosts: []string{""}}, "bad host"},
	}
	for _, c := range cases {
		if _, _, err := ca.Issue(c.p); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Issue(%+v) = %v, want an error containing %q", c.p, err, c.want)
		}
	}
	if _, err := NewCA("Bad Mesh"); err == nil {
		t.Error("NewCA accepted a bad mesh name")
	}
}

func TestLoadCARoundTrip(t *testing.T) {
	ca := newCA(t, "demo")
	loaded, err := LoadCA(ca.CertPEM(), ca.KeyPEM())
	if err != nil {
		t.Fatalf("LoadCA: %v", err)
	}
	if loaded.Mesh() != "demo" || !loaded.Certificate().Equal(ca.Certificate()) {
		t.Errorf("loaded CA differs: mesh %q", loaded.Mesh())
	}
	// A certificate issued by the loaded CA verifies against the original.
	cert := issue(t, loaded, PeerIdentity{Mesh: "demo", Region: "r", Name: "p"})
	if _, err := VerifyPeer(cert, ca.Pool(), x509.ExtKeyUsageClientAuth); err != nil {
		t.Errorf("verify: %v", err)
	}
}

func TestLoadCARejects(t *testing.T) {
	ca, other := newCA(t, "demo"), newCA(t, "demo")
	peerCert, peerKey, err := ca.Issue(PeerIdentity{Mesh: "demo", Region: "r", Name: "p"})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name          string
		cert, key     []byte
		want          string
		wantSentinels error
	}{
		{"empty cert", nil, ca.KeyPEM(), "no PEM block", ErrNoPEM},
		{"empty key", ca.CertPEM(), []byte("junk"), "no PEM block", ErrNoPEM},
		{"mismatched key", ca.CertPEM(), other.KeyPEM(), "does not match", nil},
		{"peer cert", peerCert, peerKey, "not a CA", ErrNotCA},
		{"key as cert", ca.KeyPEM(), ca.KeyPEM(), "no PEM block", ErrNoPEM},
	}
	for _, c := range cases {
		_, err := LoadCA(c.cert, c.key)
		if err == nil || !strings.Contains(err.Error(), c.want) || (c.wantSentinels != nil && !errors.Is(err, c.wantSentinels)) {
			t.Errorf("%s: LoadCA = %v, want %q", c.name, err, c.want)
		}
	}
}

func TestGossipKeyAndToken(t *testing.T) {
	k := NewGossipKey()
	if len(k) != GossipKeySize {
		t.Fatalf("gossip key is %d bytes", len(k))
	}
	got, err := ParseGossipKey(EncodeGossipKey(k))
	if err != nil || string(got) != string(k) {
		t.Errorf("ParseGossipKey(EncodeGossipKey(k)) = %x, %v", got, err)
	}
	if string(NewGossipKey()) == string(k) {
		t.Error("two gossip keys are equal")
	}
	for _, bad := range []string{"", "not base64!", "AAAA"} {
		if _, err := ParseGossipKey([]byte(bad)); !errors.Is(err, ErrBadGossipKey) {
			t.Errorf("ParseGossipKey(%q) = %v, want ErrBadGossipKey", bad, err)
		}
	}
	tok := NewToken()
	if len(tok) != 43 || strings.ContainsAny(tok, "+/=") || tok == NewToken() {
		t.Errorf("NewToken() = %q", tok)
	}
}

func TestTokenSecret(t *testing.T) {
	s := NewTokenSecret()
	got, err := ParseTokenSecret(EncodeTokenSecret(s))
	if err != nil || len(got) != TokenSecretSize || string(got) != string(s) {
		t.Fatalf("ParseTokenSecret(EncodeTokenSecret(s)) = %x, %v", got, err)
	}
	if string(NewTokenSecret()) == string(s) {
		t.Error("two token secrets are equal")
	}
	for _, bad := range []string{"", "not base64!", "AAAA", string(EncodeTokenSecret(make([]byte, 16)))} {
		if _, err := ParseTokenSecret([]byte(bad)); !errors.Is(err, ErrBadTokenSecret) {
			t.Errorf("ParseTokenSecret(%q) = %v, want ErrBadTokenSecret", bad, err)
		}
	}
}

func TestHostsSplitIntoDNSAndIP(t *testing.T) {
	p := PeerIdentity{Name: "p", Hosts: []string{"10.0.0.1", "Host.Example", "10.0.0.1", "[fe80::1]"}}
	dns, ips := p.sans()
	if !slices.Equal(dns, []string{"p", "host.example"}) {
		t.Errorf("dns = %v", dns)
	}
	if len(ips) != 2 || !ips[0].Equal(net.ParseIP("10.0.0.1")) || !ips[1].Equal(net.ParseIP("fe80::1")) {
		t.Errorf("ips = %v", ips)
	}
}
