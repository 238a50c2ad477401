package node_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/countermesh/countermesh/region/httpapi"
	"github.com/countermesh/countermesh/region/node"
	"github.com/countermesh/countermesh/region/regiontest"
	"github.com/countermesh/countermesh/tests/testkit"
	"github.com/countermesh/countermesh/topology"
)

// TestMain fails the package if a goroutine outlives the tests, their cleanups
// included.
func TestMain(m *testing.M) {
	testkit.VerifyNoLeaks(m)
}

// config returns the configuration of a one-peer mesh's peer with an open API
// on a loopback port.
func config(t *testing.T) node.Config {
	t.Helper()
	t.Setenv("QUIC_GO_DISABLE_RECEIVE_BUFFER_WARNING", "1")
	mesh := regiontest.NewMesh(t, nil, 0)
	mesh.AddRegion("eu", 1)
	mesh.WriteTopology()
	return node.Config{
		Peer: mesh.Config("eu-1"),
		API:  func(*topology.Topology, *topology.Material) (httpapi.Config, error) { return httpapi.Config{}, nil },
		Addr: "127.0.0.1:0",
	}
}

func get(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func TestServeThenCloseTwice(t *testing.T) {
	n, err := node.New(config(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	if code := get(t, n.URL()+"/healthz"); code != http.StatusOK {
		t.Fatalf("healthz = %d, want 200", code)
	}
	req, _ := http.NewRequest(http.MethodPost, n.URL()+"/v1/items/a/counters/claps", strings.NewReader(`{"by":2}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("add = %d, want 2xx", resp.StatusCode)
	}
	if v, err := n.Peer().Store().ReadItem("a", ""); err != nil || v.Counters["claps"] != 2 {
		t.Fatalf("claps = %v, %v; want 2", v.Counters, err)
	}
	addr := n.Addr()
	if err := n.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if err := n.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	select {
	case <-n.Done():
	default:
		t.Error("Done not closed after Close")
	}
	if err := n.Start(); !errors.Is(err, node.ErrStarted) {
		t.Errorf("Start after Close = %v, want ErrStarted", err)
	}
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Errorf("API still listening on %s after Close", addr)
	}
}

func TestCloseBeforeStartReleasesTheStore(t *testing.T) {
	cfg := config(t)
	for range 2 {
		n, err := node.New(cfg)
		if err != nil {
			t.Fatal(err) // the store of the first round still open
		}
		if err := n.Close(); err != nil {
			t.Fatal(err)
		}
		if err := n.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestKillThenClose(t *testing.T) {
	cfg := config(t)
	var seen atomic.Int64
	cfg.WrapHandler = func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			seen.Add(1)
			h.ServeHTTP(w, r)
		})
	}
	n, err := node.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	if code := get(t, n.URL()+"/healthz"); code != http.StatusOK || seen.Load() != 1 {
		t.Fatalf("healthz = %d with %d requests through the wrapper, want 200 with 1", code, seen.Load())
	}
	if err := n.Kill(); err != nil {
		t.Fatalf("kill: %v", err)
	}
	if err := n.Close(); err != nil {
		t.Fatalf("close after kill: %v", err)
	}
}

func TestRunStopsWithItsContext(t *testing.T) {
	cfg := config(t)
	cfg.API = nil
	n, err := node.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if n.URL() != "" || n.API() != nil {
		t.Errorf("a node without API has URL %q, API %v", n.URL(), n.API())
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	if err := n.Close(); err != nil {
		t.Fatalf("close after run: %v", err)
	}
}

func TestNewClosesTheListenerOnError(t *testing.T) {
	cfg := config(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Listener = ln
	refused := errors.New("no api today")
	cfg.API = func(*topology.Topology, *topology.Material) (httpapi.Config, error) { return httpapi.Config{}, refused }
	if _, err := node.New(cfg); !errors.Is(err, refused) {
		t.Fatalf("New = %v, want %v", err, refused)
	}
	if c, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		c.Close()
		t.Error("listener still open after New failed")
	}
	// The store was released: the peer opens again.
	cfg.API, cfg.Listener = nil, nil
	n, err := node.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	n.Close()
}
