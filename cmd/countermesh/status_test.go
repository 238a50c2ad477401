package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeMesh is a /v1/mesh answer as a peer of a three-region mesh gives it.
const fakeMesh = `{
  "mesh": "demo", "self": "eu-west-1", "region": "eu-west",
  "replica": "00000000deadbeef", "last_seq": 1234,
  "regions": [
    {"name": "eu-west", "peers": [
      {"name": "eu-west-1", "self": true, "membership": "alive", "linked": false,
       "replica": "00000000deadbeef", "acked": 0, "lag_seqs": 0, "lag_seconds": 0,
       "bytes_sent": 0, "bytes_received": 0, "api": "127.0.0.1:7301"}]},
    {"name": "us-east", "peers": [
      {"name": "us-east-1", "membership": "alive", "linked": true, "replica": "0000000000c0ffee",
       "acked": 1230, "lag_seqs": 4, "lag_seconds": 0.25, "bytes_sent": 1572864,
       "bytes_received": 800, "api": "127.0.0.1:7302"}]},
    {"name": "ap-south", "peers": [
      {"name": "ap-south-1", "membership": "dead", "linked": false, "acked": 100,
       "lag_seqs": 1134, "lag_seconds": 41.66, "bytes_sent": 3221225472, "bytes_received": 0,
       "clock_skew": "+75s ahead", "api": "127.0.0.1:7303"}]}
  ]
}`

// fakePeer serves fakeMesh at /v1/mesh to requests bearing token (any request
// when token is empty), and problem+json otherwise.
func fakePeer(t *testing.T, token string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path != "/v1/mesh" || r.Method != http.MethodGet:
			http.NotFound(w, r)
		case token != "" && r.Header.Get("Authorization") != "Bearer "+token:
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"type":"about:blank","title":"Unauthorized","status":401,"detail":"missing or unknown bearer token"}`))
		default:
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(fakeMesh))
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestStatusTable(t *testing.T) {
	srv := fakePeer(t, "")
	host := strings.TrimPrefix(srv.URL, "http://")
	for _, peer := range []string{srv.URL, srv.URL + "/", host} {
		code, stdout, stderr := runCmd(t, "status", "--peer", peer)
		if code != 0 {
			t.Fatalf("status --peer %s: exit %d, stderr %q", peer, code, stderr)
		}
		lines := strings.Split(strings.TrimSpace(stdout), "\n")
		want := []string{
			"mesh demo, self eu-west-1 (region eu-west), replica 00000000deadbeef, last sequence 1234",
			"REGION    PEER         MEMBERSHIP  LINK  LAG(seqs)  LAG(s)  SENT     RECEIVED",
			"eu-west   eu-west-1 *  alive       self  -          -       -        -",
			"us-east   us-east-1    alive       up    4          0.2     1.5 MiB  800 B",
			"ap-south  ap-south-1   dead        down  1134       41.7    3.0 GiB  0 B",
			"* the peer asked",
			"clock skew: ap-south-1: +75s ahead",
		}
		if len(lines) != len(want) {
			t.Fatalf("output:\n%s\nwant %d lines", stdout, len(want))
		}
		for i := range want {
			if strings.TrimRight(lines[i], " ") != want[i] {
				t.Errorf("line %d = %q\n          want %q", i, lines[i], want[i])
			}
		}
	}
}

func TestStatusJSONAndToken(t *testing.T) {
	srv := fakePeer(t, "s3cret")
	code, stdout, stderr := runCmd(t, "status", "--peer", srv.URL, "--token", "s3cret", "--json")
	if code != 0 || strings.TrimSpace(stdout) != strings.TrimSpace(fakeMesh) {
		t.Errorf("status --json: exit %d, stdout %q, stderr %q; want the answer as it is", code, stdout, stderr)
	}
	t.Setenv(tokenEnv, "s3cret")
	if code, _, stderr := runCmd(t, "status", "--peer", srv.URL); code != 0 {
		t.Errorf("status with $%s: exit %d, stderr %q", tokenEnv, code, stderr)
	}
}

func TestStatusFailures(t *testing.T) {
	tokenFile := filepath.Join(t.TempDir(), "frontend.token")
	if err := os.WriteFile(tokenFile, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	secured := fakePeer(t, "s3cret")
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/bad/v1/mesh" {
			w.Write([]byte(`{"mesh": 3`))
			return
		}
		http.Error(w, "upstream\nexploded", http.StatusInternalServerError)
	}))
	defer broken.Close()
	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no peer", []string{"status"}, 2, "--peer is required"},
		{"extra argument", []string{"status", "--peer", secured.URL, "x"}, 2, `unexpected argument "x"`},
		{"bad scheme", []string{"status", "--peer", "ftp://host:1"}, 2, "want an http or https URL"},
		{"bad timeout", []string{"status", "--peer", secured.URL, "--timeout", "0s"}, 2, "must be positive"},
		{"help", []string{"status", "-h"}, 0, "GET URL/v1/mesh"},
		{"no token", []string{"status", "--peer", secured.URL}, 1,
			"401 Unauthorized: missing or unknown bearer token (give a token with --token-file, --token or $COUNTERMESH_TOKEN)"},
		{"token file", []string{"status", "--peer", secured.URL, "--token-file", tokenFile}, 0, "mesh "},
		{"missing token file", []string{"status", "--peer", secured.URL, "--token-file", tokenFile + ".nope"}, 2, "--token-file"},
		{"wrong token", []string{"status", "--peer", secured.URL, "--token", "nope"}, 1,
			"401 Unauthorized: missing or unknown bearer token\n"},
		{"server error", []string{"status", "--peer", broken.URL}, 1, "500 Internal Server Error: upstream exploded"},
		{"not a mesh status", []string{"status", "--peer", broken.URL + "/bad"}, 1, "something other than a mesh status"},
		{"connection refused", []string{"status", "--peer", down.URL}, 1, "cannot reach the peer"},
	}
	t.Setenv(tokenEnv, "")
	for _, c := range cases {
		code, stdout, stderr := runCmd(t, c.args...)
		if code != c.code || !strings.Contains(stdout+stderr, c.want) {
			t.Errorf("%s: exit %d, output %q; want %d and %q", c.name, code, stdout+stderr, c.code, c.want)
		}
	}
}
