package pki

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
)

// URIScheme is the scheme of the URI that names a peer in its certificate.
const URIScheme = "countermesh"

// ErrNoIdentity is returned by [IdentityOf] for a certificate that names no
// countermesh peer.
var ErrNoIdentity = errors.New("pki: certificate names no countermesh peer")

// PeerIdentity names a peer of a mesh: what its certificate is issued for.
type PeerIdentity struct {
	Mesh   string // mesh name
	Region string // region of the peer
	Name   string // peer name, unique across the mesh
	// Hosts are extra names the certificate is valid for: host names become DNS
	// names and IP addresses IP names. IdentityOf returns the DNS names other
	// than Name, then the IP addresses.
	Hosts []string
}

// URI returns the URI that names the peer in its certificate:
// countermesh://<mesh>/<region>/<name>.
func (p PeerIdentity) URI() *url.URL {
	return &url.URL{Scheme: URIScheme, Host: p.Mesh, Path: "/" + p.Region + "/" + p.Name}
}

// String returns the identity's URI.
func (p PeerIdentity) String() string { return p.URI().String() }

// Validate reports whether Mesh, Region and Name are valid names (see
// [ValidName]) and every host is non-empty.
func (p PeerIdentity) Validate() error {
	for _, part := range []struct{ what, v string }{{"mesh", p.Mesh}, {"region", p.Region}, {"peer", p.Name}} {
		if !ValidName(part.v) {
			return fmt.Errorf("pki: bad %s name %q: want 1-63 lowercase letters, digits or hyphens, not starting or ending with a hyphen", part.what, part.v)
		}
	}
	for _, h := range p.Hosts {
		if h == "" || strings.ContainsAny(h, " /\t\r\n") {
			return fmt.Errorf("pki: bad host %q for peer %s", h, p.Name)
		}
	}
	return nil
}

// ValidName reports whether s can name a mesh, region or peer: 1 to 63
// lowercase letters, digits or hyphens, not starting or ending with a hyphen —
// a DNS label, so that it can appear in a certificate's DNS and URI names.
func ValidName(s string) bool {
	if len(s) == 0 || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// IdentityOf returns the peer a certificate was issued for, read from its
// countermesh URI name. It fails with [ErrNoIdentity] when there is none, and
// when there are several or the one there is malformed. It does not verify the
// certificate: do that first.
func IdentityOf(cert *x509.Certificate) (PeerIdentity, error) {
	if cert == nil {
		return PeerIdentity{}, ErrNoIdentity
	}
	var found []*url.URL
	for _, u := range cert.URIs {
		if u.Scheme == URIScheme {
			found = append(found, u)
		}
	}
	switch {
	case len(found) == 0:
		return PeerIdentity{}, ErrNoIdentity
	case len(found) > 1:
		return PeerIdentity{}, fmt.Errorf("%w: %d countermesh URIs, want one", ErrNoIdentity, len(found))
	}
	u := found[0]
	region, name, ok := strings.Cut(strings.TrimPrefix(u.Path, "/"), "/")
	id := PeerIdentity{Mesh: u.Host, Region: region, Name: name}
	if !ok || !strings.HasPrefix(u.Path, "/") || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return PeerIdentity{}, fmt.Errorf("%w: malformed URI %q", ErrNoIdentity, u.String())
	}
	if err := id.Validate(); err != nil {
		return PeerIdentity{}, fmt.Errorf("%w: URI %q: %w", ErrNoIdentity, u.String(), err)
	}
	for _, d := range cert.DNSNames {
		if d != name && !slices.Contains(id.Hosts, d) {
			id.Hosts = append(id.Hosts, d)
		}
	}
	for _, ip := range cert.IPAddresses {
		if s := ip.String(); !slices.Contains(id.Hosts, s) {
			id.Hosts = append(id.Hosts, s)
		}
	}
	return id, nil
}

// sans splits the identity's hosts into DNS names (Name first) and IP
// addresses, without duplicates.
func (p PeerIdentity) sans() (dns []string, ips []net.IP) {
	dns = []string{p.Name}
	for _, h := range p.Hosts {
		if ip := net.ParseIP(strings.Trim(h, "[]")); ip != nil {
			if !slices.ContainsFunc(ips, ip.Equal) {
				ips = append(ips, ip)
			}
			continue
		}
		if h = strings.ToLower(h); !slices.Contains(dns, h) {
			dns = append(dns, h)
		}
	}
	return dns, ips
}
