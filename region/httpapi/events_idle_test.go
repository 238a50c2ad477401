package httpapi

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/countermesh/countermesh/persist"
	"github.com/countermesh/countermesh/region/httpapi/httpapitest"
)

// pipeListener is a net.Listener of in-memory connections (net.Pipe): a server
// and its clients on it run inside a synctest bubble, on its fake clock, with
// every deadline of net/http and its HTTP/2 server on that clock too.
type pipeListener struct {
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), closed: make(chan struct{})}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return pipeAddr{} }

// dial is an http.Transport's DialContext: a new connection to the listener.
func (l *pipeListener) dial(ctx context.Context, _, _ string) (net.Conn, error) {
	client, server := net.Pipe()
	select {
	case l.conns <- server:
		return client, nil
	case <-l.closed:
		return nil, net.ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }

// TestLiveStreamSurvivesIdle keeps a live stream idle for 30 s — no event,
// default heartbeat and write timeout — over h2c and HTTP/1.1 through
// HTTPServer, and then expects the next change on it. Under HTTP/2 a write
// deadline left set after a send resets the stream when it passes, sending or
// not.
func TestLiveStreamSurvivesIdle(t *testing.T) {
	for _, c := range clientProtocols() {
		t.Run(c.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				// The fake peer starts no goroutine and does no I/O: it lives
				// in the bubble.
				b := httpapitest.New(httpapitest.Config{})
				if _, err := b.Write(context.Background(), persist.Add("a", "claps", 5)); err != nil {
					t.Fatal(err)
				}
				s, err := New(Config{Backend: b, Logger: quietLogger()})
				if err != nil {
					t.Fatal(err)
				}
				ln := newPipeListener()
				srv := s.HTTPServer("pipe")
				ctx, cancel := context.WithCancel(context.Background())
				var wg sync.WaitGroup
				wg.Go(func() { s.Run(ctx) })
				wg.Go(func() {
					if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
						t.Errorf("Serve: %v", err)
					}
				})
				tr := &http.Transport{DialContext: ln.dial, Protocols: c.protocols}
				defer func() {
					cancel() // live streams end before the server closes
					srv.Close()
					tr.CloseIdleConnections()
					wg.Wait()
				}()

				st := openStreamWith(t, &http.Client{Transport: tr}, "http://countermesh", "a")
				if st.resp.StatusCode != http.StatusOK || st.resp.ProtoMajor != c.major {
					t.Fatalf("%s %d, want HTTP/%d 200", st.resp.Proto, st.resp.StatusCode, c.major)
				}
				if it := st.nextItem(t); it.Counters["claps"] != 5 {
					t.Fatalf("first event %+v", it)
				}

				time.Sleep(30 * time.Second) // idle, on the bubble's clock
			idle:
				for {
					select {
					case b, ok := <-st.blocks:
						if !ok {
							t.Fatal("the stream ended while idle")
						}
						if !strings.HasPrefix(b, ":") {
							t.Fatalf("block %q while idle, want heartbeats only", b)
						}
					default:
						break idle
					}
				}
				b.Changed("a")
				if it := st.nextItem(t); it.Item != "a" || it.Counters["claps"] != 5 {
					t.Fatalf("event after 30 s idle: %+v", it)
				}
				st.resp.Body.Close()
			})
		})
	}
}
