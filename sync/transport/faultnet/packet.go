package faultnet

import (
	"bytes"
	"container/heap"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"
)

// Limits of packet sockets.
const (
	// MaxPacketSize is the largest packet a socket sends, as for UDP over IPv4.
	MaxPacketSize = 65507
	// QueueBytes bounds the bytes of packets waiting in a socket's receive
	// queue; a packet that does not fit is dropped, like UDP.
	QueueBytes = 4 << 20
)

// errTooLarge is returned when writing a packet over MaxPacketSize.
var errTooLarge = errors.New("faultnet: message too long")

// packet is one datagram in flight.
type packet struct {
	from, to Addr
	data     []byte
}

// delayedPacket is a packet waiting in the network for its delivery time.
type delayedPacket struct {
	due time.Time
	seq uint64
	packet
}

// packetHeap orders delayed packets by due time, then by send order.
type packetHeap []delayedPacket

func (h packetHeap) Len() int { return len(h) }
func (h packetHeap) Less(i, j int) bool {
	if !h[i].due.Equal(h[j].due) {
		return h[i].due.Before(h[j].due)
	}
	return h[i].seq < h[j].seq
}
func (h packetHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *packetHeap) Push(x any)   { *h = append(*h, x.(delayedPacket)) }
func (h *packetHeap) Pop() any {
	old := *h
	p := old[len(old)-1]
	old[len(old)-1] = delayedPacket{}
	*h = old[:len(old)-1]
	return p
}

// ListenPacket opens a packet socket at addr ("host:port"; port 0 picks a free
// one). The returned conn has only the methods of net.PacketConn; its
// LocalAddr is an [Addr], and WriteTo takes an [Addr] (or any address of
// network "faultnet").
func (n *Network) ListenPacket(addr string) (net.PacketConn, error) {
	a, err := ParseAddr(addr)
	if err != nil {
		return nil, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.mu.closed {
		return nil, opError("listen", nil, a, net.ErrClosed)
	}
	if a.Port == 0 {
		if a.Port, err = n.freePortLocked(a.Host, false); err != nil {
			return nil, err
		}
	} else if n.mu.sockets[a] != nil {
		return nil, opError("listen", nil, a, ErrAddrInUse)
	}
	c := &packetConn{n: n, local: a, readable: make(chan struct{}, 1), closed: make(chan struct{})}
	c.mu.deadlineChanged = make(chan struct{})
	n.mu.sockets[a] = c
	return c, nil
}

// send applies the faults of the link from → to to one packet and delivers it
// now, schedules it for later, or drops it.
func (n *Network) send(from, to Addr, p []byte) {
	n.mu.Lock()
	defer n.mu.Unlock()
	st := &n.mu.stats
	st.PacketsSent++
	st.BytesSent += uint64(len(p))
	if n.mu.closed || n.isDownLocked(from.Host, to.Host) {
		st.PacketsDropped++
		return
	}
	l := link{from.Host, to.Host}
	f := n.mu.faults[l]
	if f.Loss > 0 && n.rngLocked(l).Float64() < f.Loss {
		st.PacketsDropped++
		return
	}
	copies := 1
	if f.Duplicate > 0 && n.rngLocked(l).Float64() < f.Duplicate {
		copies = 2
		st.PacketsDuplicated++
	}
	pkt := packet{from: from, to: to, data: bytes.Clone(p)}
	now := time.Now()
	for range copies {
		d := n.delayLocked(l, f)
		if d <= 0 {
			n.deliverLocked(pkt)
			continue
		}
		n.mu.seq++
		heap.Push(&n.mu.delayed, delayedPacket{due: now.Add(d), seq: n.mu.seq, packet: pkt})
		if n.mu.delayed[0].seq == n.mu.seq {
			select { // the scheduler must rearm its timer
			case n.wake <- struct{}{}:
			default:
			}
		}
	}
}

// deliverLocked puts a packet in its receiver's queue, unless the link went
// down meanwhile, nobody listens, or the queue is full.
func (n *Network) deliverLocked(p packet) {
	st := &n.mu.stats
	c := n.mu.sockets[p.to]
	switch {
	case c == nil || n.isDownLocked(p.from.Host, p.to.Host):
		st.PacketsDropped++
	case !c.enqueue(p):
		st.PacketsDropped++
		st.PacketsOverflowed++
	default:
		st.PacketsDelivered++
		st.BytesDelivered += uint64(len(p.data))
	}
}

// deliverDelayed is the network's one goroutine: it delivers delayed packets
// when they are due, until Close.
func (n *Network) deliverDelayed() {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		n.mu.Lock()
		now := time.Now()
		for len(n.mu.delayed) > 0 && !n.mu.delayed[0].due.After(now) {
			n.deliverLocked(heap.Pop(&n.mu.delayed).(delayedPacket).packet)
		}
		wait := time.Duration(-1)
		if len(n.mu.delayed) > 0 {
			wait = n.mu.delayed[0].due.Sub(now)
		}
		n.mu.Unlock()
		if wait >= 0 {
			timer.Reset(wait)
		} else {
			timer.Stop()
		}
		select {
		case <-n.done:
			return
		case <-n.wake:
		case <-timer.C:
		}
	}
}

