package httpapi

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/countermesh/countermesh/crdt"
	"github.com/countermesh/countermesh/tests/testkit"
)

// doWithin sends a request to e like env.do, failing t unless the answer
// comes within d.
func (e *env) doWithin(t *testing.T, d time.Duration, method, path, body string, headers ...string) response {
	t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	resp, err := (&http.Client{Timeout: d}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: no answer within %s: %v", method, path, d, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{code: resp.StatusCode, header: resp.Header, body: b}
}

// TestWritesDoNotWaitForTokens: a peer that has not applied what a token
// covers (its region cut off from the one that minted it) takes writes with the
// token at once, marks them stale, and still orders a reaction after
// everything the token saw. Reads keep waiting.
func TestWritesDoNotWaitForTokens(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.CausalWait = time.Minute })
	const other crdt.ReplicaID = 0xbeef // never applied here
	// A token minted by a peer that applied other's change 5 and saw a register
	// written a little ahead of this peer's clock.
	token := func() (string, crdt.Timestamp) {
		var tok causalToken
		tok.see(other, 5)
		seen := crdt.Timestamp{Wall: time.Now().Add(500 * time.Millisecond).UnixMilli(), Logical: 2}
		tok.observe(seen)
		return e.mint(tok), seen
	}
	cases := []struct {
		name, method, path, body string
		user                     string // the register a reaction write sets; "" for increments
	}{
		{"put reaction", "PUT", "/v1/items/a/reactions/u1", `{"reaction":"like"}`, "u1"},
		{"delete reaction", "DELETE", "/v1/items/a/reactions/u1", "", "u1"},
		{"increment", "POST", "/v1/items/a/counters/claps", `{"by":1}`, ""},
		{"batch", "POST", "/v1/ops", `{"ops":[{"op":"react","item":"a","user":"u2","reaction":"dislike"}]}`, "u2"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tok, seen := token()
			seq := e.b.LastSeq()
			r := e.doWithin(t, 10*time.Second, c.method, c.path, c.body, HeaderCausalToken, tok)
			if r.code != http.StatusOK {
				t.Fatalf("status %d: %s", r.code, r.body)
			}
			if r.header.Get(HeaderCausalStale) != "true" {
				t.Fatal("a write with a token this peer has not caught up with is not marked stale")
			}
			if e.b.LastSeq() != seq+1 {
				t.Fatalf("last seq %d, want %d: the write was not applied", e.b.LastSeq(), seq+1)
			}
			if got := e.parseToken(t, r.header.Get(HeaderCausalToken)); got.seqs[other] != 5 {
				t.Fatalf("answer token %+v lost what the presented one saw", got)
			}
			if c.user == "" {
				return
			}
			reg := e.b.Register("a", c.user)
			if !seen.Before(reg.TS) {
				t.Fatalf("register written at %s, not after the token's %s", reg.TS, seen)
			}
		})
	}
	m := string(e.do("GET", "/metrics", "").body)
	for _, want := range []string{"countermesh_api_causal_waits_total 0", "countermesh_api_causal_stale_total 4"} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %q", want)
		}
	}

	// A read with the token waits; it answers once the change arrives.
	tok, _ := token()
	answered := make(chan response, 1)
	go func() { // ends when the read is answered: at the latest after CausalWait
		req, _ := http.NewRequest("GET", e.srv.URL+"/v1/items/a", nil)
		req.Header.Set(HeaderCausalToken, tok)
		var r response
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			r.code, r.header = resp.StatusCode, resp.Header
			r.body, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		answered <- r
	}()
	testkit.WaitFor(t, 10*time.Second, "the read to wait", func() bool {
		return strings.Contains(string(e.do("GET", "/metrics", "").body), "countermesh_api_causal_waits_total 1")
	})
	select {
	case r := <-answered:
		t.Fatalf("the read answered (%d, stale %q) before the token's change was applied", r.code, r.header.Get(HeaderCausalStale))
	default:
	}
	e.b.SetApplied(other, 5)
	r := <-answered
	var it Item
	if err := json.Unmarshal(r.body, &it); err != nil || r.code != http.StatusOK || r.header.Get(HeaderCausalStale) != "" {
		t.Fatalf("read after catching up: %d %s stale %q", r.code, r.body, r.header.Get(HeaderCausalStale))
	}
}
