package httpapi

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

func withTokens(c *Config) {
	c.Tokens = map[string]string{"secret-a": "frontend-a", "secret-b": "frontend-b"}
}

func TestAuth(t *testing.T) {
	e := newEnv(t, withTokens)
	cases := []struct {
		name, authorization string
		challenge           string // substring of WWW-Authenticate
		detail              string
	}{
		{"missing", "", `Bearer realm="countermesh"`, "missing bearer token"},
		{"wrong token", "Bearer secret-c", `error="invalid_token"`, "unknown bearer token"},
		{"prefix of a token", "Bearer secret", `error="invalid_token"`, "unknown bearer token"},
		{"other scheme", "Basic c2VjcmV0LWE=", `error="invalid_request"`, "malformed Authorization header"},
		{"no token", "Bearer ", `error="invalid_request"`, "malformed Authorization header"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var h []string
			if c.authorization != "" {
				h = []string{"Authorization", c.authorization}
			}
			r := e.do("POST", "/v1/items/a/counters/claps", `{"by":1}`, h...)
			p := r.problem(t, http.StatusUnauthorized)
			if !strings.Contains(r.header.Get("WWW-Authenticate"), c.challenge) {
				t.Errorf("WWW-Authenticate %q, want %q in it", r.header.Get("WWW-Authenticate"), c.challenge)
			}
			if !strings.Contains(p.Detail, c.detail) {
				t.Errorf("detail %q, want %q in it", p.Detail, c.detail)
			}
		})
	}
	if seq := e.b.LastSeq(); seq != 0 {
		t.Fatalf("unauthenticated writes changed the store (seq %d)", seq)
	}
	// Routes every prober needs are open.
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		if r := e.do("GET", path, ""); r.code != http.StatusOK {
			t.Errorf("%s: status %d without a token", path, r.code)
		}
	}
	e.token = "secret-a"
	if it := e.do("POST", "/v1/items/a/counters/claps", `{"by":1}`).item(t); it.Counters["claps"] != 1 {
		t.Fatalf("claps %d, want 1", it.Counters["claps"])
	}
	e.token = "secret-b"
	if got := meshInfo(t, e).APIOpen; got {
		t.Fatal(`/v1/mesh says "api_open": true with tokens configured`)
	}
}

func TestOpenAPISaysSo(t *testing.T) {
	e := newEnv(t, nil)
	if !meshInfo(t, e).APIOpen {
		t.Fatal(`/v1/mesh says "api_open": false without tokens`)
	}
}

func meshInfo(t *testing.T, e *env) MeshInfo {
	t.Helper()
	r := e.do("GET", "/v1/mesh", "")
	if r.code != http.StatusOK {
		t.Fatalf("/v1/mesh: %d %s", r.code, r.body)
	}
	var m MeshInfo
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestRateLimitPerToken(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		withTokens(c)
		c.RateLimit, c.Burst = 0.5, 2
	})
	e.token = "secret-a"
	for i := range 2 {
		if r := e.do("GET", "/v1/items/a", ""); r.code != http.StatusOK {
			t.Fatalf("request %d within the burst: %d", i, r.code)
		}
	}
	r := e.do("GET", "/v1/items/a", "")
	p := r.problem(t, http.StatusTooManyRequests)
	retry, err := strconv.Atoi(r.header.Get("Retry-After"))
	if err != nil || retry < 1 || retry > 2 {
		t.Fatalf("Retry-After %q, want 1 or 2 seconds", r.header.Get("Retry-After"))
	}
	if !strings.Contains(p.Detail, `rate limit of 0.5 operations/s (burst 2) of api token "frontend-a" exceeded: this request costs 1`) {
		t.Fatalf("detail %q", p.Detail)
	}
	// Another token has its own budget.
	e.token = "secret-b"
	if r := e.do("GET", "/v1/items/a", ""); r.code != http.StatusOK {
		t.Fatalf("other token: %d", r.code)
	}
	// Health checks are never limited.
	e.token = "secret-a"
	if r := e.do("GET", "/healthz", ""); r.code != http.StatusOK {
		t.Fatalf("/healthz: %d", r.code)
	}
}

func TestRateLimiterRefills(t *testing.T) {
	l := newRateLimiter()
	now := time.Unix(1000, 0)
	if ok, _ := l.allow("k", 1, 10, 1, now); !ok {
		t.Fatal("first request refused")
	}
	ok, wait := l.allow("k", 1, 10, 1, now)
	if ok || wait != 100*time.Millisecond {
		t.Fatalf("second request: ok %v, wait %s; want refused for 100ms", ok, wait)
	}
	if ok, _ := l.allow("k", 1, 10, 1, now.Add(100*time.Millisecond)); !ok {
		t.Fatal("refused after the refill")
	}
	l.prune(now.Add(100 * time.Millisecond))
	if len(l.buckets) != 1 {
		t.Fatal("pruned a bucket that is not full")
	}
	l.prune(now.Add(time.Second))
	if len(l.buckets) != 0 {
		t.Fatal("kept a full bucket")
	}
}
