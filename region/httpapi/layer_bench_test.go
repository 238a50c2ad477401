package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/countermesh/countermesh/persist"
	"github.com/countermesh/countermesh/region/httpapi/httpapitest"
)

// The per-layer benchmarks of the API: the handler of each route alone, over
// the in-memory fake peer (no store, no network, no net/http server), and the
// JSON encoding of its answers alone. Each request is built once and served
// again and again into a reused ResponseWriter, so allocs/op counts only what
// the handler (and the fake under it) allocates, not the request parsing and
// connection handling of net/http. The fake's own share is measured apart by
// BenchmarkLayerFakeBackend, to subtract.
//
// The fake copies its whole state on every write (all or none), so the peer of
// a write benchmark holds only the items it writes: that copy stays small.

// layerToken is the bearer token of the benchmarks' frontend, a write token
// whose rate limit no benchmark reaches: the limiter runs, as in production,
// and never refuses.
const layerToken = "layer-bench-frontend-token"

// The fake peer's data: items, each with two counters and the reactions of
// layerUsers users; layerPage items are read per page.
const (
	layerUsers = 10
	layerPage  = 20
)

// layerKinds are the reaction kinds of the fake peer (newPeer).
var layerKinds = []string{"like", "dislike"}

func layerItem(i int) string { return fmt.Sprintf("video:%05d", i) }
func layerUser(i int) string { return fmt.Sprintf("user:%06d", i) }

// newLayerServer returns a running Server over a new fake peer holding items
// items, with layerToken its one API token; it stops when b ends.
func newLayerServer(b *testing.B, items int) (*Server, *httpapitest.Backend) {
	b.Helper()
	peer := newPeer(1)
	for i := range items {
		ops := []persist.Op{persist.Add(layerItem(i), "claps", int64(i+1)), persist.Add(layerItem(i), "views", 1)}
		for u := range layerUsers {
			ops = append(ops, persist.React(layerItem(i), layerUser(u), layerKinds[u%2]))
		}
		if _, err := peer.Write(context.Background(), ops...); err != nil {
			b.Fatal(err)
		}
	}
	s, err := New(Config{Backend: peer, Logger: quietLogger(), TokenKeys: testTokenKeys,
		APITokens: []APIToken{{Name: "frontend", Token: layerToken, RateLimit: 1e12}}})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	b.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			b.Errorf("Run: %v", err)
		}
	})
	return s, peer
}

// layerRequest is a request built once and served many times: its body is
// rewound before each serving.
type layerRequest struct {
	req  *http.Request
	body *bytes.Reader
	raw  []byte
}

func newLayerRequest(method, target, body string) *layerRequest {
	r := &layerRequest{raw: []byte(body)}
	if body == "" {
		r.req = httptest.NewRequest(method, target, nil)
	} else {
		r.body = bytes.NewReader(r.raw)
		r.req = httptest.NewRequest(method, target, r.body)
		r.req.Header.Set("Content-Type", "application/json")
	}
	r.req.Header.Set("Authorization", "Bearer "+layerToken)
	return r
}

// next returns the request, its body rewound.
func (r *layerRequest) next() *http.Request {
	if r.body != nil {
		r.body.Reset(r.raw)
	}
	return r.req
}

// layerWriter is a ResponseWriter reused from answer to answer: it keeps the
// status and the body of the last one.
type layerWriter struct {
	header http.Header
	status int
	body   []byte
}

func (w *layerWriter) Header() http.Header { return w.header }

func (w *layerWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

func (w *layerWriter) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	w.body = append(w.body, p...)
	return len(p), nil
}

func (w *layerWriter) reset() {
	clear(w.header)
	w.status = 0
	w.body = w.body[:0]
}

// serveLayer serves the request req makes (i counting the servings) b.N
// times, failing unless each is answered 200. The first is served into an
// httptest.ResponseRecorder first and checked as a client would see it.
func serveLayer(b *testing.B, h http.Handler, req func(i int) *http.Request) {
	b.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req(0))
	if rec.Code != http.StatusOK || !json.Valid(rec.Body.Bytes()) {
		b.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	w := &layerWriter{header: http.Header{}}
	b.ReportAllocs()
	i := 1
	for b.Loop() {
		w.reset()
		h.ServeHTTP(w, req(i))
		if w.status != http.StatusOK {
			b.Fatalf("serving %d: status %d: %s", i, w.status, w.body)
		}
		i++
	}
}

// cycle returns a request maker serving reqs in turn.
func cycle(reqs []*layerRequest) func(i int) *http.Request {
	return func(i int) *http.Request { return reqs[i%len(reqs)].next() }
}

// layerPageQuery is the query of a page of layerPage items from the first
// one, with the reactions of a user who reacted to all of them.
func layerPageQuery() string {
	ids := make([]string, layerPage)
	for i := range ids {
		ids[i] = layerItem(i)
	}
	return "ids=" + strings.Join(ids, ",") + "&user=" + layerUser(1)
}

