package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestServeReloadsAPITokens: a topology reload that rotates a token (its file
// rewritten), removes one, and lists a CORS origin is in force at once, in a
// real serve process: the old token is refused, the new one accepted.
func TestServeReloadsAPITokens(t *testing.T) {
	topo, apis := twoPeerTopology(t)
	certs := filepath.Join(filepath.Dir(topo), "certs")
	writeToken := func(name, token string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(certs, name+".token"), []byte(token+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writeToken("frontend", "frontend-secret-1")
	writeToken("browser", "browser-secret-1")
	editFile(t, topo, "  token_secrets:", "  api_tokens:\n"+
		"    - {name: frontend, file: certs/frontend.token}\n"+
		"    - {name: browser, file: certs/browser.token, scope: read, rate_limit: {ops_per_second: 20}}\n"+
		"  token_secrets:")
	eu := startServe(t, topo, "eu-1")
	eu.waitLog(t, "serving")
	do := func(method, path, token string, headers ...string) *http.Response {
		t.Helper()
		var body *strings.Reader
		if method == "POST" {
			body = strings.NewReader(`{"by":1}`)
		} else {
			body = strings.NewReader("")
		}
		req, err := http.NewRequest(method, "http://"+apis["eu-1"]+path, body)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+token)
		for i := 0; i+1 < len(headers); i += 2 {
			req.Header.Set(headers[i], headers[i+1])
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	const clap = "/v1/items/post/counters/claps"
	for _, c := range []struct {
		method, token string
		want          int
	}{
		{"POST", "frontend-secret-1", http.StatusOK},
		{"POST", "browser-secret-1", http.StatusForbidden},
	} {
		if res := do(c.method, clap, c.token); res.StatusCode != c.want {
			t.Fatalf("%s %s with %s before the reload: %s, want %d", c.method, clap, c.token, res.Status, c.want)
		}
	}

	writeToken("frontend", "frontend-secret-2")
	editFile(t, topo, "    - {name: browser, file: certs/browser.token, scope: read, rate_limit: {ops_per_second: 20}}\n",
		"  cors_origins: [https://app.example.com]\n")
	if err := eu.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	eu.waitLog(t, "api tokens in force")
	for _, c := range []struct {
		token string
		want  int
	}{
		{"frontend-secret-1", http.StatusUnauthorized}, // rotated away
		{"browser-secret-1", http.StatusUnauthorized},  // removed
		{"frontend-secret-2", http.StatusOK},           // the rotated token
	} {
		if res := do("POST", clap, c.token); res.StatusCode != c.want {
			t.Errorf("clap with %s after the reload: %s, want %d", c.token, res.Status, c.want)
		}
	}
	res := do("GET", "/v1/items/post", "frontend-secret-2", "Origin", "https://app.example.com")
	if got := res.Header.Get("Access-Control-Allow-Origin"); res.StatusCode != http.StatusOK || got != "https://app.example.com" {
		t.Errorf("read from the origin listed by the reload: %s, Access-Control-Allow-Origin %q", res.Status, got)
	}
}
