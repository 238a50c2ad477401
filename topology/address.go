package topology

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// addrUse is one address of a peer, for the duplicate check.
type addrUse struct {
	peer  string // peer name
	seq   int    // the peer's position in the file, telling apart peers of one name
	field string // gossip, sync or api
	canon string // canonical host:port
	line  int
}

// checkDuplicateAddresses reports every address used twice, by any two of the
// gossip, sync and api addresses of all peers.
func (ps *problems) checkDuplicateAddresses(uses []addrUse) {
	first := map[string]addrUse{}
	for _, u := range uses {
		prev, dup := first[u.canon]
		if !dup {
			first[u.canon] = u
			continue
		}
		if u.seq == prev.seq {
			ps.addf(u.line, "%s address %s of peer %q is also its %s address", u.field, u.canon, u.peer, prev.field)
			continue
		}
		ps.addf(u.line, "%s address %s of peer %q is also the %s address of peer %q (line %d)",
			u.field, u.canon, u.peer, prev.field, prev.peer, prev.line)
	}
}

// canonicalAddr checks that s is host:port, with a host other peers can dial
// (an IP address or a DNS name, not an unspecified address) and a port in
// 1-65535, and returns it in canonical form: lowercase host, IPs as net.IP
// prints them, port without leading zeros.
func canonicalAddr(s string) (string, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		var ae *net.AddrError
		if errors.As(err, &ae) {
			return "", errors.New(ae.Err)
		}
		return "", err
	}
	if host == "" {
		return "", errors.New("missing host")
	}
	n, err := strconv.Atoi(port)
	if err != nil || strings.TrimLeft(port, "0123456789") != "" {
		return "", fmt.Errorf("port %q is not a number", port)
	}
	if n < 1 || n > 65535 {
		return "", fmt.Errorf("port %d out of range 1-65535", n)
	}
	if ip := net.ParseIP(host); ip != nil {
		if ip.IsUnspecified() {
			return "", fmt.Errorf("%s is not an address other peers can dial", host)
		}
		host = ip.String()
	} else if !validHostname(host) {
		return "", fmt.Errorf("bad host %q", host)
	} else {
		host = strings.ToLower(host)
	}
	return net.JoinHostPort(host, strconv.Itoa(n)), nil
}

// validHostname reports whether h is a DNS name: dot-separated labels of
// letters, digits and hyphens, each 1-63 long and not starting or ending with a
// hyphen, 253 characters at most.
func validHostname(h string) bool {
	h = strings.TrimSuffix(h, ".")
	if h == "" || len(h) > 253 {
		return false
	}
	for label := range strings.SplitSeq(h, ".") {
		if len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}
