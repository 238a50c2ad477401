package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/countermesh/countermesh/crdt"
	"github.com/countermesh/countermesh/persist"
	"github.com/countermesh/countermesh/region"
	"github.com/countermesh/countermesh/region/httpapi/httpapitest"
	"github.com/countermesh/countermesh/tests/testkit"
)

// TestMain fails the package's run if its tests leave goroutines behind.
func TestMain(m *testing.M) {
	// Fault-network sockets are not *net.UDPConn; quic-go would warn on each.
	os.Setenv("QUIC_GO_DISABLE_RECEIVE_BUFFER_WARNING", "true")
	testkit.VerifyNoLeaks(m)
}

// newPeer returns the fake peer of a test: replica r, the kinds like and
// dislike, and the status of a peer eu-1 with a remote peer us-1.
func newPeer(r crdt.ReplicaID) *httpapitest.Backend {
	b := httpapitest.New(httpapitest.Config{Replica: r})
	b.SetStatus(region.MeshStatus{
		Mesh: "test", Self: "eu-1", Region: "eu", Replica: r.String(),
		Regions: []region.RegionStatus{
			{Name: "eu", Peers: []region.PeerStatus{{Name: "eu-1", Self: true, Membership: "alive",
				Linked: false, Replica: r.String(), API: "127.0.0.1:8080"}}},
			{Name: "us", Peers: []region.PeerStatus{{Name: "us-1", Membership: "alive", Linked: true,
				Replica: "00000000000000aa", LagSeqs: 3, LagSeconds: 0.25, API: "127.0.0.2:8080",
				RefusedKeys: 2, RefusingKeys: 1, Refusals: 5}}},
		},
	})
	return b
}

// storeBackend is a Backend over a real store: the store's operations go to
// the store, the rest of the peer is the fake's.
type storeBackend struct {
	*httpapitest.Backend
	store *persist.Store
}

func (b storeBackend) Write(ctx context.Context, ops ...persist.Op) ([]persist.Result, error) {
	return b.store.Write(ctx, ops...)
}

func (b storeBackend) ReadItemsInto(items []string, user string, views []persist.ItemView) error {
	return b.store.ReadItemsInto(items, user, views)
}

func (b storeBackend) LastSeq() uint64                          { return b.store.LastSeq() }
func (b storeBackend) Replica() crdt.ReplicaID                  { return b.store.Replica() }
func (b storeBackend) WallMillis() int64                        { return b.store.Clock().WallMillis() }
func (b storeBackend) LastTimestamp() crdt.Timestamp            { return b.store.Clock().Last() }
func (b storeBackend) ObserveTimestamp(ts crdt.Timestamp) error { return b.store.Clock().Observe(ts) }
func (b storeBackend) Committed() <-chan struct{}               { return b.store.Committed() }
func (b storeBackend) Follow(f func(items []string)) (stop func()) {
	return b.store.Follow(func(c persist.Commit) { f(c.Items) })
}
func (b storeBackend) CheckFreeSpace() error            { return b.store.CheckFreeSpace() }
func (b storeBackend) DiskSize() (lsm, vlog int64)      { return b.store.DiskSize() }
func (b storeBackend) CommitStats() persist.CommitStats { return b.store.CommitStats() }

func (b storeBackend) Applied(r crdt.ReplicaID) uint64 {
	if r == b.store.Replica() {
		return b.store.LastSeq()
	}
	return b.Backend.Applied(r)
}

// env is a Server over a peer, served by an httptest server: the fake peer
// (newEnv), or a real store with the rest of the peer faked (newStoreEnv).
type env struct {
	t     *testing.T
	b     *httpapitest.Backend // the peer; over a store, all of it but the store
	store *persist.Store       // the real store; nil on the fake
	dir   string               // the store's data directory; "" on the fake
	opts  persist.Options      // the store's options
	s     *Server
	srv   *httptest.Server
	token string // sent as the bearer token when not empty
	stop  func() // stops Run, the http server and the store
}

// newEnv starts a Server on the fake peer; tune adjusts its config.
func newEnv(t *testing.T, tune func(*Config)) *env {
	t.Helper()
	e := &env{t: t}
	e.start(tune)
	return e
}

// newStoreEnv starts a Server on a new real store; tune adjusts its config.
func newStoreEnv(t *testing.T, tune func(*Config)) *env {
	t.Helper()
	e := &env{t: t, dir: t.TempDir()}
	e.opts = persist.SmallOptions(e.dir)
	e.opts.Logger = quietLogger()
	e.start(tune)
	return e
}

