package client_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/countermesh/countermesh/region/httpapi"
	"github.com/countermesh/countermesh/region/httpapi/client"
	"github.com/countermesh/countermesh/region/regiontest"
)

const token = "client-test-token"

// mesh is two regions of one peer each, every peer with its API behind an
// httptest server, and a hook in front of each API.
type mesh struct {
	m    *regiontest.Mesh
	urls map[string]string // peer → API URL
	hook map[string]*atomic.Pointer[func(http.ResponseWriter, *http.Request) bool]
	hits map[string]*atomic.Int64 // requests that reached each API
	apis map[string]http.Handler  // each peer's API, without the hook
}

func newMesh(t *testing.T) *mesh {
	t.Helper()
	m := regiontest.NewMesh(t, []string{"eu", "us"}, 1)
	out := &mesh{m: m, urls: map[string]string{},
		hook: map[string]*atomic.Pointer[func(http.ResponseWriter, *http.Request) bool]{},
		hits: map[string]*atomic.Int64{}, apis: map[string]http.Handler{}}
	for _, p := range m.Running() {
		api, err := httpapi.New(httpapi.Config{Backend: m.Node(p).Peer, Tokens: map[string]string{token: "fe"},
			Logger: regiontest.Logger(), RateLimit: -1})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); _ = api.Run(ctx) }()
		hook := &atomic.Pointer[func(http.ResponseWriter, *http.Request) bool]{}
		hits := &atomic.Int64{}
		h := api.Handler()
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hits.Add(1)
			if f := hook.Load(); f != nil && (*f)(w, r) {
				return
			}
			h.ServeHTTP(w, r)
		}))
		t.Cleanup(func() { srv.Close(); cancel(); <-done })
		out.urls[p], out.hook[p], out.hits[p], out.apis[p] = srv.URL, hook, hits, h
	}
	m.WaitConverged(30 * time.Second)
	return out
}

