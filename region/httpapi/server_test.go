package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/countermesh/countermesh/region"
)

func TestMeshShape(t *testing.T) {
	e := newEnv(t, nil)
	r := e.do("GET", "/v1/mesh", "")
	if r.code != http.StatusOK || r.header.Get("Content-Type") != "application/json" {
		t.Fatalf("%d %q", r.code, r.header.Get("Content-Type"))
	}
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"mesh", "self", "region", "replica", "last_seq", "regions", "api_open", "reaction_kinds"} {
		if _, ok := m[k]; !ok {
			t.Errorf("/v1/mesh lacks %q: %s", k, r.body)
		}
	}
	regions, _ := m["regions"].([]any)
	if len(regions) != 2 {
		t.Fatalf("regions: %v", m["regions"])
	}
	peer := regions[1].(map[string]any)["peers"].([]any)[0].(map[string]any)
	for _, k := range []string{"name", "membership", "linked", "lag_seqs", "lag_seconds", "api"} {
		if _, ok := peer[k]; !ok {
			t.Errorf("peer lacks %q: %v", k, peer)
		}
	}
}

func TestHealthAndReadiness(t *testing.T) {
	e := newEnv(t, nil)
	if r := e.do("GET", "/healthz", ""); r.code != http.StatusOK {
		t.Fatalf("/healthz: %d", r.code)
	}
	if r := e.do("GET", "/readyz", ""); r.code != http.StatusOK {
		t.Fatalf("/readyz: %d %s", r.code, r.body)
	}
	e.b.SetReady(errNotReady)
	p := e.do("GET", "/readyz", "").problem(t, http.StatusServiceUnavailable)
	if p.Detail != "not ready: not running yet" {
		t.Fatalf("detail %q", p.Detail)
	}
	if r := e.do("GET", "/healthz", ""); r.code != http.StatusOK {
		t.Fatalf("/healthz while not ready: %d", r.code)
	}
	// A peer that is not ready (say, cut off from the mesh) still takes writes.
	e.do("POST", "/v1/items/a/counters/claps", `{"by":1}`).item(t)
}

// TestSkewedPeerRefusesWritesAndServesReads: a peer whose clock is beyond the
// max drift from most of the mesh takes no writes (DESIGN §2) — every kind of
// write answers 503 and changes nothing — and keeps answering reads.
func TestSkewedPeerRefusesWritesAndServesReads(t *testing.T) {
	e := newEnv(t, nil)
	e.do("POST", "/v1/items/a/counters/claps", `{"by":2}`).item(t)
	e.b.SetWritable(fmt.Errorf("%w: 2 of 2 peers' clocks are more than 1m0s from ours", region.ErrClockSkew))
	for _, w := range []struct{ method, path, body string }{
		{"POST", "/v1/items/a/counters/claps", `{"by":1}`},
		{"PUT", "/v1/items/a/reactions/u1", `{"reaction":"like"}`},
		{"DELETE", "/v1/items/a/reactions/u1", ""},
		{"POST", "/v1/ops", `{"ops":[{"op":"add","item":"a","counter":"claps","by":1}]}`},
	} {
		r := e.do(w.method, w.path, w.body)
		p := r.problem(t, http.StatusServiceUnavailable)
		if !strings.Contains(p.Detail, "clock") || r.header.Get("Retry-After") != "30" {
			t.Errorf("%s %s: %q, Retry-After %q", w.method, w.path, p.Detail, r.header.Get("Retry-After"))
		}
	}
	it := e.do("GET", "/v1/items/a", "").item(t)
	if it.Counters["claps"] != 2 || it.Reactions["like"] != 0 {
		t.Errorf("after refused writes: %+v", it)
	}
	e.b.SetWritable(nil) // the clock is fixed
	e.do("POST", "/v1/items/a/counters/claps", `{"by":1}`).item(t)
}

func TestMetricsExposition(t *testing.T) {
	e := newEnv(t, nil)
	e.do("POST", "/v1/items/a/counters/claps", `{"by":1}`).item(t)
	e.do("PUT", "/v1/items/a/reactions/u1", `{"reaction":"like"}`).item(t)
	e.do("GET", "/v1/items/a", "").item(t)
	e.do("GET", "/nowhere", "")
	body := string(e.do("GET", "/metrics", "").body)
	for _, want := range []string{
		`countermesh_api_requests_total{code="200",route="POST /v1/items/{item}/counters/{name}"} 1`,
		`countermesh_api_requests_total{code="404",route="unmatched"} 1`,
		`countermesh_api_request_duration_seconds_bucket{route="GET /v1/items/{item}",le=`,
		`countermesh_api_writes_total{kind="add",outcome="ok"} 1`,
		`countermesh_api_writes_total{kind="react",outcome="ok"} 1`,
		`countermesh_replication_lag_seqs{peer="us-1",region="us"} 3`,
		`countermesh_replication_lag_seconds{peer="us-1",region="us"} 0.25`,
		`countermesh_peer_linked{peer="us-1",region="us"} 1`,
		`countermesh_sync_refused_keys{peer="us-1",region="us"} 2`,
		`countermesh_sync_refusing_keys{peer="us-1",region="us"} 1`,
		`countermesh_sync_key_refusals_total{peer="us-1",region="us"} 5`,
		"countermesh_api_live_subscribers 0",
		"countermesh_api_causal_waits_total 0",
		"countermesh_api_causal_stale_total 0",
		"countermesh_api_causal_wait_seconds_count 0",
		"countermesh_api_rate_limited_total 0",
		"countermesh_store_bytes ",
		"go_goroutines",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if strings.Contains(body, `peer="eu-1"`) {
		t.Error("lag reported for the peer itself")
	}
}

// TestH2C serves HTTPServer and talks HTTP/2 over cleartext to it, and
// HTTP/1.1 too.
func TestH2C(t *testing.T) {
	e := newEnv(t, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := e.s.HTTPServer(ln.Addr().String())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Shutdown(context.Background())
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	for _, c := range clientProtocols() {
		t.Run(c.name, func(t *testing.T) {
			client := &http.Client{Transport: &http.Transport{Protocols: c.protocols}}
			req, _ := http.NewRequest("POST", "http://"+ln.Addr().String()+"/v1/items/a/counters/claps",
				strings.NewReader(`{"by":2}`))
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.ProtoMajor != c.major || resp.StatusCode != http.StatusOK {
				t.Fatalf("%s %d: %s", resp.Proto, resp.StatusCode, body)
			}
			client.CloseIdleConnections()
		})
	}
	if got := e.do("GET", "/v1/items/a", "").item(t).Counters["claps"]; got != 4 {
		t.Fatalf("claps %d, want 4", got)
	}
}