// start starts a Server: on e's fake peer (a new one the first time), or, with
// e.dir set, on the store it opens in e.dir.
func (e *env) start(tune func(*Config)) {
	e.t.Helper()
	var backend Backend
	closeStore := func() error { return nil }
	if e.dir == "" {
		if e.b == nil {
			e.b = newPeer(1)
		}
		backend = e.b
	} else {
		store, err := persist.Open(e.opts)
		if err != nil {
			e.t.Fatal(err)
		}
		e.store, e.b = store, newPeer(store.Replica())
		backend, closeStore = storeBackend{Backend: e.b, store: store}, store.Close
	}
	cfg := Config{Backend: backend, Logger: quietLogger(), TokenKeys: testTokenKeys}
	if tune != nil {
		tune(&cfg)
	}
	var err error
	e.s, err = New(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.s.Run(ctx) }()
	e.srv = httptest.NewServer(e.s.Handler())
	var once sync.Once
	e.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				e.t.Errorf("Run: %v", err)
			}
			e.srv.Close()
			if err := closeStore(); err != nil {
				e.t.Errorf("close store: %v", err)
			}
		})
	}
	e.t.Cleanup(e.stop)
}

// restart stops the server and the store and starts both again on the same
// data directory; on the fake, it starts a Server again on the same fake.
func (e *env) restart(tune func(*Config)) {
	e.stop()
	e.start(tune)
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// response is an answer read whole.
type response struct {
	code   int
	header http.Header
	body   []byte
}

// do sends a request to the server; headers are name, value pairs.
func (e *env) do(method, path, body string, headers ...string) response {
	e.t.Helper()
	return doAt(e.t, e.srv.URL, e.token, method, path, body, headers...)
}

func doAt(t testing.TB, base, token, method, path, body string, headers ...string) response {
	t.Helper()
	return doWith(t, http.DefaultClient, base, token, method, path, body, headers...)
}

// doWith sends a request to base with client; headers are name, value pairs.
func doWith(t testing.TB, client *http.Client, base, token, method, path, body string, headers ...string) response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{code: resp.StatusCode, header: resp.Header, body: b}
}

// item decodes an Item answer, failing the test unless the status is 200.
func (r response) item(t testing.TB) Item {
	t.Helper()
	if r.code != http.StatusOK {
		t.Fatalf("status %d, want 200: %s", r.code, r.body)
	}
	var it Item
	if err := json.Unmarshal(r.body, &it); err != nil {
		t.Fatalf("decode item %s: %v", r.body, err)
	}
	return it
}

// items decodes an ItemList answer, failing the test unless the status is 200.
func (r response) items(t testing.TB) []Item {
	t.Helper()
	if r.code != http.StatusOK {
		t.Fatalf("status %d, want 200: %s", r.code, r.body)
	}
	var list ItemList
	if err := json.Unmarshal(r.body, &list); err != nil {
		t.Fatalf("decode items %s: %v", r.body, err)
	}
	return list.Items
}

// problem decodes a problem answer, checking its status and media type.
func (r response) problem(t testing.TB, status int) Problem {
	t.Helper()
	if r.code != status {
		t.Fatalf("status %d, want %d: %s", r.code, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type %q, want application/problem+json", ct)
	}
	var p Problem
	dec := json.NewDecoder(strings.NewReader(string(r.body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("decode problem %s: %v", r.body, err)
	}
	if p.Status != status || p.Title == "" || p.Detail == "" || !strings.HasPrefix(p.Type, problemTypePrefix) {
		t.Fatalf("incomplete problem: %+v", p)
	}
	return p
}

// reactionOfUser returns the reaction of an Item's user, "" for none.
func (it Item) reactionOfUser() string {
	if it.User == nil || it.User.Reaction == nil {
		return ""
	}
	return *it.User.Reaction
}

// testTokenKeys are the token keys of the test mesh: every Server of a test
// holds them unless the test says otherwise.
var testTokenKeys = []TokenKey{{ID: "test-1", Secret: []byte("the test mesh's causal token secret")}}

// mint returns the text of tok as a peer of e's mesh mints it.
func (e *env) mint(tok causalToken) string { return e.s.keys.Load().mint(tok) }

// parseToken reads a token e's Server minted, failing the test if it cannot.
func (e *env) parseToken(t testing.TB, s string) causalToken {
	t.Helper()
	tok, err := e.s.keys.Load().parse(s)
	if err != nil {
		t.Fatalf("token %q: %v", s, err)
	}
	return tok
}

var errNotReady = errors.New("not running yet")

// clientProtocol is a protocol a client of HTTPServer speaks: HTTP/2 over
// cleartext with prior knowledge, or HTTP/1.1.
type clientProtocol struct {
	name      string
	protocols *http.Protocols // of the client's http.Transport; nil for HTTP/1.1
	major     int             // the answers' ProtoMajor
}

// clientProtocols returns h2c and HTTP/1.1.
func clientProtocols() []clientProtocol {
	var h2c http.Protocols
	h2c.SetUnencryptedHTTP2(true)
	return []clientProtocol{{"h2c", &h2c, 2}, {"http/1.1", nil, 1}}
}
