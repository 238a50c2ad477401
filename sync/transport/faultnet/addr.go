package faultnet

import (
	"fmt"
	"net"
	"strconv"
)

// NetworkName is what [Addr.Network] returns.
const NetworkName = "faultnet"

// Addr is the address of a socket or stream end on a [Network]. It is a
// comparable value: two Addrs of the same socket are equal.
type Addr struct {
	Host string // the host, a machine of the network
	Port int    // the port, 1-65535
}

var _ net.Addr = Addr{}

// Network returns "faultnet".
func (a Addr) Network() string { return NetworkName }

// String returns "host:port".
func (a Addr) String() string { return net.JoinHostPort(a.Host, strconv.Itoa(a.Port)) }

// ParseAddr parses "host:port". Port 0 is accepted (it asks for a free port
// where the network assigns one).
func ParseAddr(s string) (Addr, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return Addr{}, fmt.Errorf("faultnet: bad address %q: %w", s, err)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 0 || p > 65535 {
		return Addr{}, fmt.Errorf("faultnet: bad port in address %q", s)
	}
	if host == "" {
		return Addr{}, fmt.Errorf("faultnet: address %q has no host", s)
	}
	return Addr{Host: host, Port: p}, nil
}

// ResolvePacketAddr parses addr as ParseAddr does, as a net.Addr: with it, a
// *Network is a network a peer can run on (region.Network).
func (n *Network) ResolvePacketAddr(addr string) (net.Addr, error) { return ParseAddr(addr) }

// toAddr returns the faultnet address a net.Addr names: an Addr, an *Addr, or
// any address of network "faultnet" whose String parses.
func toAddr(a net.Addr) (Addr, error) {
	switch a := a.(type) {
	case Addr:
		return a, nil
	case *Addr:
		if a != nil {
			return *a, nil
		}
	case nil:
	default:
		if a.Network() == NetworkName {
			return ParseAddr(a.String())
		}
		return Addr{}, fmt.Errorf("faultnet: address %s is of network %q", a, a.Network())
	}
	return Addr{}, fmt.Errorf("faultnet: no address")
}
