package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Refusing a connection over the cap: what the client sends is read up to the
// end of its request's head (a client reading an answer it has not asked for
// yet drops it) for at most refuseWait, then the 503 is written, the sending
// half shut, and the rest read and dropped for at most refuseWait more, so
// that unread data reaching a closed socket does not reset the connection
// before the client read the answer. At most maxLingering refusals linger at
// once; past that a connection over the cap is closed at once.
const (
	refuseWait   = time.Second
	maxLingering = 64
	// refuseDrain bounds what a refused client may send, in each phase.
	refuseDrain = 16 << 10
)

// fdReserve returns how many of a process's nofile descriptors the connection
// cap leaves to everything else: Badger's table and log files, the QUIC and
// memberlist sockets, the refusals lingering, and room to spare.
func fdReserve(nofile uint64) uint64 { return max(512, nofile/4) }

// minDefaultConns is the smallest default connection cap, however low the file
// limit.
const minDefaultConns = 64

// defaultMaxConns derives the connection cap from the process's file limit
// nofile: what fdReserve leaves, at least minDefaultConns.
func defaultMaxConns(nofile uint64) int {
	if nofile <= fdReserve(nofile)+minDefaultConns {
		return minDefaultConns
	}
	return int(min(nofile-fdReserve(nofile), 1<<30))
}

// fileLimit returns the process's soft limit of open files (RLIMIT_NOFILE);
// the Go runtime raises it to the hard limit at start.
func fileLimit() (uint64, error) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, fmt.Errorf("httpapi: read the file limit: %w", err)
	}
	return rl.Cur, nil
}

// connLimiter is a net.Listener that holds at most max connections open. A
// connection over the cap is accepted, answered 503 problem+json with
// Retry-After and closed, so the listen backlog never fills with clients left
// waiting, and connections already open are not slowed down.
type connLimiter struct {
	net.Listener
	max     int64
	refusal []byte // the whole HTTP/1.1 answer to a connection over the cap

	open    atomic.Int64
	gauge   prometheus.GaugeFunc // open connections, read from open
	refused prometheus.Counter   // connections refused over the cap

	lingering chan struct{} // a slot per refusal lingering
	wg        sync.WaitGroup
	mu        sync.Mutex
	refusing  map[net.Conn]struct{} // lingering refusals, ended by Close
	closed    bool
}

// LimitListener returns ln with the API's connection cap (Config.MaxConns):
// serve HTTPServer on it. Past the cap a new connection is answered 503
// problem+json (HTTP/1.1, Retry-After: 1) as soon as it sent its request's
// head, or after a second of silence, and closed; connections already open are
// served as before. Refusing, rather than leaving new connections unaccepted,
// answers clients at once — they retry at another peer — instead of letting
// them wait in the listen backlog until they time out. Closing the returned
// listener closes ln and ends the refusals still lingering. Call it once per
// Server: its metrics are registered on Config.Registry.
func (s *Server) LimitListener(ln net.Listener) (net.Listener, error) {
	l := &connLimiter{
		Listener:  ln,
		max:       int64(s.cfg.MaxConns),
		lingering: make(chan struct{}, maxLingering),
		refusing:  map[net.Conn]struct{}{},

		refused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "countermesh_api_connections_refused_total",
			Help: "HTTP API connections answered 503 and closed because the connection cap was reached.",
		}),
	}
	l.gauge = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "countermesh_api_connections",
		Help: "Open HTTP API connections.",
	}, func() float64 { return float64(l.open.Load()) })
	for _, c := range []prometheus.Collector{l.gauge, l.refused} {
		if err := s.cfg.Registry.Register(c); err != nil {
			return nil, fmt.Errorf("httpapi: register connection metrics: %w", err)
		}
	}
	l.refusal = refusalAnswer(unavailable(1,
		"this peer already serves its maximum of %d connections; retry later or at another peer", s.cfg.MaxConns))
	return l, nil
}

// refusalAnswer renders p as a complete HTTP/1.1 answer that closes the
// connection.
func refusalAnswer(p *Problem) []byte {
	body, _ := json.Marshal(p)
	body = append(body, '\n')
	return fmt.Appendf(nil, "HTTP/1.1 %d %s\r\nContent-Type: application/problem+json\r\n"+
		"Cache-Control: no-store\r\nRetry-After: %d\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s",
		p.Status, http.StatusText(p.Status), p.retryAfter, len(body), body)
}

// Accept returns the next connection under the cap, refusing those over it.
func (l *connLimiter) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.open.Add(1) <= l.max {
			return &limitedConn{Conn: c, l: l}, nil
		}
		l.open.Add(-1)
		l.refused.Inc()
		l.refuse(c)
	}
}

// refuse answers c with the refusal and closes it, in a goroutine of its own
// when a lingering slot is free, else at once without an answer.
func (l *connLimiter) refuse(c net.Conn) {
	select {
	case l.lingering <- struct{}{}:
	default:
		c.Close() // too many lingering: the client sees a reset
		return
	}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		<-l.lingering
		c.Close()
		return
	}
	l.refusing[c] = struct{}{}
	l.wg.Add(1)
	l.mu.Unlock()
	go func() {
		defer l.wg.Done()
		defer func() { <-l.lingering }()
		l.answerRefused(c)
		l.mu.Lock()
		delete(l.refusing, c)
		l.mu.Unlock()
		c.Close()
	}()
}

// answerRefused answers c with the refusal once it sent its request's head,
// and reads what follows until the client closes or refuseWait passes.
func (l *connLimiter) answerRefused(c net.Conn) {
	start := time.Now()
	l.setDeadline(c, start.Add(refuseWait))
	buf := make([]byte, refuseDrain)
	for n := 0; n < len(buf) && !bytes.Contains(buf[:n], []byte("\r\n\r\n")); {
		m, err := c.Read(buf[n:])
		n += m
		if err != nil {
			break // the answer is tried all the same
		}
	}
	l.setDeadline(c, time.Now().Add(refuseWait))
	if _, err := c.Write(l.refusal); err != nil {
		return
	}
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	io.Copy(io.Discard, io.LimitReader(c, refuseDrain))
}

// setDeadline sets c's deadline to t, or to now once the listener is closed.
func (l *connLimiter) setDeadline(c net.Conn, t time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		t = time.Now()
	}
	c.SetDeadline(t)
}

// Close closes the listener, ends the refusals lingering and waits for them.
// Connections it accepted stay open: their server closes them.
func (l *connLimiter) Close() error {
	err := l.Listener.Close()
	l.mu.Lock()
	l.closed = true
	for c := range l.refusing {
		c.SetDeadline(time.Now()) // unblocks its goroutine at once
	}
	l.mu.Unlock()
	l.wg.Wait()
	return err
}

// limitedConn is a connection under the cap; closing it frees its slot, once.
type limitedConn struct {
	net.Conn
	l    *connLimiter
	once sync.Once
}

// Close closes the connection and frees its slot.
func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.l.open.Add(-1)
	})
	return err
}

// CloseWrite shuts the sending half down when the connection supports it, as
// net/http does before closing a connection whose request it did not read.
func (c *limitedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
