package faultnet

import (
	"context"
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// Limits of streams.
const (
	// Backlog is how many dialled streams a listener holds before Accept takes
	// them; a dial beyond it is refused.
	Backlog = 128
	// PipeBytes bounds the bytes written to one direction of a stream and not
	// yet read; a writer blocks beyond it, as with a full TCP window.
	PipeBytes = 1 << 20
)

// Listen opens a stream listener at addr ("host:port"; port 0 picks a free
// one). Stream ports are apart from packet ports, as TCP's are from UDP's.
func (n *Network) Listen(addr string) (net.Listener, error) {
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
		if a.Port, err = n.freePortLocked(a.Host, true); err != nil {
			return nil, err
		}
	} else if n.mu.listeners[a] != nil {
		return nil, opError("listen", nil, a, ErrAddrInUse)
	}
	l := &listener{n: n, addr: a, backlog: make(chan *streamConn, Backlog), done: make(chan struct{})}
	n.mu.listeners[a] = l
	return l, nil
}

// Dial opens a stream from host from (a host name; a port, if given, is
// ignored) to the listener at to ("host:port"). It
// fails with [ErrLinkDown] when either direction between the two hosts is
// down, with [ErrRefused] when nobody listens at to, and when ctx is done.
// The stream's writes from → to are delayed by the link's Delay (and Jitter),
// and it breaks if a link between the two hosts goes down later.
func (n *Network) Dial(ctx context.Context, from, to string) (net.Conn, error) {
	dst, err := ParseAddr(to)
	if err != nil {
		return nil, err
	}
	if host, _, err := net.SplitHostPort(from); err == nil {
		from = host // a local address given with a port: the host is what counts
	}
	if err := ctx.Err(); err != nil {
		return nil, opError("dial", nil, dst, err)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.mu.closed {
		return nil, opError("dial", nil, dst, net.ErrClosed)
	}
	if n.isDownLocked(from, dst.Host) || n.isDownLocked(dst.Host, from) {
		return nil, opError("dial", Addr{Host: from}, dst, ErrLinkDown)
	}
	ln := n.mu.listeners[dst]
	if ln == nil {
		return nil, opError("dial", Addr{Host: from}, dst, ErrRefused)
	}
	port, err := n.freePortLocked(from, true)
	if err != nil {
		return nil, err
	}
	p := newStreamPair(n, Addr{from, port}, dst)
	select {
	case ln.backlog <- p.server:
	default:
		return nil, opError("dial", Addr{Host: from}, dst, ErrRefused)
	}
	n.mu.streams[p] = struct{}{}
	n.mu.stats.StreamsOpened++
	return p.client, nil
}

// breakStreamsLocked breaks, with err, every stream between hosts a and b for
// which cut reports true (it is asked with the hosts in both orders).
func (n *Network) breakStreamsLocked(err error, cut func(a, b string) bool) {
	for p := range n.mu.streams {
		a, b := p.client.local.Host, p.server.local.Host
		if cut(a, b) || cut(b, a) {
			p.toServer.fail(err)
			p.toClient.fail(err)
			delete(n.mu.streams, p)
			if err == ErrLinkDown {
				n.mu.stats.StreamsBroken++
			}
		}
	}
}

// streamDelay returns the delay of one write on the stream from → to, and
// counts its bytes.
func (n *Network) streamDelay(from, to string, size int) time.Duration {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.mu.stats.StreamBytes += uint64(size)
	l := link{from, to}
	return n.delayLocked(l, n.mu.faults[l])
}

// listener accepts streams dialled to its address.
type listener struct {
	n       *Network
	addr    Addr
	backlog chan *streamConn // sent to under n.mu while registered
	done    chan struct{}
	once    sync.Once
}

// Accept returns the next stream dialled to the listener, blocking until one
// arrives or the listener is closed.
func (l *listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.backlog:
		return c, nil
	case <-l.done:
		return nil, opError("accept", nil, l.addr, net.ErrClosed)
	}
}

