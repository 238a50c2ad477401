package region

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// gossipTransport carries memberlist over a Network: packets on a datagram socket,
// push/pull on stream connections. Over HostNetwork it is what memberlist's own
// NetTransport does; over a fault network, partitions reach gossip too.
type gossipTransport struct {
	net     Network
	host    string // this peer's gossip host, the "from" of its dials
	addr    string
	pc      net.PacketConn
	ln      net.Listener
	packets chan *memberlist.Packet
	streams chan net.Conn
	done    chan struct{}
	wg      sync.WaitGroup
	once    sync.Once
}

var _ memberlist.Transport = (*gossipTransport)(nil)

func newGossipTransport(n Network, addr string) (*gossipTransport, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("gossip address %q: %w", addr, err)
	}
	pc, err := n.ListenPacket(addr)
	if err != nil {
		return nil, fmt.Errorf("gossip: %w", err)
	}
	ln, err := n.Listen(addr)
	if err != nil {
		pc.Close()
		return nil, fmt.Errorf("gossip: %w", err)
	}
	t := &gossipTransport{
		net: n, host: host, addr: addr, pc: pc, ln: ln,
		packets: make(chan *memberlist.Packet, 256),
		streams: make(chan net.Conn, 16),
		done:    make(chan struct{}),
	}
	t.wg.Go(t.readPackets)
	t.wg.Go(t.acceptStreams)
	return t, nil
}

func (t *gossipTransport) readPackets() {
	buf := make([]byte, 65536)
	for {
		n, from, err := t.pc.ReadFrom(buf)
		if err != nil {
			return // closed by Shutdown
		}
		p := &memberlist.Packet{Buf: append([]byte(nil), buf[:n]...), From: from, Timestamp: time.Now()}
		select {
		case t.packets <- p:
		case <-t.done:
			return
		}
	}
}

func (t *gossipTransport) acceptStreams() {
	for {
		c, err := t.ln.Accept()
		if err != nil {
			return // closed by Shutdown
		}
		select {
		case t.streams <- c:
		case <-t.done:
			c.Close()
			return
		}
	}
}

// FinalAdvertiseAddr advertises the configured gossip address.
func (t *gossipTransport) FinalAdvertiseAddr(string, int) (net.IP, int, error) {
	host, port, err := net.SplitHostPort(t.addr)
	if err != nil {
		return nil, 0, err
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return nil, 0, fmt.Errorf("gossip address %q: host is not an IP", t.addr)
	}
	p, err := strconv.Atoi(port)
	return ip, p, err
}

// WriteTo sends one gossip packet.
func (t *gossipTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	to, err := t.net.ResolvePacketAddr(addr)
	if err != nil {
		return time.Time{}, err
	}
	_, err = t.pc.WriteTo(b, to)
	return time.Now(), err
}

// PacketCh delivers received gossip packets.
func (t *gossipTransport) PacketCh() <-chan *memberlist.Packet { return t.packets }

// DialTimeout opens a push/pull stream.
func (t *gossipTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return t.net.Dial(ctx, t.host, addr)
}

// StreamCh delivers push/pull streams other peers opened.
func (t *gossipTransport) StreamCh() <-chan net.Conn { return t.streams }

// Shutdown closes the sockets and waits for the transport's goroutines.
func (t *gossipTransport) Shutdown() error {
	var err error
	t.once.Do(func() {
		close(t.done)
		err = errors.Join(t.pc.Close(), t.ln.Close())
		t.wg.Wait()
	})
	return err
}
