package client

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// connTransport is the client's own transport: HTTP/1.1 keep-alive connections
// kept per peer, each request written and its answer read on the caller's
// goroutine. net/http's client hands every request to two goroutines per
// connection and back; for small API calls that costs the frontend about as
// much CPU as the peer spends answering, and this transport does without it.
// Answers are parsed by net/http (http.ReadResponse).
//
// It starts no goroutine: an idle connection waits in its peer's pool until a
// call takes it, CloseIdleConnections closes it, or a call finds it idle
// longer than idleTimeout and closes it. A call's deadline is the earlier of
// its context's and now + timeout, and cancelling its context aborts it.
type connTransport struct {
	timeout  time.Duration
	maxConns int // per peer
	dialer   net.Dialer

	mu    sync.RWMutex
	peers map[string]*peerConns // by base URL
}

// idleTimeout closes a connection left idle longer than this, before the API
// (which keeps one 2 minutes) closes it under a request.
const idleTimeout = time.Minute

func newConnTransport(timeout time.Duration, maxConns int) *connTransport {
	return &connTransport{timeout: timeout, maxConns: maxConns, peers: map[string]*peerConns{}}
}

// peerConns is the connections to one peer.
type peerConns struct {
	addr, host string      // to dial, and the Host header
	prefix     string      // the base URL's path, before every request's
	tls        *tls.Config // nil for http
	slots      chan struct{}

	mu   sync.Mutex
	idle []*conn // most recently used last
}

// conn is one connection to a peer.
type conn struct {
	nc   net.Conn // the connection: tcp, or TLS over it
	tcp  net.Conn
	br   *bufio.Reader
	bw   *bufio.Writer
	used time.Time // when it was last put back idle
}

// peer returns the connections to the peer at base.
func (t *connTransport) peer(base string) (*peerConns, error) {
	t.mu.RLock()
	p := t.peers[base]
	t.mu.RUnlock()
	if p != nil {
		return p, nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if p := t.peers[base]; p != nil {
		return p, nil
	}
	u, err := url.Parse(base)
	if err != nil {
		return nil, err
	}
	p = &peerConns{addr: u.Host, host: u.Host, prefix: u.EscapedPath(), slots: make(chan struct{}, t.maxConns)}
	if !clean(p.prefix, false) || !clean(p.host, false) {
		return nil, fmt.Errorf("peer %q holds a space or a control character", base)
	}
	if u.Port() == "" {
		p.addr = net.JoinHostPort(u.Hostname(), map[string]string{"http": "80", "https": "443"}[u.Scheme])
	}
	if u.Scheme == "https" {
		p.tls = &tls.Config{ServerName: u.Hostname(), MinVersion: tls.VersionTLS12}
	}
	t.peers[base] = p
	return p, nil
}

func (t *connTransport) roundTrip(ctx context.Context, r *request, read func(*answer)) error {
	p, err := t.peer(r.peer)
	if err != nil {
		return notSent(err)
	}
	deadline := time.Now().Add(t.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := p.acquire(ctx, deadline); err != nil {
		return notSent(err)
	}
	defer p.release()
	c := p.takeIdle()
	for c != nil && !idleClean(c) {
		c.nc.Close()
		c = p.takeIdle()
	}
	tried := c != nil // the request went out on a kept connection
	if c != nil {
		err := exchange(ctx, c, p, r, deadline, read)
		// A kept connection the peer closed as the request went out fails
		// before any answer arrives; a request that may be sent twice goes
		// again, fresh.
		if err == nil || !errors.Is(err, errNoAnswer) || !replayable(r) {
			return err
		}
	}
	if c, err = t.dial(ctx, p, deadline); err != nil {
		if tried {
			return err // the first sending's outcome is unknown
		}
		return notSent(err)
	}
	return exchange(ctx, c, p, r, deadline, read)
}

// notSent marks err as a failure before the request was written anywhere.
func notSent(err error) error { return fmt.Errorf("%w: %w", ErrNotSent, err) }

// errNoAnswer is a connection that ended before any byte of an answer.
var errNoAnswer = errors.New("connection closed before an answer")

// exchange writes r on c and hands its answer to read, then keeps c idle if
// the answer leaves it usable, or closes it.
func exchange(ctx context.Context, c *conn, p *peerConns, r *request, deadline time.Time, read func(*answer)) error {
	// The deadline is set before the cancellation can set its own, which it
	// would otherwise undo.
	if err := c.nc.SetDeadline(deadline); err != nil {
		c.nc.Close()
		return err
	}
	stop := context.AfterFunc(ctx, func() { c.nc.SetDeadline(time.Unix(1, 0)) })
	a, keep, err := send(c, p, r)
	if !stop() {
		// The context ended during the exchange: c's deadline is spoiled.
		keep = false
		if err != nil {
			err = fmt.Errorf("%w: %w", context.Cause(ctx), err)
		}
	} else if d, ok := ctx.Deadline(); ok && err != nil && errors.Is(err, os.ErrDeadlineExceeded) && !time.Now().Before(d) {
		// The socket's deadline, the context's, passed before the context
		// noticed: say so as the context would.
		err = fmt.Errorf("%w: %w", context.DeadlineExceeded, err)
	}
	if keep {
		c.used = time.Now()
		p.putIdle(c)
	} else {
		c.nc.Close()
	}
	if err != nil {
		return err
	}
	read(a)
	a.release()
	return nil
}

// send writes r on c and reads its answer, and whether c may carry another
// request.
func send(c *conn, p *peerConns, r *request) (*answer, bool, error) {
	writeRequest(c.bw, p, r)
	// A peer may answer before it has read the whole request (a body over its
	// limit) and close the connection: the write fails, and the answer, when
	// one came, is read all the same.
	werr := c.bw.Flush()
	if _, err := c.br.Peek(1); err != nil {
		if werr != nil {
			err = werr
		}
		if werr != nil || errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) {
			err = fmt.Errorf("%w: %w", errNoAnswer, err)
		}
		return nil, false, err
	}
	resp, err := readFinalResponse(c.br)
	if err != nil {
		return nil, false, err
	}
	// On an error the connection is closed unread: Close on the body would
	// first read what is left of it.
	buf, err := readBody(resp)
	if err != nil {
		return nil, false, err
	}
	resp.Body.Close()
	// Bytes already read past the answer were sent unasked: the connection
	// is out of step with its requests.
	return answerOf(resp, buf), werr == nil && !resp.Close && c.br.Buffered() == 0, nil
}

// max1xx bounds the informational answers taken before a final one.
const max1xx = 5

// readFinalResponse reads an answer's header, skipping the informational
// answers (1xx: 100 Continue, 103 Early Hints) a peer may send before it: each
// is a whole answer of its own, without a body, and the final one follows on
// the same connection.
func readFinalResponse(br *bufio.Reader) (*http.Response, error) {
	for range max1xx + 1 {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return nil, err
		}
		switch {
		case resp.StatusCode == http.StatusSwitchingProtocols:
			return nil, errors.New("peer switched protocols unasked")
		case resp.StatusCode >= 100 && resp.StatusCode < 200:
			continue
		}
		return resp, nil
	}
	return nil, fmt.Errorf("more than %d informational answers", max1xx)
}

