package httpapi

import (
	"bufio"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/countermesh/countermesh/tests/testkit"
)

const (
	writeSecret = "frontend-secret"
	readSecret  = "browser-secret"
	appOrigin   = "https://app.example.com"
)

// withScopes configures a write token for the frontend, a read token for
// browsers, and one CORS origin.
func withScopes(c *Config) {
	c.APITokens = []APIToken{
		{Name: "frontend", Token: writeSecret},
		{Name: "browser", Token: readSecret, Scope: ScopeRead},
	}
	c.CORSOrigins = []string{appOrigin}
}

func bearer(token string) []string { return []string{"Authorization", "Bearer " + token} }

// writeRoutes are every write of the API, each a request that would change the
// store.
var writeRoutes = []struct{ method, path, body string }{
	{"PUT", "/v1/items/a/reactions/u1", `{"reaction":"like"}`},
	{"DELETE", "/v1/items/a/reactions/u1", ""},
	{"POST", "/v1/items/a/counters/claps", `{"by":1}`},
	{"POST", "/v1/ops", `{"ops":[{"op":"add","item":"a","counter":"claps","by":1}]}`},
}

func TestReadTokenCannotWrite(t *testing.T) {
	e := newEnv(t, withScopes)
	for _, w := range writeRoutes {
		t.Run(w.method+" "+w.path, func(t *testing.T) {
			r := e.do(w.method, w.path, w.body, bearer(readSecret)...)
			p := r.problem(t, http.StatusForbidden)
			if p.Type != problemTypePrefix+"forbidden" || !strings.Contains(p.Detail, `scope "read"`) {
				t.Errorf("problem %+v, want type forbidden naming the scope", p)
			}
			if r.header.Get("Access-Control-Allow-Origin") != "" {
				t.Error("a write route answered with CORS headers")
			}
		})
	}
	if seq := e.b.LastSeq(); seq != 0 {
		t.Fatalf("a read token's writes changed the store (seq %d)", seq)
	}
	// The read token reads; the write token does everything.
	for _, path := range []string{"/v1/items/a?user=u1", "/v1/items?ids=a,b", "/v1/mesh"} {
		if r := e.do("GET", path, "", bearer(readSecret)...); r.code != http.StatusOK {
			t.Errorf("GET %s with the read token: %d %s", path, r.code, r.body)
		}
	}
	if it := firstEvent(t, e.srv.URL+"/v1/items/a/events", bearer(readSecret)...); it.Item != "a" {
		t.Errorf("live stream with the read token: first event of %q", it.Item)
	}
	for _, w := range writeRoutes {
		if r := e.do(w.method, w.path, w.body, bearer(writeSecret)...); r.code != http.StatusOK {
			t.Errorf("%s %s with the write token: %d %s", w.method, w.path, r.code, r.body)
		}
	}
}

func TestCORSForListedOriginsOnReadRoutesOnly(t *testing.T) {
	e := newEnv(t, withScopes)
	allowed := func(r response) string { return r.header.Get("Access-Control-Allow-Origin") }

	r := e.do("GET", "/v1/items/a", "", append(bearer(readSecret), "Origin", appOrigin)...)
	if r.code != http.StatusOK || allowed(r) != appOrigin {
		t.Fatalf("read from a listed origin: %d, Access-Control-Allow-Origin %q", r.code, allowed(r))
	}
	if !strings.Contains(r.header.Get("Access-Control-Expose-Headers"), "X-Causal-Token") {
		t.Errorf("Access-Control-Expose-Headers %q does not expose the causal token",
			r.header.Get("Access-Control-Expose-Headers"))
	}
	if !strings.Contains(strings.Join(r.header.Values("Vary"), ","), "Origin") {
		t.Errorf("Vary %q, want Origin", r.header.Values("Vary"))
	}
	// A browser on the listed origin reads errors too.
	if r := e.do("GET", "/v1/items/a", "", "Origin", appOrigin); r.code != http.StatusUnauthorized || allowed(r) != appOrigin {
		t.Errorf("401 to a listed origin: %d, Access-Control-Allow-Origin %q", r.code, allowed(r))
	}
	for _, origin := range []string{"https://evil.example.com", "http://app.example.com", appOrigin + ".evil.example", "null"} {
		if r := e.do("GET", "/v1/items/a", "", append(bearer(readSecret), "Origin", origin)...); allowed(r) != "" {
			t.Errorf("read from unlisted origin %s: Access-Control-Allow-Origin %q", origin, allowed(r))
		}
	}
	for _, w := range writeRoutes {
		if r := e.do(w.method, w.path, w.body, append(bearer(writeSecret), "Origin", appOrigin)...); allowed(r) != "" {
			t.Errorf("%s %s from a listed origin: Access-Control-Allow-Origin %q", w.method, w.path, allowed(r))
		}
	}

	// Preflights, as a browser sends them before EventSource or fetch with
	// an Authorization header: no token, the method and headers asked for.
	preflight := func(path, origin, method string) response {
		return e.do("OPTIONS", path, "", "Origin", origin, "Access-Control-Request-Method", method,
			"Access-Control-Request-Headers", "authorization,x-causal-token")
	}
	for _, path := range []string{"/v1/items/a/events", "/v1/items/a", "/v1/items", "/v1/mesh"} {
		r := preflight(path, appOrigin, "GET")
		if r.code != http.StatusNoContent || allowed(r) != appOrigin ||
			!strings.Contains(r.header.Get("Access-Control-Allow-Headers"), "Authorization") {
			t.Errorf("preflight of %s from a listed origin: %d, headers %v", path, r.code, r.header)
		}
	}
	r = preflight("/v1/items/a/events", "https://evil.example.com", "GET")
	if p := r.problem(t, http.StatusForbidden); !strings.Contains(p.Detail, "cors_origins") || allowed(r) != "" {
		t.Errorf("preflight from an unlisted origin: %+v, Access-Control-Allow-Origin %q", p, allowed(r))
	}
	r = preflight("/v1/items/a", appOrigin, "PUT")
	if r.problem(t, http.StatusForbidden); strings.Contains(r.header.Get("Access-Control-Allow-Methods"), "PUT") {
		t.Errorf("preflight of a PUT allowed it: %v", r.header)
	}
	for _, path := range []string{"/v1/ops", "/v1/items/a/reactions/u1", "/v1/items/a/counters/claps"} {
		if r := preflight(path, appOrigin, "POST"); r.code/100 == 2 || allowed(r) != "" {
			t.Errorf("preflight of write route %s: %d, Access-Control-Allow-Origin %q", path, r.code, allowed(r))
		}
	}
}

