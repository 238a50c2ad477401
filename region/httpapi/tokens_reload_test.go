package httpapi

import (
	"net/http"
	"strings"
	"testing"
)

// TestSetAPITokensAppliesAtOnce: tokens removed, rotated, added and rescoped
// by SetAPITokens are in force from the next request on.
func TestSetAPITokensAppliesAtOnce(t *testing.T) {
	e := newEnv(t, withScopes)
	clap := func(token, key string) response {
		return e.do("POST", "/v1/items/a/counters/claps", `{"by":1}`, append(bearer(token), "Idempotency-Key", key)...)
	}
	if r := clap(writeSecret, "k1"); r.code != http.StatusOK {
		t.Fatalf("clap with the first token: %d %s", r.code, r.body)
	}

	// Rotate the frontend's token, drop the browser's, add a reader.
	if err := e.s.SetAPITokens([]APIToken{
		{Name: "frontend", Token: "frontend-secret-2"},
		{Name: "status-page", Token: "status-secret", Scope: ScopeRead},
	}); err != nil {
		t.Fatal(err)
	}
	for _, old := range []string{writeSecret, readSecret} {
		if p := e.do("GET", "/v1/items/a", "", bearer(old)...).problem(t, http.StatusUnauthorized); !strings.Contains(p.Detail, "unknown bearer token") {
			t.Errorf("removed token %s: %q", old, p.Detail)
		}
	}
	// Rotated under the same name, the token keeps its idempotency keys.
	r := clap("frontend-secret-2", "k1")
	if it := r.item(t); r.header.Get("Idempotent-Replayed") != "true" || it.Counters["claps"] != 1 {
		t.Errorf("retry with the rotated token: replayed %q, claps %d; want a replay of 1",
			r.header.Get("Idempotent-Replayed"), it.Counters["claps"])
	}
	if r := e.do("GET", "/v1/items/a", "", bearer("status-secret")...); r.code != http.StatusOK {
		t.Errorf("added read token: %d %s", r.code, r.body)
	}
	clap("status-secret", "k2").problem(t, http.StatusForbidden)

	// A scope narrowed to read and a rate limit lowered apply at once.
	if err := e.s.SetAPITokens([]APIToken{{Name: "frontend", Token: "frontend-secret-2", Scope: ScopeRead,
		RateLimit: 0.001, Burst: 1}}); err != nil {
		t.Fatal(err)
	}
	clap("frontend-secret-2", "k3").problem(t, http.StatusForbidden)
	e.do("GET", "/v1/items/a", "", bearer("frontend-secret-2")...).item(t) // the burst of 1
	e.do("GET", "/v1/items/a", "", bearer("frontend-secret-2")...).problem(t, http.StatusTooManyRequests)

	// Refused: the tokens in force stay.
	for name, tokens := range map[string][]APIToken{
		"no tokens":        nil,
		"unknown scope":    {{Name: "frontend", Token: "x", Scope: "admin"}},
		"empty token":      {{Name: "frontend"}},
		"same token twice": {{Name: "frontend", Token: "x"}, {Name: "other", Token: "x"}},
	} {
		if err := e.s.SetAPITokens(tokens); err == nil {
			t.Errorf("%s: SetAPITokens accepted it", name)
		}
	}
	if e.s.auth.Load().open() {
		t.Fatal("the API is open after refused token sets")
	}
	e.do("GET", "/v1/items/a", "", bearer("status-secret")...).problem(t, http.StatusUnauthorized)
}