// Close stops the listener; streams dialled but not accepted are closed.
func (l *listener) Close() error {
	err := opError("close", nil, l.addr, net.ErrClosed)
	l.once.Do(func() {
		err = nil
		l.n.mu.Lock()
		if l.n.mu.listeners[l.addr] == l {
			delete(l.n.mu.listeners, l.addr)
		}
		l.n.mu.Unlock()
		close(l.done)
		for {
			select {
			case c := <-l.backlog:
				c.Close()
			default:
				return
			}
		}
	})
	return err
}

// Addr returns the listener's [Addr].
func (l *listener) Addr() net.Addr { return l.addr }

// streamPair is one stream: two ends and a pipe each way.
type streamPair struct {
	n                  *Network
	client, server     *streamConn
	toServer, toClient *pipe
}

func newStreamPair(n *Network, client, server Addr) *streamPair {
	p := &streamPair{n: n, toServer: newPipe(), toClient: newPipe()}
	p.client = &streamConn{pair: p, local: client, remote: server, rx: p.toClient, tx: p.toServer}
	p.server = &streamConn{pair: p, local: server, remote: client, rx: p.toServer, tx: p.toClient}
	return p
}

// streamConn is one end of a stream.
type streamConn struct {
	pair          *streamPair
	local, remote Addr
	rx, tx        *pipe // what we read, what we write
	once          sync.Once
}

var _ net.Conn = (*streamConn)(nil)

// Read reads what the other end wrote and what its link's delay has let
// through.
func (c *streamConn) Read(b []byte) (int, error) {
	n, err := c.rx.read(b)
	if err != nil && err != io.EOF {
		err = opError("read", c.local, c.remote, err)
	}
	return n, err
}

// Write writes b, blocking while the other end has PipeBytes unread.
func (c *streamConn) Write(b []byte) (int, error) {
	delay := c.pair.n.streamDelay(c.local.Host, c.remote.Host, len(b))
	n, err := c.tx.write(b, delay)
	if err != nil {
		err = opError("write", c.local, c.remote, err)
	}
	return n, err
}

// Close closes the end: the other end reads what was written, then io.EOF,
// and its writes fail; this end's reads and writes fail with net.ErrClosed.
func (c *streamConn) Close() error {
	err := opError("close", c.local, c.remote, net.ErrClosed)
	c.once.Do(func() {
		err = nil
		c.tx.closeWrite()
		c.rx.closeRead()
		if c.pair.toServer.done() && c.pair.toClient.done() {
			c.pair.n.mu.Lock()
			delete(c.pair.n.mu.streams, c.pair)
			c.pair.n.mu.Unlock()
		}
	})
	return err
}

// LocalAddr returns the end's [Addr].
func (c *streamConn) LocalAddr() net.Addr { return c.local }

// RemoteAddr returns the other end's [Addr].
func (c *streamConn) RemoteAddr() net.Addr { return c.remote }

// SetDeadline sets the read and write deadlines.
func (c *streamConn) SetDeadline(t time.Time) error {
	c.rx.setDeadline(true, t)
	c.tx.setDeadline(false, t)
	return nil
}

// SetReadDeadline sets the read deadline, including for a read blocked now.
func (c *streamConn) SetReadDeadline(t time.Time) error {
	c.rx.setDeadline(true, t)
	return nil
}

// SetWriteDeadline sets the write deadline, including for a write blocked now.
func (c *streamConn) SetWriteDeadline(t time.Time) error {
	c.tx.setDeadline(false, t)
	return nil
}

// pipe is one direction of a stream: written chunks, each readable from the
// time its delay has passed, in order.
type pipe struct {
	mu            sync.Mutex
	chunks        []chunk
	buffered      int
	writeClosed   bool  // the writer closed: io.EOF once drained
	readClosed    bool  // the reader closed: writes fail
	err           error // broken: reads and writes fail with it
	readDeadline  time.Time
	writeDeadline time.Time
	changed       chan struct{} // closed and replaced on every change
}

type chunk struct {
	data    []byte
	readyAt time.Time
}

func newPipe() *pipe { return &pipe{changed: make(chan struct{})} }

