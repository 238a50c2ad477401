package httpapi

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/countermesh/countermesh/tests/testkit"
)

// serveTCP serves e's Server as serve does — HTTPServer on the listener
// LimitListener returns, on a loopback port — and returns its address.
func (e *env) serveTCP() string {
	e.t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		e.t.Fatal(err)
	}
	capped, err := e.s.LimitListener(ln)
	if err != nil {
		e.t.Fatal(err)
	}
	srv := e.s.HTTPServer(ln.Addr().String())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(capped) }()
	e.t.Cleanup(func() {
		srv.Close()
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			e.t.Errorf("Serve: %v", err)
		}
	})
	return ln.Addr().String()
}

// withToken configures one API token, "s3cret", and sends it.
func withToken(e *env) *env {
	e.token = "s3cret"
	return e
}

func tokenConfig(tune func(*Config)) func(*Config) {
	return func(c *Config) {
		c.Tokens = map[string]string{"s3cret": "frontend"}
		if tune != nil {
			tune(c)
		}
	}
}

// readRaw reads one answer from c, failing the test unless it comes, whole,
// within timeout.
func readRaw(t *testing.T, c net.Conn, timeout time.Duration) (*http.Response, []byte) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(timeout))
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no answer within %s: %v", timeout, err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("answer body: %v", err)
	}
	// Then the peer closes the connection: the next read ends, not times out.
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("after the answer: %v, want the connection closed", err)
	}
	return resp, body
}

// TestConnectionFloodRefused opens connections that send nothing, far past the
// cap, as an attacker would: every one past the cap is answered 503
// problem+json and closed at once, while a frontend's connection opened before
// the flood keeps reading and writing; a new connection is refused cleanly
// during the flood and served once the flood's connections close.
func TestConnectionFloodRefused(t *testing.T) {
	const maxConns, flood = 8, 60
	e := withToken(newEnv(t, tokenConfig(func(c *Config) { c.MaxConns = maxConns })))
	e.do("POST", "/v1/items/a/counters/claps", `{"by":3}`).item(t)
	base := "http://" + e.serveTCP()

	frontend := &http.Transport{MaxConnsPerHost: 1}
	defer frontend.CloseIdleConnections()
	call := func(tr *http.Transport, method, path, body string) response {
		t.Helper()
		return doWith(t, &http.Client{Transport: tr, Timeout: 5 * time.Second}, base, e.token, method, path, body)
	}
	if it := call(frontend, "GET", "/v1/items/a", "").item(t); it.Counters["claps"] != 3 {
		t.Fatalf("before the flood: %+v", it)
	}

	conns := make([]net.Conn, 0, flood)
	answers := make(chan []byte, flood)
	var readers sync.WaitGroup
	defer func() {
		for _, c := range conns {
			c.Close()
		}
		readers.Wait()
	}()
	for range flood {
		c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		readers.Go(func() {
			b, _ := io.ReadAll(c)
			answers <- b
		})
	}
	refused := flood - (maxConns - 1) // the frontend holds one connection
	for i := range refused {
		var b []byte
		select {
		case b = <-answers:
		case <-time.After(5 * time.Second):
			t.Fatalf("%d of %d connections past the cap answered within 5 s", i, refused)
		}
		resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(string(b))), nil)
		if err != nil {
			t.Fatalf("connection past the cap got %q: %v", b, err)
		}
		body, _ := io.ReadAll(resp.Body)
		r := response{code: resp.StatusCode, header: resp.Header, body: body}
		if p := r.problem(t, http.StatusServiceUnavailable); !strings.Contains(p.Detail, "maximum of 8 connections") ||
			r.header.Get("Retry-After") != "1" {
			t.Fatalf("refusal %q, Retry-After %q", p.Detail, r.header.Get("Retry-After"))
		}
	}

	// The frontend's connection still reads and writes.
	if it := call(frontend, "POST", "/v1/items/a/counters/claps", `{"by":1}`).item(t); it.Counters["claps"] != 4 {
		t.Fatalf("write during the flood: %+v", it)
	}
	if it := call(frontend, "GET", "/v1/items/a", "").item(t); it.Counters["claps"] != 4 {
		t.Fatalf("read during the flood: %+v", it)
	}
	// A new connection is refused cleanly while the flood holds the cap.
	late := &http.Transport{}
	p := call(late, "GET", "/v1/items/a", "").problem(t, http.StatusServiceUnavailable)
	if !strings.Contains(p.Detail, "maximum of 8 connections") {
		t.Fatalf("late connection: %q", p.Detail)
	}
	if m := string(e.do("GET", "/metrics", "").body); !strings.Contains(m, "countermesh_api_connections 8") ||
		!strings.Contains(m, fmt.Sprintf("countermesh_api_connections_refused_total %d", refused+1)) {
		t.Errorf("connection metrics:\n%s", grepLines(m, "countermesh_api_connections"))
	}

	// The flood ends: new connections are served again.
	for _, c := range conns {
		c.Close()
	}
	testkit.WaitFor(t, 5*time.Second, "a new connection to be served", func() bool {
		return call(late, "GET", "/v1/items/a", "").code == http.StatusOK
	})
	late.CloseIdleConnections()
}

