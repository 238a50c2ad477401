package client_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/countermesh/countermesh/region/httpapi/client"
)

// The client's own transport and net/http's (Config.HTTPClient) give the same
// answers, problems and causal tokens for the same calls at a real peer.
func TestBothTransportsAnswerAlike(t *testing.T) {
	ms := newMesh(t)
	ctx := context.Background()
	own := ms.client(t, "eu-1")
	std, err := client.New(client.Config{Peers: []string{ms.urls["eu-1"]}, Token: token,
		HTTPClient: &http.Client{Timeout: 10 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(std.CloseIdleConnections)
	t.Cleanup(own.CloseIdleConnections)
	type outcome struct {
		Item    client.Item
		Items   []client.Item
		Results []client.OpResult
		Err     string
		Token   bool
	}
	// Each call runs at both transports in turn, on its own item, so both see
	// the same state.
	calls := []func(s *client.Session, item string) outcome{
		func(s *client.Session, item string) outcome {
			it, err := s.React(ctx, item, "u1", "like")
			return outcome{Item: it, Err: fmt.Sprint(err)}
		},
		func(s *client.Session, item string) outcome {
			it, err := s.AddOnce(ctx, item, "claps", 7, "key-"+item)
			return outcome{Item: it, Err: fmt.Sprint(err)}
		},
		func(s *client.Session, item string) outcome {
			res, err := s.Ops(ctx, []client.Op{client.AddOp(item, "views", 2, ""), client.ReactOp(item, "u2", "dislike")})
			return outcome{Results: res, Err: fmt.Sprint(err)}
		},
		func(s *client.Session, item string) outcome {
			list, err := s.GetMany(ctx, []string{item, item + "-never"}, "u2")
			return outcome{Items: list, Err: fmt.Sprint(err)}
		},
		func(s *client.Session, item string) outcome {
			// A page read into the items of an earlier, longer one, with a
			// user's reaction: it reads as the same page read afresh.
			if _, err := s.React(ctx, item, "u3", "like"); err != nil {
				return outcome{Err: err.Error()}
			}
			dst, err := s.GetMany(ctx, []string{item, item + "-never", item + "-also-never"}, "u3")
			if err != nil {
				return outcome{Err: err.Error()}
			}
			list, err := s.GetManyInto(ctx, []string{item + "-never"}, "", dst)
			fresh, ferr := s.GetMany(ctx, []string{item + "-never"}, "")
			if a, b := alike(t, outcome{Items: list, Err: fmt.Sprint(err)}, item), alike(t, outcome{Items: fresh, Err: fmt.Sprint(ferr)}, item); a != b {
				return outcome{Err: "into an earlier page: " + a + "; afresh: " + b}
			}
			return outcome{Items: list, Err: fmt.Sprint(err)}
		},
		func(s *client.Session, item string) outcome {
			_, err := s.React(ctx, item, "u1", "love") // not a reaction kind: a problem
			var p *client.Problem
			if !errors.As(err, &p) || !errors.Is(err, client.ErrInvalidRequest) {
				return outcome{Err: "not an invalid-request problem: " + fmt.Sprint(err)}
			}
			return outcome{Err: p.Detail}
		},
	}
	for i, call := range calls {
		var got [2]string
		for j, c := range []*client.Client{own, std} {
			item := fmt.Sprintf("post-%d-%d", i, j)
			s := c.Session()
			o := call(s, item)
			o.Token = s.Token() != ""
			got[j] = alike(t, o, item)
		}
		if got[0] != got[1] {
			t.Errorf("call %d: own transport %s\nnet/http %s", i, got[0], got[1])
		}
	}
}

// tokenField is an answer's causal token in JSON: each answer's is its own.
var tokenField = regexp.MustCompile(`"token":"[^"]*"`)

// alike returns o as JSON with item's name made "item" and causal tokens
// cleared: what the outcomes of one call on two items must share.
func alike(t *testing.T, o any, item string) string {
	t.Helper()
	b, err := json.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	return tokenField.ReplaceAllString(strings.ReplaceAll(string(b), item, "item"), `"token":""`)
}

// countingServer is an HTTP server that counts the requests it applied and
// the connections it accepted, and answers each request with the count.
type countingServer struct {
	*httptest.Server
	applied atomic.Int64
	conns   atomic.Int64
	// hold, when set, runs before a request is applied.
	hold atomic.Pointer[func(*http.Request)]
}

func newCountingServer(t testing.TB) *countingServer {
	t.Helper()
	cs := &countingServer{}
	cs.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h := cs.hold.Load(); h != nil {
			(*h)(r)
			if r.Context().Err() != nil {
				return
			}
		}
		io.Copy(io.Discard, r.Body)
		n := cs.applied.Add(1)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"item":"a","counters":{"claps":%d},"reactions":{},"token":"t%d"}`, n, n)
	}))
	cs.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			cs.conns.Add(1)
		}
	}
	cs.Start()
	t.Cleanup(cs.Close)
	return cs
}

func newClient(t testing.TB, cfg client.Config) *client.Client {
	t.Helper()
	c, err := client.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// A kept connection the peer closed while it was idle (a restart, a load
// balancer's idle timeout) is not used: every call, an unkeyed increment too,
// goes out on a fresh connection and counts once.
func TestAKeptConnectionThePeerClosedIsNotUsed(t *testing.T) {
	cs := newCountingServer(t)
	ctx := context.Background()
	s := newClient(t, client.Config{Peers: []string{cs.URL}, Attempts: 1}).Session()
	for i, call := range safeAndUnsafeCalls(ctx, s) {
		if err := call.call(); err != nil { // opens, then keeps, a connection
			t.Fatalf("%s: %v", call.name, err)
		}
		cs.CloseClientConnections()
		before := cs.applied.Load()
		if err := call.call(); err != nil {
			t.Errorf("%s after the peer closed the kept connection: %v", call.name, err)
		}
		if got := cs.applied.Load() - before; got != 1 {
			t.Errorf("%s: the peer applied %d requests, want 1", call.name, got)
		}
		if n := cs.conns.Load(); n != int64(i+2) {
			t.Errorf("%s: the peer saw %d connections, want %d: one new after each close", call.name, n, i+2)
		}
	}
}

// A connection lost after the request went out and before any answer (the
// peer dropped it unapplied): a request that is safe to send twice goes again
// on a fresh connection and counts once; an unkeyed increment is not sent
// again, and its caller learns that its outcome is unknown.
func TestAConnectionLostBeforeAnAnswerIsResentOnlyWhenSafe(t *testing.T) {
	cs := newCountingServer(t)
	ctx := context.Background()
	s := newClient(t, client.Config{Peers: []string{cs.URL}, Attempts: 1}).Session()
	var armed atomic.Bool
	drop := func(*http.Request) {
		if armed.CompareAndSwap(true, false) {
			panic(http.ErrAbortHandler) // the connection closes, nothing applied
		}
	}
	cs.hold.Store(&drop)
	for _, call := range safeAndUnsafeCalls(ctx, s) {
		if err := call.call(); err != nil { // opens, then keeps, a connection
			t.Fatalf("%s: %v", call.name, err)
		}
		armed.Store(true)
		before := cs.applied.Load()
		err := call.call()
		var unknown *client.UnknownError
		switch {
		case call.safe && err != nil:
			t.Errorf("%s on a connection lost before its answer: %v, want it sent again on a fresh one", call.name, err)
		case !call.safe && !errors.As(err, &unknown):
			t.Errorf("%s on a connection lost before its answer: %v, want an UnknownError", call.name, err)
		}
		want := int64(1)
		if !call.safe {
			want = 0
		}
		if got := cs.applied.Load() - before; got != want {
			t.Errorf("%s: the peer applied %d requests, want %d", call.name, got, want)
		}
	}
}

// namedCall is one call of a session, and whether it is safe to send twice.
type namedCall struct {
	name string
	call func() error
	safe bool
}

// safeAndUnsafeCalls returns one call of each method the client sends.
func safeAndUnsafeCalls(ctx context.Context, s *client.Session) []namedCall {
	return []namedCall{
		{"GET", func() error { _, err := s.Get(ctx, "a", ""); return err }, true},
		{"PUT reaction", func() error { _, err := s.React(ctx, "a", "u1", "like"); return err }, true},
		{"DELETE reaction", func() error { _, err := s.Unreact(ctx, "a", "u1"); return err }, true},
		{"keyed POST", func() error { _, err := s.AddOnce(ctx, "a", "claps", 1, "k1"); return err }, true},
		{"unkeyed POST", func() error { _, err := s.AddUnkeyed(ctx, "a", "claps", 1); return err }, false},
	}
}

// A call ends at its deadline — the client's Timeout or the context's,
// whichever is first — and at its context's cancellation, even while the peer
// has not answered; the connection it used is not kept with a spoiled
// deadline, so the next call works.
func TestACallEndsAtItsDeadlineOrCancellation(t *testing.T) {
	cs := newCountingServer(t)
	hang := func(r *http.Request) { <-r.Context().Done() }
	c := newClient(t, client.Config{Peers: []string{cs.URL}, Attempts: 1, Timeout: 200 * time.Millisecond})
	s := c.Session()
	ctx := context.Background()
	if _, err := s.Get(ctx, "a", ""); err != nil { // a kept connection
		t.Fatal(err)
	}
	cs.hold.Store(&hang)
	var unknown *client.UnknownError

	start := time.Now()
	if _, err := s.Get(ctx, "a", ""); !errors.As(err, &unknown) {
		t.Errorf("a call past Timeout: %v, want an UnknownError", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("a call with a 200 ms Timeout took %v", d)
	}

	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := s.Get(short, "a", ""); !errors.Is(err, context.DeadlineExceeded) || !errors.As(err, &unknown) {
		t.Errorf("a call past its context's deadline: %v, want an UnknownError of context.DeadlineExceeded", err)
	}

	long := newClient(t, client.Config{Peers: []string{cs.URL}, Attempts: 1, Timeout: time.Hour}).Session()
	cctx, cancelNow := context.WithCancel(ctx)
	done := make(chan error, 1)
	arrived := make(chan struct{}, 1)
	hangAndTell := func(r *http.Request) {
		select {
		case arrived <- struct{}{}:
		default:
		}
		<-r.Context().Done()
	}
	cs.hold.Store(&hangAndTell)
	go func() { _, err := long.Get(cctx, "a", ""); done <- err }()
	<-arrived // the call is at the peer, waiting for its answer
	cancelNow()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("a cancelled call: %v, want context.Canceled among its causes", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("cancelling the context did not end the call")
	}

	cs.hold.Store(nil)
	if _, err := s.Get(ctx, "a", ""); err != nil {
		t.Errorf("the call after a timed-out one: %v", err)
	}
}

// ConnsPerPeer caps the connections to a peer however many calls run at once;
// the calls beyond it wait for a free connection and all succeed.
func TestConnsPerPeerCapsConnections(t *testing.T) {
	cs := newCountingServer(t)
	slow := func(*http.Request) { time.Sleep(5 * time.Millisecond) }
	cs.hold.Store(&slow)
	c := newClient(t, client.Config{Peers: []string{cs.URL}, Attempts: 1, ConnsPerPeer: 3})
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for range 40 {
		wg.Go(func() {
			_, err := c.Session().Get(context.Background(), "a", "")
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := cs.conns.Load(); n > 3 {
		t.Errorf("the peer saw %d connections, want at most 3", n)
	}
	if n := cs.applied.Load(); n != 40 {
		t.Errorf("applied %d calls, want 40", n)
	}
}

// A call that fails before its request leaves the client — no connection
// free before its deadline, a peer refusing connections — says it was not
// sent (ErrNotSent), not that its outcome is unknown: an unkeyed increment
// may then be made again without counting twice.
func TestAnUnsentCallSaysSo(t *testing.T) {
	cs := newCountingServer(t)
	release := make(chan struct{})
	held := make(chan struct{}, 1)
	hold := func(*http.Request) { held <- struct{}{}; <-release }
	cs.hold.Store(&hold)
	c := newClient(t, client.Config{Peers: []string{cs.URL}, Attempts: 1, ConnsPerPeer: 1})
	first := make(chan error, 1)
	go func() { _, err := c.Session().AddUnkeyed(context.Background(), "a", "claps", 1); first <- err }()
	<-held // the one connection is busy
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := c.Session().AddUnkeyed(ctx, "a", "claps", 1)
	var unknown *client.UnknownError
	if !errors.Is(err, client.ErrNotSent) || errors.As(err, &unknown) {
		t.Errorf("a call that found no free connection: %v, want ErrNotSent", err)
	}
	cs.hold.Store(nil)
	close(release)
	if err := <-first; err != nil {
		t.Fatalf("the call holding the connection: %v", err)
	}
	if n := cs.applied.Load(); n != 1 {
		t.Errorf("the peer applied %d calls, want only the one sent", n)
	}

	// A peer that refuses connections: nothing listens on its port.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close()
	_, err = newClient(t, client.Config{Peers: []string{dead}, Attempts: 1}).Session().AddUnkeyed(context.Background(), "a", "claps", 1)
	if !errors.Is(err, client.ErrNotSent) || errors.As(err, &unknown) {
		t.Errorf("a call to a peer refusing connections: %v, want ErrNotSent", err)
	}
}

// rawListener serves each connection it accepts with serve, on a goroutine
// of its own, until the test ends; it returns the peer's base URL.
func rawListener(t *testing.T, serve func(nc net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer nc.Close()
				serve(nc)
			})
		}
	})
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	return "http://" + ln.Addr().String()
}

// rawPeer serves each connection with answer, whatever it is asked, and
// records the requests' header blocks.
func rawPeer(t *testing.T, answer string) (url string, seen func() []string) {
	t.Helper()
	var mu sync.Mutex
	var heads []string
	url = rawListener(t, func(nc net.Conn) {
		br := bufio.NewReader(nc)
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			io.Copy(io.Discard, req.Body)
			var b strings.Builder
			req.Header.Write(&b)
			mu.Lock()
			heads = append(heads, b.String())
			mu.Unlock()
			if _, err := io.WriteString(nc, answer); err != nil {
				return
			}
		}
	})
	return url, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), heads...)
	}
}

// Bad input changes nothing it should not. A peer's answer with a control
// character in a header, larger than the client takes, or not HTTP at all, is
// an error of unknown outcome, and its token is not carried on. A frontend
// that passes on an idempotency key from its own caller cannot make it add a
// header to the request: the call is refused before anything is sent.
func TestHostileInputIsRefused(t *testing.T) {
	ctx := context.Background()
	const body = `{"item":"a","counters":{},"reactions":{},"token":""}`
	injecting, seen := rawPeer(t, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Causal-Token: t\x0bX-Injected: 1\r\n"+
		fmt.Sprintf("Content-Length: %d\r\n\r\n%s", len(body), body))
	s := newClient(t, client.Config{Peers: []string{injecting}, Attempts: 1}).Session()
	var unknown *client.UnknownError
	if _, err := s.Get(ctx, "a", ""); !errors.As(err, &unknown) {
		t.Errorf("an answer with a control character in a header: %v, want an UnknownError", err)
	}
	if s.Token() != "" {
		t.Errorf("the session took the token %q", s.Token())
	}
	for _, key := range []string{"k\r\nX-Injected: 1", "k\nX-Injected: 1", "k\x00"} {
		if _, err := s.AddOnce(ctx, "a", "claps", 1, key); err == nil || !strings.Contains(err.Error(), "control character") {
			t.Errorf("an idempotency key %q: %v, want it refused", key, err)
		}
	}
	if n := len(seen()); n != 1 {
		t.Errorf("the peer got %d requests, want only the first", n)
	}
	for _, h := range seen() {
		if strings.Contains(h, "X-Injected") {
			t.Errorf("an injected header reached the wire: %q", h)
		}
	}

	cases := map[string]string{
		"a body of 17 MiB":  "HTTP/1.1 200 OK\r\nContent-Length: 17825792\r\n\r\n",
		"a chunked 17 MiB":  "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1100000\r\n" + strings.Repeat("x", 17<<20) + "\r\n0\r\n\r\n",
		"not HTTP":          "SSH-2.0-OpenSSH_9.2\r\n\r\n",
		"a broken chunking": "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
	}
	for name, answer := range cases {
		url, _ := rawPeer(t, answer)
		start := time.Now()
		_, err := newClient(t, client.Config{Peers: []string{url}, Attempts: 1}).Session().Get(ctx, "a", "")
		var unknown *client.UnknownError
		if !errors.As(err, &unknown) {
			t.Errorf("%s: %v, want an UnknownError", name, err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%s: refused after %v; the client waited for what it does not take", name, d)
		}
	}
}

// An informational answer (103 Early Hints, an unasked 100 Continue) comes
// before the final one on the same connection: the call takes the final
// answer, and the next call on that connection gets its own.
func TestInformationalAnswersAreSkipped(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := n.Add(1)
		w.Header().Set("Link", "</style.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"item":"a%d","counters":{},"reactions":{},"token":""}`, i)
	}))
	t.Cleanup(srv.Close)
	s := newClient(t, client.Config{Peers: []string{srv.URL}, Attempts: 1}).Session()
	for i := 1; i <= 3; i++ {
		it, err := s.Get(context.Background(), "a", "")
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		if want := fmt.Sprintf("a%d", i); it.Item != want {
			t.Fatalf("call %d got the answer of %q, want %q", i, it.Item, want)
		}
	}
}