func (ms *mesh) client(t *testing.T, peers ...string) *client.Client {
	t.Helper()
	var urls []string
	for _, p := range peers {
		if u, ok := ms.urls[p]; ok {
			urls = append(urls, u)
		} else {
			urls = append(urls, p) // a URL given as is
		}
	}
	c, err := client.New(client.Config{Peers: urls, Token: token, Backoff: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// deadURL returns the URL of a port nobody listens on.
func deadURL(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

// An answer lost after the peer applied the increment: the client retries at
// the other region with the same key, and the mesh counts it once.
func TestLostAnswerIsRetriedElsewhereAndCountsOnce(t *testing.T) {
	ms := newMesh(t)
	lose := func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodPost {
			return false
		}
		ms.apis["eu-1"].ServeHTTP(httptest.NewRecorder(), r) // applied; the answer goes nowhere
		panic(http.ErrAbortHandler)
	}
	ms.hook["eu-1"].Store(&lose)
	s := ms.client(t, "eu-1", "us-1").Session()
	it, err := s.Add(context.Background(), "post", "claps", 3)
	if err != nil {
		t.Fatalf("Add: %v", err)
	}
	if ms.hits["us-1"].Load() == 0 {
		t.Fatal("the retry did not move to the other peer")
	}
	if it.Counters["claps"] < 3 {
		t.Fatalf("answer shows claps %d", it.Counters["claps"])
	}
	ms.m.WaitConverged(30 * time.Second)
	for _, p := range []string{"eu-1", "us-1"} {
		v, err := ms.m.Node(p).Peer.Store().ReadItem("post", "")
		if err != nil {
			t.Fatal(err)
		}
		if v.Counters["claps"] != 3 {
			t.Errorf("%s: claps %d, want 3 (applied at both, counted once)", p, v.Counters["claps"])
		}
	}
}

// A peer that does not answer at all is skipped for the next.
func TestUnreachablePeerIsSkipped(t *testing.T) {
	ms := newMesh(t)
	s := ms.client(t, deadURL(t), "us-1").Session()
	if _, err := s.React(context.Background(), "post", "u1", "like"); err != nil {
		t.Fatalf("React: %v", err)
	}
}

// A bad request is not retried and comes back as a typed problem.
func TestBadRequestIsAProblemAndNotRetried(t *testing.T) {
	ms := newMesh(t)
	s := ms.client(t, "eu-1", "us-1").Session()
	_, err := s.React(context.Background(), "post", "u1", "love")
	var p *client.Problem
	if !errors.As(err, &p) || !errors.Is(err, client.ErrInvalidRequest) || p.Status != http.StatusBadRequest {
		t.Fatalf("err = %v, want an invalid-request problem", err)
	}
	if !strings.Contains(p.Detail, "love") {
		t.Errorf("detail %q does not name the kind", p.Detail)
	}
	if n := ms.hits["us-1"].Load(); n != 0 {
		t.Errorf("a bad request was retried at another peer (%d requests)", n)
	}
	bad, err := client.New(client.Config{Peers: []string{ms.urls["eu-1"]}, Token: "wrong"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bad.Session().Get(context.Background(), "post", ""); !errors.Is(err, client.ErrUnauthorized) {
		t.Errorf("wrong token: err = %v, want ErrUnauthorized", err)
	}
}

// A session reads its own writes at another region: its causal token goes
// along.
func TestSessionReadsItsOwnWritesElsewhere(t *testing.T) {
	ms := newMesh(t)
	s := ms.client(t, "eu-1").Session()
	if _, err := s.React(context.Background(), "post", "u1", "like"); err != nil {
		t.Fatal(err)
	}
	if s.Token() == "" {
		t.Fatal("no causal token after an answer")
	}
	other := ms.client(t, "us-1").Session()
	other.SetToken(s.Token())
	it, err := other.Get(context.Background(), "post", "u1")
	if err != nil {
		t.Fatal(err)
	}
	if it.User == nil || it.User.Reaction == nil || *it.User.Reaction != "like" || other.Stale() {
		t.Errorf("read at us-1 with the token: %+v (stale %v), want u1's like", it.User, other.Stale())
	}
}

// Follow delivers the current state, then changes.
func TestFollowDeliversChanges(t *testing.T) {
	ms := newMesh(t)
	s := ms.client(t, "eu-1").Session()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	seen := make(chan int64, 16)
	done := make(chan error, 1)
	go func() {
		done <- s.Follow(ctx, "live", func(it client.Item) error {
			seen <- it.Counters["claps"]
			if it.Counters["claps"] == 2 {
				return errors.New("enough")
			}
			return nil
		})
	}()
	select {
	case got := <-seen:
		if got != 0 {
			t.Fatalf("first event claps %d, want 0", got)
		}
	case err := <-done:
		t.Fatalf("Follow returned %v before its first event", err)
	}
	if _, err := ms.client(t, "us-1").Session().Add(ctx, "live", "claps", 2); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err == nil || err.Error() != "enough" {
		t.Fatalf("Follow returned %v, want the handler's error", err)
	}
}

// Mesh answers the peer's view of the mesh, as JSON.
func TestMesh(t *testing.T) {
	ms := newMesh(t)
	raw, err := ms.client(t, "eu-1").Session().Mesh(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Self    string `json:"self"`
		Regions []struct {
			Name string `json:"name"`
		} `json:"regions"`
	}
	if err := json.Unmarshal(raw, &m); err != nil || m.Self != "eu-1" || len(m.Regions) != 2 {
		t.Errorf("mesh %s (%v), want eu-1's view of 2 regions", raw, err)
	}
	// The answer is the caller's: the buffers later answers are read into
	// (reused from call to call) do not share its bytes.
	kept := bytes.Clone(raw)
	s := ms.client(t, "eu-1").Session()
	for i := range 20 {
		if _, err := s.GetMany(context.Background(), []string{fmt.Sprint("item-", i)}, "u1"); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(raw, kept) {
		t.Fatalf("the mesh's answer changed under later calls:\n%s\nwas\n%s", raw, kept)
	}
}

// Ops applies a batch; a batch holding an unkeyed add, like AddUnkeyed, is
// never retried elsewhere once its outcome is unknown (it could count twice),
// while keyed ones are; one never sent says so.
func TestOpsAndUnkeyedAdds(t *testing.T) {
	ms := newMesh(t)
	ctx := context.Background()
	s := ms.client(t, "eu-1").Session()
	res, err := s.Ops(ctx, []client.Op{
		client.AddOp("post", "views", 2, ""),
		client.ReactOp("post", "u1", "like"),
		client.ReactOp("post", "u2", ""),
	})
	if err != nil || len(res) != 3 || res[0].Value != 2 || *res[1].Reaction != "like" || res[2].Reaction != nil {
		t.Fatalf("Ops = %+v, %v", res, err)
	}
	// eu-1 reads each request whole, then drops the connection unanswered:
	// the outcome is unknown.
	drop := func(w http.ResponseWriter, r *http.Request) bool {
		io.Copy(io.Discard, r.Body)
		panic(http.ErrAbortHandler)
	}
	ms.hook["eu-1"].Store(&drop)
	once := ms.client(t, "eu-1", "us-1").Session()
	var unknown *client.UnknownError
	if _, err := once.AddUnkeyed(ctx, "post", "views", 1); !errors.As(err, &unknown) {
		t.Errorf("AddUnkeyed at a peer that drops the connection: %v, want an UnknownError", err)
	}
	if _, err := once.Ops(ctx, []client.Op{client.AddOp("post", "views", 1, "")}); !errors.As(err, &unknown) {
		t.Errorf("unkeyed Ops at a peer that drops the connection: %v, want an UnknownError", err)
	}
	if n := ms.hits["us-1"].Load(); n != 0 {
		t.Errorf("an unkeyed add was retried at another peer (%d requests)", n)
	}
	if _, err := once.Ops(ctx, []client.Op{client.AddOp("post", "views", 1, client.NewKey())}); err != nil {
		t.Errorf("keyed Ops with a first peer that drops the connection: %v, want a retry at the next", err)
	}
	ms.hook["eu-1"].Store(nil)
	dead := ms.client(t, deadURL(t), "us-1").Session()
	if _, err := dead.AddUnkeyed(ctx, "post", "views", 1); !errors.Is(err, client.ErrNotSent) || errors.As(err, &unknown) {
		t.Errorf("AddUnkeyed at a dead peer: %v, want ErrNotSent", err)
	}
}

// TestItemMatchesTheServersAnswer: the client's own Item (it does not import
// the server and all it brings) reads and writes back every field of the
// server's, byte for byte, with and without a user and a reaction.
func TestItemMatchesTheServersAnswer(t *testing.T) {
	like := "like"
	for _, user := range []*httpapi.UserReaction{nil, {ID: "u1"}, {ID: "u2", Reaction: &like}} {
		server := httpapi.Item{Item: "a", Counters: map[string]int64{"claps": 3}, Reactions: map[string]int64{"like": 1},
			User: user, Token: "tok"}
		want, err := json.Marshal(server)
		if err != nil {
			t.Fatal(err)
		}
		var it client.Item
		if err := json.Unmarshal(want, &it); err != nil {
			t.Fatal(err)
		}
		got, err := json.Marshal(it)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Errorf("the client's Item writes back\n%s\nfrom the server's\n%s", got, want)
		}
	}
}

// TestGetManyReadsIdsOfAnyContent: a page of ids holding commas, spaces,
// colons and characters a query must escape reads exactly those items, in the
// order asked, with and without a user, into fresh and reused items alike.
func TestGetManyReadsIdsOfAnyContent(t *testing.T) {
	ms := newMesh(t)
	ctx := context.Background()
	s := ms.client(t, "eu-1").Session()
	ids := []string{"video:1", "a,b", "c d", "e&f=g+h", "%41", "é/ü?#", "a", "b"}
	for i, id := range ids {
		if _, err := s.AddOnce(ctx, id, "claps", int64(i+1), client.NewKey()); err != nil {
			t.Fatalf("add to %q: %v", id, err)
		}
	}
	var dst []client.Item
	for _, page := range [][]string{ids, {"a", "b"}, {"a,b"}, {"video:1", "c d"}} {
		for _, user := range []string{"", "u:1,2"} {
			list, err := s.GetMany(ctx, page, user)
			if err != nil {
				t.Fatalf("GetMany %q: %v", page, err)
			}
			if dst, err = s.GetManyInto(ctx, page, user, dst); err != nil {
				t.Fatalf("GetManyInto %q: %v", page, err)
			}
			for _, got := range [][]client.Item{list, dst} {
				if len(got) != len(page) {
					t.Fatalf("asked for %q, got %d items", page, len(got))
				}
				for i, it := range got {
					want := int64(slices.Index(ids, page[i]) + 1)
					if it.Item != page[i] || it.Counters["claps"] != want {
						t.Errorf("item %d of %q: %q with %d claps, want %q with %d", i, page, it.Item, it.Counters["claps"], page[i], want)
					}
					if user != "" && (it.User == nil || it.User.ID != user) {
						t.Errorf("item %q: user %+v, want %q", it.Item, it.User, user)
					}
				}
			}
		}
	}
	// A page the peer refuses leaves no earlier page in the answer.
	tooMany := make([]string, 101)
	for i := range tooMany {
		tooMany[i] = fmt.Sprint("item-", i)
	}
	if got, err := s.GetManyInto(ctx, tooMany, "", dst); !errors.Is(err, client.ErrInvalidRequest) || len(got) != 0 {
		t.Errorf("101 ids into an earlier page: %d items, %v; want none and an invalid-request problem", len(got), err)
	}
}
