package chaos

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
)

// frontends is a mesh of stub peers for driving one session: each records
// the headers of the writes it receives and answers as its behaviour says.
type frontends struct {
	region map[string]string
	api    map[string]string

	mu   sync.Mutex
	seen map[string][]http.Header // peer → headers of the requests it received
}

// behaviour of a stub peer.
const (
	answers    = "answers"     // 200 with an item and the token "tok-<peer>"
	losesIt    = "loses-it"    // takes the request, drops the connection unanswered
	refuses    = "refuses"     // nothing listens
	badRequest = "bad-request" // 400
)

// newFrontends starts a stub peer per entry of peers: name → region/behaviour.
func newFrontends(t *testing.T, peers map[string]string) *frontends {
	f := &frontends{region: map[string]string{}, api: map[string]string{}, seen: map[string][]http.Header{}}
	for name, spec := range peers {
		region, behaviour, _ := strings.Cut(spec, "/")
		f.region[name] = region
		if behaviour == refuses {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			f.api[name] = "http://" + ln.Addr().String()
			ln.Close()
			continue
		}
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			f.mu.Lock()
			f.seen[name] = append(f.seen[name], r.Header.Clone())
			f.mu.Unlock()
			switch behaviour {
			case losesIt:
				if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
					conn.Close()
				}
			case badRequest:
				http.Error(w, "no", http.StatusBadRequest)
			default:
				w.Write([]byte(`{"item":"x","counters":{"claps":1},"reactions":{},"token":"tok-` + name + `"}`))
			}
		}))
		t.Cleanup(srv.Close)
		f.api[name] = srv.URL
	}
	return f
}

func (f *frontends) headers(peer string) []http.Header {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.seen[peer])
}

func (f *frontends) Describe() string { return "stub peers" }
func (f *frontends) Peers() []string {
	var peers []string
	for p := range f.api {
		peers = append(peers, p)
	}
	slices.Sort(peers)
	return peers
}
func (f *frontends) Region(peer string) string             { return f.region[peer] }
func (f *frontends) API(peer string) string                { return f.api[peer] }
func (f *frontends) Token() string                         { return "" }
func (f *frontends) Faults() []Fault                       { return nil }
func (f *frontends) Kill(string) error                     { return errors.ErrUnsupported }
func (f *frontends) Restart(context.Context, string) error { return errors.ErrUnsupported }
func (f *frontends) Heal(context.Context) error            { return nil }
func (f *frontends) Final(context.Context, []string) (map[string]PeerState, error) {
	return nil, errors.ErrUnsupported
}

// newSession is session 0 of seed 7 at peer, holding a token a peer gave it
// earlier.
func newSession(t *testing.T, f *frontends, w Workload, peer string) *session {
	client := NewClient("")
	t.Cleanup(client.Close)
	return &session{
		w: w.withDefaults(), cl: f, client: client, history: &History{},
		rng: rand.New(rand.NewPCG(7, 1)), stop: make(chan struct{}),
		items: []string{"x"}, peer: peer, token: "tok-earlier",
	}
}

// TestSessionFailsOver: a write of unknown outcome is sent again with the
// same idempotency key and the same causal token at the next peers of its
// route, past a peer that refuses it, until one answers; the session stays
// there and keeps the token it answered. The op is one write, acknowledged.
func TestSessionFailsOver(t *testing.T) {
	f := newFrontends(t, map[string]string{
		"r1-a": "r1/" + losesIt, "r1-b": "r1/" + refuses, "r2-a": "r2/" + answers, "r2-b": "r2/" + answers,
	})
	s := newSession(t, f, Workload{}, "r1-a")
	s.increment("x", []string{"r1-b", "r2-a", "r2-b"})

	ops := s.history.Ops()
	if len(ops) != 1 {
		t.Fatalf("%d ops recorded, want 1", len(ops))
	}
	op := ops[0]
	var got []string
	for _, tr := range op.Tries {
		got = append(got, tr.Peer+" "+tr.Outcome.String())
	}
	if want := []string{"r1-a unknown", "r1-b failed", "r2-a ok"}; !slices.Equal(got, want) {
		t.Errorf("tries %q, want %q", got, want)
	}
	if op.Outcome != OK || op.Peer != "r1-a" || op.Key == "" {
		t.Errorf("op %s at %s with key %q, want ok at r1-a with a key", op.Outcome, op.Peer, op.Key)
	}
	for _, p := range []string{"r1-a", "r2-a"} {
		h := f.headers(p)
		if len(h) != 1 || h[0].Get("Idempotency-Key") != op.Key || h[0].Get("X-Causal-Token") != "tok-earlier" {
			t.Errorf("%s received %v, want one request with key %q and the session's token", p, h, op.Key)
		}
	}
	if len(f.headers("r2-b")) != 0 {
		t.Error("the session went on after an acknowledgement")
	}
	if s.peer != "r2-a" || s.token != "tok-r2-a" {
		t.Errorf("the session is at %s with token %q, want r2-a with its token", s.peer, s.token)
	}
}