// A peer that sends more than it was asked for (a second answer after the
// first, as a desynchronised proxy does) leaves bytes no call asked for on
// the connection: they are not taken as the next call's answer.
func TestUnaskedBytesAreNotTheNextAnswer(t *testing.T) {
	answer := func(item string) string {
		body := fmt.Sprintf(`{"item":%q,"counters":{},"reactions":{},"token":""}`, item)
		return fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	}
	var mu sync.Mutex
	served := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		served++
		i := served
		mu.Unlock()
		nc, bw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		if i == 1 {
			// The answer, and one more no one asked for, in one write; then the
			// connection stays open and answers nothing more.
			bw.WriteString(answer("first") + answer("unasked"))
			bw.Flush()
			io.Copy(io.Discard, nc)
			nc.Close()
			return
		}
		bw.WriteString(answer(fmt.Sprint("call-", i)))
		bw.Flush()
		nc.Close()
	}))
	t.Cleanup(srv.Close)
	c := newClient(t, client.Config{Peers: []string{srv.URL}, Attempts: 1, Timeout: 5 * time.Second})
	s := c.Session()
	if it, err := s.Get(context.Background(), "a", ""); err != nil || it.Item != "first" {
		t.Fatalf("first call: %v, %v", it.Item, err)
	}
	it, err := s.Get(context.Background(), "a", "")
	if err != nil {
		t.Fatalf("second call: %v", err)
	}
	if it.Item == "unasked" {
		t.Fatalf("the second call took an answer sent before it was asked")
	}
}