func (p *pipe) broadcastLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// wait blocks until the pipe changes, until (if not zero) or deadline passes.
// It returns os.ErrDeadlineExceeded if the deadline has passed.
func wait(changed <-chan struct{}, until, deadline time.Time) error {
	if !deadline.IsZero() {
		if !time.Now().Before(deadline) {
			return os.ErrDeadlineExceeded
		}
		if until.IsZero() || deadline.Before(until) {
			until = deadline
		}
	}
	if until.IsZero() {
		<-changed
		return nil
	}
	t := time.NewTimer(time.Until(until))
	defer t.Stop()
	select {
	case <-changed:
	case <-t.C:
	}
	return nil
}

func (p *pipe) read(b []byte) (int, error) {
	for {
		p.mu.Lock()
		switch {
		case p.err != nil:
			p.mu.Unlock()
			return 0, p.err
		case p.readClosed:
			p.mu.Unlock()
			return 0, net.ErrClosed
		}
		now := time.Now()
		n := 0
		for n < len(b) && len(p.chunks) > 0 && !p.chunks[0].readyAt.After(now) {
			c := &p.chunks[0]
			k := copy(b[n:], c.data)
			n += k
			c.data = c.data[k:]
			if len(c.data) == 0 {
				p.chunks[0] = chunk{}
				p.chunks = p.chunks[1:]
			}
		}
		if n > 0 || len(b) == 0 {
			p.buffered -= n
			p.broadcastLocked() // room for a blocked writer
			p.mu.Unlock()
			return n, nil
		}
		var until time.Time
		if len(p.chunks) > 0 {
			until = p.chunks[0].readyAt
		} else if p.writeClosed {
			p.mu.Unlock()
			return 0, io.EOF
		}
		changed, deadline := p.changed, p.readDeadline
		p.mu.Unlock()
		if err := wait(changed, until, deadline); err != nil {
			return 0, err
		}
	}
}

func (p *pipe) write(b []byte, delay time.Duration) (int, error) {
	written := 0
	for {
		p.mu.Lock()
		switch {
		case p.err != nil:
			p.mu.Unlock()
			return written, p.err
		case p.writeClosed:
			p.mu.Unlock()
			return written, net.ErrClosed
		case p.readClosed:
			p.mu.Unlock()
			return written, io.ErrClosedPipe
		case !p.writeDeadline.IsZero() && !time.Now().Before(p.writeDeadline):
			p.mu.Unlock()
			return written, os.ErrDeadlineExceeded
		case written == len(b):
			p.mu.Unlock()
			return written, nil
		}
		if room := PipeBytes - p.buffered; room > 0 {
			k := min(room, len(b)-written)
			readyAt := time.Now().Add(delay)
			if last := len(p.chunks) - 1; last >= 0 && p.chunks[last].readyAt.After(readyAt) {
				readyAt = p.chunks[last].readyAt // a stream stays in order
			}
			p.chunks = append(p.chunks, chunk{data: append([]byte(nil), b[written:written+k]...), readyAt: readyAt})
			p.buffered += k
			written += k
			p.broadcastLocked()
			p.mu.Unlock()
			continue
		}
		changed, deadline := p.changed, p.writeDeadline
		p.mu.Unlock()
		if err := wait(changed, time.Time{}, deadline); err != nil {
			return written, err
		}
	}
}

func (p *pipe) setDeadline(read bool, t time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if read {
		p.readDeadline = t
	} else {
		p.writeDeadline = t
	}
	p.broadcastLocked()
}

func (p *pipe) closeWrite() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.writeClosed = true
	p.broadcastLocked()
}

func (p *pipe) closeRead() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.readClosed = true
	p.chunks, p.buffered = nil, 0
	p.broadcastLocked()
}

// fail breaks the pipe: every read and write from now on fails with err.
func (p *pipe) fail(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err == nil {
		p.err = err
		p.broadcastLocked()
	}
}

// done reports whether both ends are finished with the pipe.
func (p *pipe) done() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err != nil || p.writeClosed && p.readClosed
}
