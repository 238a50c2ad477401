package region

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/countermesh/countermesh/sync/transport/edgelog"
)

// gossipTransport carries memberlist over a Network: packets on a datagram socket,
// push/pull on stream connections. Over HostNetwork it is what memberlist's own
// NetTransport does; over a fault network, partitions reach gossip too.
//
// It hands memberlist only what comes from peers of the topology (see
// gossipSource): a packet or stream from anywhere else is dropped, counted
// and logged at most once per address per minute, so a node that holds the
// gossip key but not a peer's address can neither join nor spread word about
// the peers (a "dead" message in a real peer's name, say).
type gossipTransport struct {
	net     Network
	from    func(addr net.Addr, stream bool) error // nil: take everything
	host    string                                 // this peer's gossip host, the "from" of its dials
	addr    string
	pc      net.PacketConn
	ln      net.Listener
	packets chan *memberlist.Packet
	streams chan net.Conn
	done    chan struct{}
	wg      sync.WaitGroup
	once    sync.Once
	edge    gossipEdge
}

// gossipEdge counts what the gossip port refuses, and limits its log lines to
// one per remote host per minute: drops and admission refusals each, so that
// a warning about what a host sent never hides why a node on it was refused.
type gossipEdge struct {
	logger       *slog.Logger
	log          *edgelog.Limiter // what was dropped
	refusalLog   *edgelog.Limiter // nodes admission refused
	dropped      atomic.Uint64    // messages memberlist could not take
	refusedNodes atomic.Uint64    // nodes admission refused
}

var _ memberlist.Transport = (*gossipTransport)(nil)

// newGossipTransport listens for gossip on addr. from, if not nil, says why
// a packet (stream false) or a stream connection from an address must be
// dropped, or nil to take it; logger (nil: none) hears of what is dropped.
func newGossipTransport(n Network, addr string, from func(addr net.Addr, stream bool) error, logger *slog.Logger) (*gossipTransport, error) {
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
		net: n, from: from, host: host, addr: addr, pc: pc, ln: ln,
		packets: make(chan *memberlist.Packet, 256),
		streams: make(chan net.Conn, 16),
		done:    make(chan struct{}),
	}
	t.edge.log = edgelog.New(edgelog.DefaultInterval, 0)
	t.edge.refusalLog = edgelog.New(edgelog.DefaultInterval, 0)
	t.edge.logger = logger
	if logger == nil {
		t.edge.logger = slog.New(slog.DiscardHandler)
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
		if t.refused(from, false) {
			continue
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
		if t.refused(c.RemoteAddr(), true) {
			c.Close()
			continue
		}
		select {
		case t.streams <- c:
		case <-t.done:
			c.Close()
			return
		}
	}
}

// refused reports whether a packet or stream from addr is to be dropped,
// counting and logging it if so.
func (t *gossipTransport) refused(addr net.Addr, stream bool) bool {
	if t.from == nil {
		return false
	}
	err := t.from(addr, stream)
	if err == nil {
		return false
	}
	t.edge.dropped.Add(1)
	t.edge.log.Log(t.edge.logger, slog.LevelWarn, addr.String(), "gossip: dropped what a stranger sent", "err", err)
	return true
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