// A peer that answers a request before reading all of its body (a body over
// its limit: 413) and then closes the connection: the caller gets that
// answer, as net/http's client gives it, not an unknown outcome.
func TestAnAnswerBeforeTheWholeBodyIsTaken(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.Copy(io.Discard, http.MaxBytesReader(w, r.Body, 1<<20)); err != nil {
			http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"results":[]}`)
	}))
	t.Cleanup(srv.Close)
	ops := make([]client.Op, 1000)
	for i := range ops {
		ops[i] = client.ReactOp(strings.Repeat("x", 32<<10), "u", "like")
	}
	s := newClient(t, client.Config{Peers: []string{srv.URL}, Attempts: 1}).Session()
	_, err := s.Ops(context.Background(), ops)
	var p *client.Problem
	if !errors.As(err, &p) || p.Status != http.StatusRequestEntityTooLarge {
		t.Fatalf("a body over the peer's limit: %v, want its 413 problem", err)
	}
}

// A call whose context ends as its request starts still ends then: the
// cancellation is not lost to the deadline the request sets on its
// connection.
func TestACancellationAtTheStartOfAnExchangeEndsIt(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "hang") {
			<-r.Context().Done()
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"item":"a","counters":{},"reactions":{},"token":""}`)
	}))
	t.Cleanup(srv.Close)
	// A lost cancellation ends at Timeout, after the test has failed.
	s := newClient(t, client.Config{Peers: []string{srv.URL}, Attempts: 1, Timeout: 30 * time.Second}).Session()
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	for i := range 300 {
		if _, err := s.Get(context.Background(), "a", ""); err != nil { // a kept connection
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { _, err := s.Get(cancelled, "hang", ""); done <- err }()
		select {
		case err := <-done:
			if err == nil {
				t.Fatalf("call %d with a cancelled context succeeded", i)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("call %d with a cancelled context did not end", i)
		}
	}
}

// A proxy that sends an unasked answer on a connection left idle (408 Request
// Timeout) before closing it: the next call does not take that answer as its
// own, and goes out on a fresh connection.
func TestAnUnaskedAnswerOnAnIdleConnectionIsNotTaken(t *testing.T) {
	const ok = `{"item":"a","counters":{"claps":1},"reactions":{},"token":""}`
	sent408 := make(chan struct{}, 4)
	url := rawListener(t, func(nc net.Conn) {
		br := bufio.NewReader(nc)
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		fmt.Fprintf(nc, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(ok), ok)
		io.WriteString(nc, "HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
		sent408 <- struct{}{}
		io.Copy(io.Discard, br) // until the client closes
	})
	c := newClient(t, client.Config{Peers: []string{url}, Attempts: 1})
	s := c.Session()
	for i := range 3 {
		it, err := s.Get(context.Background(), "a", "")
		if err != nil || it.Counters["claps"] != 1 {
			t.Fatalf("call %d: %+v, %v; want the peer's 200", i, it, err)
		}
		<-sent408
	}
}

// A peer URL carrying credentials is refused: the API takes a bearer token, and
// the error does not repeat the password.
func TestAPeerURLWithCredentialsIsRefused(t *testing.T) {
	_, err := client.New(client.Config{Peers: []string{"http://frontend:s3cret@peer:7301"}})
	if err == nil || !strings.Contains(err.Error(), "bearer token") || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("New with credentials in a peer URL: %v", err)
	}
}

// AddOnce with an empty key is refused before anything is sent: sent without
// a key and retried at the next peer, the increment could count twice.
func TestAddOnceWithAnEmptyKeyIsRefused(t *testing.T) {
	a, b := newCountingServer(t), newCountingServer(t)
	s := newClient(t, client.Config{Peers: []string{a.URL, b.URL}}).Session()
	if _, err := s.AddOnce(context.Background(), "a", "claps", 1, ""); err == nil {
		t.Error("AddOnce with an empty key succeeded")
	}
	if n := a.applied.Load() + b.applied.Load(); n != 0 {
		t.Errorf("the peers applied %d requests, want none", n)
	}
}
