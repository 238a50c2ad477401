package chaos

import (
	"context"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

// TestWrittenRequestIsNeverFailed: Go's transport sends a POST with an
// Idempotency-Key again on a fresh connection when a reused one breaks. If the
// peer died after applying the first send, the resend is refused — and the call
// must be unknown, not failed, or the checker would count an applied increment
// as never made.
func TestWrittenRequestIsNeverFailed(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int32
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"item":"a","counters":{"claps":1},"reactions":{},"token":"t"}`))
			return
		}
		// Applied, then the peer dies: no more listener, the connection cut
		// before any answer.
		ln.Close()
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	})}
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(ln) }()
	defer func() { srv.Close(); <-done }()

	c := NewClient("")
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	base := "http://" + ln.Addr().String()
	if a := c.Increment(ctx, base, "a", "claps", 1, "k1", ""); a.Outcome != OK {
		t.Fatalf("first call: %v %s", a.Outcome, a.Err)
	}
	a := c.Increment(ctx, base, "a", "claps", 1, "k2", "")
	if a.Outcome != Unknown {
		t.Errorf("a call whose request was written, then refused on the resend: %v (%s), want unknown", a.Outcome, a.Err)
	}
	if a := c.Increment(ctx, base, "a", "claps", 1, "k3", ""); a.Outcome != Failed {
		t.Errorf("a call refused before anything was written: %v (%s), want failed", a.Outcome, a.Err)
	}
}