// packetConn is a packet socket. It deliberately implements only
// net.PacketConn: no SyscallConn, no batch reads, no buffer sizes.
type packetConn struct {
	n        *Network
	local    Addr
	readable chan struct{} // capacity 1: the queue may be non-empty
	closed   chan struct{} // closed by Close

	mu struct {
		sync.Mutex
		queue           []packet
		queued          int // bytes in queue
		isClosed        bool
		readDeadline    time.Time
		writeDeadline   time.Time
		deadlineChanged chan struct{} // closed and replaced when the read deadline changes
	}
}

var _ net.PacketConn = (*packetConn)(nil)

// enqueue adds a packet to the receive queue; false if it is full or closed.
func (c *packetConn) enqueue(p packet) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mu.isClosed || c.mu.queued+len(p.data) > QueueBytes {
		return false
	}
	c.mu.queue = append(c.mu.queue, p)
	c.mu.queued += len(p.data)
	c.signalReadable()
	return true
}

func (c *packetConn) signalReadable() {
	select {
	case c.readable <- struct{}{}:
	default:
	}
}

// ReadFrom reads the next packet, blocking until one arrives, the read
// deadline passes or the socket is closed. A packet longer than b is
// truncated, the rest discarded.
func (c *packetConn) ReadFrom(b []byte) (int, net.Addr, error) {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		c.mu.Lock()
		if c.mu.isClosed {
			c.mu.Unlock()
			return 0, nil, opError("read", c.local, nil, net.ErrClosed)
		}
		if len(c.mu.queue) > 0 {
			p := c.mu.queue[0]
			c.mu.queue[0] = packet{}
			c.mu.queue = c.mu.queue[1:]
			c.mu.queued -= len(p.data)
			if len(c.mu.queue) > 0 {
				c.signalReadable() // for another reader
			}
			c.mu.Unlock()
			return copy(b, p.data), p.from, nil
		}
		deadline, changed := c.mu.readDeadline, c.mu.deadlineChanged
		c.mu.Unlock()

		var expired <-chan time.Time
		if !deadline.IsZero() {
			d := time.Until(deadline)
			if d <= 0 {
				return 0, nil, opError("read", c.local, nil, os.ErrDeadlineExceeded)
			}
			if timer == nil {
				timer = time.NewTimer(d)
			} else {
				timer.Reset(d)
			}
			expired = timer.C
		}
		select {
		case <-c.readable:
		case <-changed:
		case <-expired:
		case <-c.closed:
		}
	}
}

// WriteTo sends one packet to addr. Like UDP it does not block and reports
// success for packets the network then drops.
func (c *packetConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	to, err := toAddr(addr)
	if err != nil {
		return 0, opError("write", c.local, addr, err)
	}
	c.mu.Lock()
	closed, deadline := c.mu.isClosed, c.mu.writeDeadline
	c.mu.Unlock()
	switch {
	case closed:
		return 0, opError("write", c.local, to, net.ErrClosed)
	case !deadline.IsZero() && !time.Now().Before(deadline):
		return 0, opError("write", c.local, to, os.ErrDeadlineExceeded)
	case len(b) > MaxPacketSize:
		return 0, opError("write", c.local, to, fmt.Errorf("%w: %d bytes", errTooLarge, len(b)))
	}
	c.n.send(c.local, to, b)
	return len(b), nil
}

// Close closes the socket: blocked reads return net.ErrClosed, queued packets
// are dropped and the address becomes free. A second Close returns an error.
func (c *packetConn) Close() error {
	c.n.mu.Lock()
	if c.n.mu.sockets[c.local] == c {
		delete(c.n.mu.sockets, c.local)
	}
	c.n.mu.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mu.isClosed {
		return opError("close", c.local, nil, net.ErrClosed)
	}
	c.mu.isClosed = true
	c.mu.queue, c.mu.queued = nil, 0
	close(c.closed)
	return nil
}

// LocalAddr returns the socket's [Addr].
func (c *packetConn) LocalAddr() net.Addr { return c.local }

// SetDeadline sets the read and write deadlines.
func (c *packetConn) SetDeadline(t time.Time) error {
	c.SetReadDeadline(t)
	return c.SetWriteDeadline(t)
}

// SetReadDeadline sets the deadline of reads, including reads blocked now.
func (c *packetConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.mu.readDeadline = t
	close(c.mu.deadlineChanged)
	c.mu.deadlineChanged = make(chan struct{})
	return nil
}

// SetWriteDeadline sets the deadline of writes. Writes never block, so it
// only makes writes fail once it has passed.
func (c *packetConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.mu.writeDeadline = t
	return nil
}