// BenchmarkLayerHandler isolates the HTTP handler of each route (routing,
// authentication, rate limit, validation, the causal token, encoding,
// metrics) over the in-memory fake peer.
func BenchmarkLayerHandler(b *testing.B) {
	b.Run("put-reaction", func(b *testing.B) {
		s, _ := newLayerServer(b, 1)
		// Alternating kinds, so every write changes the register.
		var reqs []*layerRequest
		for _, kind := range layerKinds {
			reqs = append(reqs, newLayerRequest(http.MethodPut, "/v1/items/"+layerItem(0)+"/reactions/"+layerUser(1),
				`{"reaction":"`+kind+`"}`))
		}
		serveLayer(b, s.Handler(), cycle(reqs))
	})
	b.Run("post-counter", func(b *testing.B) {
		s, _ := newLayerServer(b, 1)
		reqs := []*layerRequest{newLayerRequest(http.MethodPost, "/v1/items/"+layerItem(0)+"/counters/claps", `{"by":1}`)}
		serveLayer(b, s.Handler(), cycle(reqs))
	})
	b.Run("get-item", func(b *testing.B) {
		s, _ := newLayerServer(b, layerPage)
		reqs := []*layerRequest{newLayerRequest(http.MethodGet, "/v1/items/"+layerItem(0)+"?user="+layerUser(1), "")}
		serveLayer(b, s.Handler(), cycle(reqs))
	})
	b.Run("get-page-20-user", func(b *testing.B) {
		s, _ := newLayerServer(b, layerPage)
		reqs := []*layerRequest{newLayerRequest(http.MethodGet, "/v1/items?"+layerPageQuery(), "")}
		serveLayer(b, s.Handler(), cycle(reqs))
	})
	b.Run("post-ops-100", func(b *testing.B) {
		s, _ := newLayerServer(b, 10)
		var reqs []*layerRequest
		for _, kind := range layerKinds {
			reqs = append(reqs, newLayerRequest(http.MethodPost, "/v1/ops", layerOpsBody(kind)))
		}
		serveLayer(b, s.Handler(), cycle(reqs))
	})
}

// layerOpsBody is a batch of 100 ops on 10 items: 50 reactions of kind and
// 50 increments.
func layerOpsBody(kind string) string {
	type op struct {
		Op       string `json:"op"`
		Item     string `json:"item"`
		User     string `json:"user,omitempty"`
		Reaction string `json:"reaction,omitempty"`
		Counter  string `json:"counter,omitempty"`
		By       int64  `json:"by,omitempty"`
	}
	ops := make([]op, 0, 100)
	for i := range 50 {
		ops = append(ops, op{Op: kindReact, Item: layerItem(i % 10), User: layerUser(i), Reaction: kind},
			op{Op: kindAdd, Item: layerItem(i % 10), Counter: "claps", By: 1})
	}
	body, err := json.Marshal(map[string][]op{"ops": ops})
	if err != nil {
		panic(err)
	}
	return string(body)
}

// BenchmarkLayerFakeBackend isolates the fake peer under the handler: the
// store calls of each route, to subtract from BenchmarkLayerHandler.
func BenchmarkLayerFakeBackend(b *testing.B) {
	ctx := context.Background()
	item, user := layerItem(0), layerUser(1)
	page := make([]string, layerPage)
	for i := range page {
		page[i] = layerItem(i)
	}
	var batches [2][]persist.Op // the ops of layerOpsBody, of each kind
	for k, kind := range layerKinds {
		for u := range 50 {
			batches[k] = append(batches[k], persist.React(layerItem(u%10), layerUser(u), kind),
				persist.Add(layerItem(u%10), "claps", 1))
		}
	}
	cases := []struct {
		name  string
		items int // held by the fake, as in BenchmarkLayerHandler
		call  func(peer *httpapitest.Backend, i int) error
	}{
		{"write-reaction", 1, func(peer *httpapitest.Backend, i int) error {
			_, err := peer.Write(ctx, persist.React(item, user, layerKinds[i%2]))
			return err
		}},
		{"write-increment", 1, func(peer *httpapitest.Backend, _ int) error {
			_, err := peer.Write(ctx, persist.Add(item, "claps", 1))
			return err
		}},
		{"write-ops-100", 10, func(peer *httpapitest.Backend, i int) error {
			_, err := peer.Write(ctx, batches[i%2]...)
			return err
		}},
		{"read-item", layerPage, func(peer *httpapitest.Backend, _ int) error {
			_, err := peer.ReadItems([]string{item}, user)
			return err
		}},
		{"read-page-20-user", layerPage, func(peer *httpapitest.Backend, _ int) error {
			_, err := peer.ReadItems(page, user)
			return err
		}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			_, peer := newLayerServer(b, c.items)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if err := c.call(peer, i); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

// BenchmarkLayerJSON isolates the encoding of the answers read most: the
// hand-written encoder of the store's views (into a pooled buffer, as
// answerItem and answerList do) and what building the Items (itemOf) and
// encoding them with encoding/json would cost instead.
func BenchmarkLayerJSON(b *testing.B) {
	s, _ := newLayerServer(b, layerPage)
	ids := make([]string, layerPage)
	for i := range ids {
		ids[i] = layerItem(i)
	}
	page, err := s.readItems(causal{}, ids, layerUser(1))
	if err != nil {
		b.Fatal(err)
	}
	item := page
	item.ids, item.views = ids[:1], page.views[:1]
	answers := []struct {
		name   string
		read   *itemsRead
		encode func(r *itemsRead, dst []byte) []byte
		build  func(r *itemsRead) any
	}{
		{"item", &item, func(r *itemsRead, dst []byte) []byte { return r.appendItem(dst, 0) },
			func(r *itemsRead) any { l := listOf(r); return &l.Items[0] }},
		{"list-20", &page, (*itemsRead).appendList, func(r *itemsRead) any { l := listOf(r); return &l }},
	}
	for _, a := range answers {
		b.Run(a.name+"/by-hand", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				bp := answerBuffers.Get().(*[]byte)
				*bp = append(a.encode(a.read, (*bp)[:0]), '\n')
				answerBuffers.Put(bp)
			}
		})
		b.Run(a.name+"/encoding-json", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				var buf bytes.Buffer
				enc := json.NewEncoder(&buf)
				enc.SetEscapeHTML(false)
				if err := enc.Encode(a.build(a.read)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