// TestEventSourceOnAnotherOrigin opens a live stream as a browser's
// EventSource does: no Authorization header, the read token in the URL.
func TestEventSourceOnAnotherOrigin(t *testing.T) {
	e := newEnv(t, withScopes)
	url := e.srv.URL + "/v1/items/a/events?access_token=" + readSecret
	if it := firstEvent(t, url, "Origin", appOrigin); it.Item != "a" {
		t.Fatalf("first event of %q", it.Item)
	}
	cases := []struct {
		name, path string
		headers    []string
		status     int
	}{
		{"write token in the URL", "/v1/items/a/events?access_token=" + writeSecret, nil, http.StatusForbidden},
		{"unknown token in the URL", "/v1/items/a/events?access_token=guess", nil, http.StatusUnauthorized},
		{"empty token in the URL", "/v1/items/a/events?access_token=", nil, http.StatusUnauthorized},
		{"token twice", "/v1/items/a/events?access_token=" + readSecret, bearer(readSecret), http.StatusUnauthorized},
		{"token in the URL of a read", "/v1/items/a?access_token=" + readSecret, nil, http.StatusUnauthorized},
		{"token in the URL of a write", "/v1/items/a/counters/claps?access_token=" + writeSecret, nil, http.StatusUnauthorized},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			method, body := "GET", ""
			if strings.Contains(c.path, "counters") {
				method, body = "POST", `{"by":1}`
			}
			p := e.do(method, c.path, body, c.headers...).problem(t, c.status)
			if !strings.Contains(p.Detail, "access_token") && !strings.Contains(p.Detail, "unknown bearer token") {
				t.Errorf("detail %q does not say what is wrong", p.Detail)
			}
		})
	}
	if seq := e.b.LastSeq(); seq != 0 {
		t.Fatalf("a token in a URL changed the store (seq %d)", seq)
	}
}

// firstEvent opens a live stream at url and returns its first item event.
func firstEvent(t *testing.T, url string, headers ...string) Item {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/event-stream")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("live stream: %s", resp.Status)
	}
	if origin := req.Header.Get("Origin"); origin != "" && resp.Header.Get("Access-Control-Allow-Origin") != origin {
		t.Fatalf("live stream from %s: Access-Control-Allow-Origin %q", origin, resp.Header.Get("Access-Control-Allow-Origin"))
	}
	sc := bufio.NewScanner(resp.Body)
	var block []string
	for sc.Scan() && sc.Text() != "" {
		block = append(block, sc.Text())
	}
	data, ok := strings.CutPrefix(strings.Join(block, "\n"), "event: item\ndata: ")
	if !ok {
		t.Fatalf("first block %q is no item event (%v)", block, sc.Err())
	}
	return response{code: http.StatusOK, body: []byte(data)}.item(t)
}

// batch returns the body of POST /v1/ops with n increments of item's claps.
func batch(item string, n int) string {
	ops := make([]string, n)
	for i := range ops {
		ops[i] = fmt.Sprintf(`{"op":"add","item":%q,"counter":"claps","by":1,"idempotency_key":"k%d"}`, item, i)
	}
	return `{"ops":[` + strings.Join(ops, ",") + `]}`
}