// TestUnauthenticatedBodyAnsweredAtOnce sends, without a token, a POST that
// announces a body and never sends it: the 401 comes at once and the
// connection is closed, instead of the peer waiting for the body.
func TestUnauthenticatedBodyAnsweredAtOnce(t *testing.T) {
	e := newEnv(t, tokenConfig(nil))
	addr := e.serveTCP()
	for _, path := range []string{"/v1/ops", "/v1/items/a/counters/claps", "/nowhere"} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: countermesh\r\nContent-Type: application/json\r\n"+
			"Content-Length: 4096\r\n\r\n", path)
		resp, body := readRaw(t, c, 2*time.Second)
		want := http.StatusUnauthorized
		if path == "/nowhere" {
			want = http.StatusNotFound
		}
		response{code: resp.StatusCode, header: resp.Header, body: body}.problem(t, want)
	}
}

// TestBodyReadTimeout: an authenticated POST whose announced body does not
// come within ReadTimeout is answered 408 and its connection closed.
func TestBodyReadTimeout(t *testing.T) {
	e := withToken(newEnv(t, tokenConfig(func(c *Config) { c.ReadTimeout = 200 * time.Millisecond })))
	c, err := net.Dial("tcp", e.serveTCP())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "POST /v1/items/a/counters/claps HTTP/1.1\r\nHost: countermesh\r\nAuthorization: Bearer %s\r\n"+
		"Content-Length: 9\r\n\r\n{\"by\":", e.token)
	resp, body := readRaw(t, c, 5*time.Second)
	p := response{code: resp.StatusCode, header: resp.Header, body: body}.problem(t, http.StatusRequestTimeout)
	if !strings.Contains(p.Detail, "not received within 200ms") {
		t.Fatalf("detail %q", p.Detail)
	}
	if it := e.do("GET", "/v1/items/a", "").item(t); it.Counters["claps"] != 0 {
		t.Fatalf("after a timed-out write: %+v", it)
	}
}

// TestConnectionCapDefaults: the default cap leaves room under the file limit,
// and live subscribers stay below the connection cap.
func TestConnectionCapDefaults(t *testing.T) {
	for _, c := range []struct {
		nofile uint64
		want   int
	}{{1000, 488}, {1024, 512}, {20_000, 15_000}, {100, 64}} {
		if got := defaultMaxConns(c.nofile); got != c.want {
			t.Errorf("defaultMaxConns(%d) = %d, want %d", c.nofile, got, c.want)
		}
	}
	nofile, err := fileLimit()
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, nil)
	if got := e.s.cfg.MaxConns; uint64(got) >= nofile || e.s.cfg.MaxSubscribers >= got {
		t.Fatalf("MaxConns %d, MaxSubscribers %d under a file limit of %d", got, e.s.cfg.MaxSubscribers, nofile)
	}
	_, err = New(Config{Backend: e.b, MaxConns: 100, MaxSubscribers: 100, Logger: quietLogger()})
	if err == nil || !strings.Contains(err.Error(), "MaxSubscribers (100) must be below Config.MaxConns (100)") {
		t.Fatalf("New with as many subscribers as connections: %v", err)
	}
}

// grepLines returns the lines of s holding sub.
func grepLines(s, sub string) string {
	var out []string
	for line := range strings.Lines(s) {
		if strings.Contains(line, sub) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "")
}