// dial opens a new connection to p.
func (t *connTransport) dial(ctx context.Context, p *peerConns, deadline time.Time) (*conn, error) {
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	nc, err := t.dialer.DialContext(ctx, "tcp", p.addr)
	if err != nil {
		return nil, err
	}
	tcp := nc
	if p.tls != nil {
		tc := tls.Client(nc, p.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, err
		}
		nc = tc
	}
	return &conn{nc: nc, tcp: tcp, br: bufio.NewReaderSize(nc, 8<<10), bw: bufio.NewWriterSize(nc, 4<<10)}, nil
}

// acquire takes one of p's connection slots, waiting until deadline or ctx's
// end for one to free.
func (p *peerConns) acquire(ctx context.Context, deadline time.Time) error {
	select {
	case p.slots <- struct{}{}:
		return nil
	default:
	}
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case p.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return fmt.Errorf("no free connection to %s: all %d in use", p.host, cap(p.slots))
	}
}

func (p *peerConns) release() { <-p.slots }

// takeIdle returns the most recently used idle connection, closing those idle
// too long, or nil.
func (p *peerConns) takeIdle() *conn {
	p.mu.Lock()
	defer p.mu.Unlock()
	for n := len(p.idle); n > 0; n = len(p.idle) {
		c := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		if time.Since(c.used) < idleTimeout {
			return c
		}
		c.nc.Close()
	}
	return nil
}

// putIdle keeps c idle, and closes the least recently used idle connection if
// it has been idle too long: the pool does not keep what it will not use.
func (p *peerConns) putIdle(c *conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.idle) > 0 && time.Since(p.idle[0].used) >= idleTimeout {
		p.idle[0].nc.Close()
		p.idle = append(p.idle[:0], p.idle[1:]...)
	}
	p.idle = append(p.idle, c)
}

// closeIdle closes every connection idle in t.
func (t *connTransport) closeIdle() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, p := range t.peers {
		p.mu.Lock()
		for _, c := range p.idle {
			c.nc.Close()
		}
		p.idle = nil
		p.mu.Unlock()
	}
}

// writeRequest writes r as an HTTP/1.1 request to p.
func writeRequest(w *bufio.Writer, p *peerConns, r *request) {
	w.WriteString(r.method)
	w.WriteByte(' ')
	w.WriteString(p.prefix)
	w.WriteString(r.path)
	w.WriteString(" HTTP/1.1\r\nHost: ")
	w.WriteString(p.host)
	w.WriteString("\r\n")
	eachHeader(r, func(k, v string) {
		w.WriteString(k)
		w.WriteString(": ")
		w.WriteString(v)
		w.WriteString("\r\n")
	})
	if r.body != nil {
		w.WriteString("Content-Type: application/json\r\nContent-Length: ")
		w.WriteString(strconv.Itoa(len(r.body)))
		w.WriteString("\r\n")
	}
	w.WriteString("\r\n")
	w.Write(r.body)
}
