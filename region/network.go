package region

import (
	"context"
	"net"
)

// Network is where a peer listens and dials: real sockets in production, a fault
// network in tests. Addresses are "host:port" with an IP host.
type Network interface {
	// ListenPacket opens a datagram socket (QUIC, gossip packets) on addr.
	ListenPacket(addr string) (net.PacketConn, error)
	// Listen opens a stream listener (gossip push/pull) on addr.
	Listen(addr string) (net.Listener, error)
	// Dial opens a stream to addr from the peer at host from.
	Dial(ctx context.Context, from, to string) (net.Conn, error)
	// ResolvePacketAddr turns addr into the net.Addr of a datagram endpoint.
	ResolvePacketAddr(addr string) (net.Addr, error)
}

// HostNetwork is the machine's network: UDP and TCP.
type HostNetwork struct{}

// ListenPacket opens a UDP socket.
func (HostNetwork) ListenPacket(addr string) (net.PacketConn, error) {
	return net.ListenPacket("udp", addr)
}

// Listen opens a TCP listener.
func (HostNetwork) Listen(addr string) (net.Listener, error) { return net.Listen("tcp", addr) }

// Dial opens a TCP connection.
func (HostNetwork) Dial(ctx context.Context, _, to string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, "tcp", to)
}

// ResolvePacketAddr resolves a UDP address.
func (HostNetwork) ResolvePacketAddr(addr string) (net.Addr, error) {
	return net.ResolveUDPAddr("udp", addr)
}