// TestSessionDoesNotRetryABadRequest: a 4xx is final; only what may not have
// been applied, or was refused unsent, is sent again.
func TestSessionDoesNotRetryABadRequest(t *testing.T) {
	f := newFrontends(t, map[string]string{"r1-a": "r1/" + badRequest, "r2-a": "r2/" + answers})
	s := newSession(t, f, Workload{}, "r1-a")
	s.react("x", "u", "like", true, []string{"r2-a"})
	if op := s.history.Ops()[0]; op.Outcome != Failed || len(op.Tries) != 1 || len(f.headers("r2-a")) != 0 {
		t.Errorf("a 400: %s after %d tries, want failed after 1", op.Outcome, len(op.Tries))
	}
	if s.peer != "r1-a" || s.token != "tok-earlier" {
		t.Errorf("the session moved to %s, token %q", s.peer, s.token)
	}
}

// TestSessionResendsAcknowledgedIncrements: every acknowledged increment sent
// again (DuplicateEvery 1) goes, with its key, to the peer that took it or to
// another one — both happen.
func TestSessionResendsAcknowledgedIncrements(t *testing.T) {
	f := newFrontends(t, map[string]string{
		"r1-a": "r1/" + answers, "r1-b": "r1/" + answers, "r2-a": "r2/" + answers,
	})
	s := newSession(t, f, Workload{DuplicateEvery: 1}, "r1-a")
	for range 20 {
		s.increment("x", s.route(f.Peers()))
	}
	here, elsewhere := 0, 0
	for _, op := range s.history.Ops() {
		if len(op.Tries) != 2 || op.Outcome != OK {
			t.Fatalf("op %d: %d tries, %s; want the acknowledged try and its resend", op.Index, len(op.Tries), op.Outcome)
		}
		if op.Tries[0].Peer == op.Tries[1].Peer {
			here++
		} else {
			elsewhere++
		}
	}
	if here == 0 || elsewhere == 0 {
		t.Errorf("%d resent to the same peer, %d to another: want both", here, elsewhere)
	}
	keys := map[string]int{}
	for _, p := range f.Peers() {
		for _, h := range f.headers(p) {
			keys[h.Get("Idempotency-Key")]++
		}
	}
	if len(keys) != 20 {
		t.Errorf("%d keys over 40 requests, want 20 (each sent twice)", len(keys))
	}
	for k, n := range keys {
		if n != 2 {
			t.Errorf("key %q sent %d times, want 2", k, n)
		}
	}
}

// TestRouteReplaysFromTheSeed: a session's failover routes come from its seed
// alone; each hop leaves the peer before it, for the same region's other
// peer or for another region — both happen.
func TestRouteReplaysFromTheSeed(t *testing.T) {
	f := newFrontends(t, map[string]string{
		"r1-a": "r1/" + answers, "r1-b": "r1/" + answers, "r2-a": "r2/" + answers, "r3-a": "r3/" + answers,
	})
	a, b := newSession(t, f, Workload{}, "r1-a"), newSession(t, f, Workload{}, "r1-a")
	near, far := 0, 0
	for i := range 50 {
		ra, rb := a.route(f.Peers()), b.route(f.Peers())
		if !slices.Equal(ra, rb) {
			t.Fatalf("route %d: %q and %q from the same seed", i, ra, rb)
		}
		if len(ra) != a.w.Retries {
			t.Fatalf("route %q: want %d hops", ra, a.w.Retries)
		}
		prev := a.peer
		for _, p := range ra {
			switch {
			case p == prev:
				t.Fatalf("route %q from %s: a hop stays at %s", ra, a.peer, p)
			case f.Region(p) == f.Region(prev):
				near++
			default:
				far++
			}
			prev = p
		}
		a.peer, b.peer = ra[0], rb[0]
	}
	if near == 0 || far == 0 {
		t.Errorf("%d hops within a region, %d across: want both", near, far)
	}
}