// TestBatchCostsAnOperationPerOp: a request of 1,000 ops spends 1,000 of the
// token's rate limit, and one refused changes nothing.
func TestBatchCostsAnOperationPerOp(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.APITokens = []APIToken{{Name: "frontend", Token: writeSecret, RateLimit: 0.001, Burst: 1500}}
	})
	e.token = writeSecret
	if r := e.do("POST", "/v1/ops", batch("a", 1000)); r.code != http.StatusOK {
		t.Fatalf("first batch of 1,000 within a burst of 1,500: %d %s", r.code, r.body)
	}
	r := e.do("POST", "/v1/ops", batch("b", 1000))
	p := r.problem(t, http.StatusTooManyRequests)
	if !strings.Contains(p.Detail, "this request costs 1000") {
		t.Errorf("detail %q does not say what the request costs", p.Detail)
	}
	if retry, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || retry < 499_000 || retry > 500_000 {
		t.Errorf("Retry-After %q, want 500,000 s (500 ops short at 0.001 op/s)", r.header.Get("Retry-After"))
	}
	if it := e.do("GET", "/v1/items/b", "").item(t); len(it.Counters) != 0 {
		t.Fatalf("the refused batch changed item b: %v", it.Counters)
	}
	// What is left is 1,500 - 1,000 - 1 (the refused batch) - 1 (the read).
	if r := e.do("POST", "/v1/ops", batch("c", 498)); r.code != http.StatusOK {
		t.Fatalf("batch of the 498 ops left: %d %s", r.code, r.body)
	}
	e.do("GET", "/v1/items/c", "").problem(t, http.StatusTooManyRequests)
}

// TestReadTokenLimitIsPerClientAddress: browsers sharing a read token each get
// its budget; a write token's budget is the frontend's, wherever it calls from.
func TestReadTokenLimitIsPerClientAddress(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.APITokens = []APIToken{
			{Name: "frontend", Token: writeSecret, RateLimit: 0.001, Burst: 2},
			{Name: "browser", Token: readSecret, Scope: ScopeRead, RateLimit: 0.001, Burst: 2},
		}
	})
	get := func(token, addr string) int {
		req := httptest.NewRequest("GET", "/v1/items/a", nil)
		req.RemoteAddr = addr
		req.Header.Set("Authorization", "Bearer "+token)
		w := httptest.NewRecorder()
		e.s.Handler().ServeHTTP(w, req)
		return w.Code
	}
	for i, want := range []int{200, 200, 429} {
		if code := get(readSecret, "192.0.2.1:5000"); code != want {
			t.Fatalf("read %d from the first browser: %d, want %d", i, code, want)
		}
	}
	if code := get(readSecret, "192.0.2.2:5000"); code != http.StatusOK {
		t.Fatalf("a second browser with the same read token: %d, want 200", code)
	}
	get(writeSecret, "192.0.2.1:5000")
	get(writeSecret, "192.0.2.2:5000")
	if code := get(writeSecret, "192.0.2.3:5000"); code != http.StatusTooManyRequests {
		t.Fatalf("third request of the write token from a third address: %d, want 429", code)
	}
}

func TestRequestCostlierThanTheBurstWaitsForAFullBucket(t *testing.T) {
	l := newRateLimiter()
	now := time.Unix(1000, 0)
	if ok, _ := l.allow("k", 1, 10, 100, now); !ok {
		t.Fatal("first request refused")
	}
	ok, wait := l.allow("k", 1000, 10, 100, now)
	if ok || wait != 100*time.Millisecond {
		t.Fatalf("request of 1,000 with a burst of 100: ok %v, wait %s; want refused until the bucket is full", ok, wait)
	}
	if ok, _ := l.allow("k", 1000, 10, 100, now.Add(wait)); !ok {
		t.Fatal("request of 1,000 refused with a full bucket")
	}
	if ok, _ := l.allow("k", 1, 10, 100, now.Add(wait)); ok {
		t.Fatal("the request of 1,000 left operations in the bucket")
	}
}

// TestOneAddressCannotTakeEveryLiveStream: a holder of the read token, which
// every browser shares, opens live streams until its address's allowance is
// spent and is refused 429, while the frontend's write token still streams;
// a closed stream gives its place back.
func TestOneAddressCannotTakeEveryLiveStream(t *testing.T) {
	e := newEnv(t, func(c *Config) { withScopes(c); c.MaxStreamsPerAddress = 2 })
	open := func(token string, header bool) *http.Response {
		url := e.srv.URL + "/v1/items/a/events"
		if !header {
			url += "?access_token=" + token
		}
		req, _ := http.NewRequest("GET", url, nil)
		if header {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	first, second := open(readSecret, false), open(readSecret, false)
	if first.StatusCode != http.StatusOK || second.StatusCode != http.StatusOK {
		t.Fatalf("the first two streams: %d, %d", first.StatusCode, second.StatusCode)
	}
	third := open(readSecret, false)
	if third.StatusCode != http.StatusTooManyRequests || third.Header.Get("Retry-After") == "" {
		t.Fatalf("a third stream from one address: %d, Retry-After %q", third.StatusCode, third.Header.Get("Retry-After"))
	}
	if frontend := open(writeSecret, true); frontend.StatusCode != http.StatusOK {
		t.Fatalf("the frontend's stream beside them: %d", frontend.StatusCode)
	}
	first.Body.Close()
	testkit.WaitFor(t, 10*time.Second, "a closed stream to give its place back", func() bool {
		resp := open(readSecret, false)
		defer resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}
