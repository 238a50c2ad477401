package httpapi

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"strings"
	"testing"
)

func TestReactionsSetAndClear(t *testing.T) {
	e := newStoreEnv(t, nil)
	it := e.do("PUT", "/v1/items/video:abc/reactions/u1", `{"reaction":"like"}`).item(t)
	if it.Item != "video:abc" || it.reactionOfUser() != "like" || it.User.ID != "u1" {
		t.Fatalf("after like: %+v", it)
	}
	if want := map[string]int64{"like": 1, "dislike": 0}; !maps.Equal(it.Reactions, want) {
		t.Fatalf("reactions %v, want %v", it.Reactions, want)
	}
	if it.Token == "" {
		t.Fatal("no causal token")
	}

	// Setting the same reaction again changes no tally (invariant 5).
	e.do("PUT", "/v1/items/video:abc/reactions/u1", `{"reaction":"like"}`).item(t)
	it = e.do("PUT", "/v1/items/video:abc/reactions/u2", `{"reaction":"dislike"}`).item(t)
	if want := map[string]int64{"like": 1, "dislike": 1}; !maps.Equal(it.Reactions, want) {
		t.Fatalf("reactions %v, want %v", it.Reactions, want)
	}

	it = e.do("DELETE", "/v1/items/video:abc/reactions/u1", "").item(t)
	if it.User == nil || it.User.Reaction != nil {
		t.Fatalf("after delete, user %+v, want a null reaction", it.User)
	}
	if want := map[string]int64{"like": 0, "dislike": 1}; !maps.Equal(it.Reactions, want) {
		t.Fatalf("reactions %v, want %v", it.Reactions, want)
	}
	// The JSON form of "no reaction" is null.
	r := e.do("GET", "/v1/items/video:abc?user=u1", "")
	if !strings.Contains(string(r.body), `"user":{"id":"u1","reaction":null}`) {
		t.Fatalf("body %s lacks a null reaction", r.body)
	}
	if err := e.store.CheckTallies(); err != nil {
		t.Fatal(err)
	}
}

func TestCounters(t *testing.T) {
	e := newEnv(t, nil)
	it := e.do("POST", "/v1/items/video:abc/counters/claps", `{"by":3}`).item(t)
	if it.Counters["claps"] != 3 {
		t.Fatalf("claps %d, want 3", it.Counters["claps"])
	}
	e.do("POST", "/v1/items/video:abc/counters/views", `{"by":1}`).item(t)
	it = e.do("POST", "/v1/items/video:abc/counters/claps", `{"by":-1}`).item(t)
	if want := map[string]int64{"claps": 2, "views": 1}; !maps.Equal(it.Counters, want) {
		t.Fatalf("counters %v, want %v", it.Counters, want)
	}
	if it.User != nil {
		t.Fatalf("user %+v on a counter answer", it.User)
	}
	if it.Reactions["like"] != 0 || len(it.Reactions) != 2 {
		t.Fatalf("reactions %v, want every kind with zero", it.Reactions)
	}
	if r := e.do("POST", "/v1/items/video:abc/counters/claps", `{"by":1}`); r.header.Get(HeaderIdempotentReplayed) != "" {
		t.Fatal("Idempotent-Replayed on an increment without a key")
	}
}

func TestGetItems(t *testing.T) {
	e := newEnv(t, nil)
	e.do("POST", "/v1/items/a/counters/claps", `{"by":5}`).item(t)
	e.do("PUT", "/v1/items/b/reactions/u1", `{"reaction":"dislike"}`).item(t)

	it := e.do("GET", "/v1/items/a", "").item(t)
	if it.Counters["claps"] != 5 || it.User != nil {
		t.Fatalf("a: %+v", it)
	}
	it = e.do("GET", "/v1/items/never-written?user=u1", "").item(t)
	if len(it.Counters) != 0 || it.Counters == nil || it.Reactions["like"] != 0 || it.User == nil || it.User.Reaction != nil {
		t.Fatalf("empty item: %+v", it)
	}
	// Escaped path segments are decoded.
	e.do("POST", "/v1/items/video%2Fx/counters/claps", `{"by":1}`).item(t)
	if v, _ := e.b.ReadItems([]string{"video/x"}, ""); v[0].Counters["claps"] != 1 {
		t.Fatalf("video/x: %+v", v)
	}

	r := e.do("GET", "/v1/items?ids=b,a&ids=c&user=u1", "")
	if r.code != http.StatusOK {
		t.Fatalf("status %d: %s", r.code, r.body)
	}
	var list ItemList
	if err := json.Unmarshal(r.body, &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 3 || list.Items[0].Item != "b" || list.Items[1].Item != "a" || list.Items[2].Item != "c" {
		t.Fatalf("items %+v, want b, a, c in order", list.Items)
	}
	if list.Items[0].reactionOfUser() != "dislike" || list.Items[0].Reactions["dislike"] != 1 {
		t.Fatalf("b: %+v", list.Items[0])
	}
	if list.Items[1].Counters["claps"] != 5 || list.Items[1].reactionOfUser() != "" {
		t.Fatalf("a: %+v", list.Items[1])
	}
	if r.header.Get(HeaderCausalToken) != list.Items[0].Token {
		t.Fatal("header token differs from the items' token")
	}
}

// badInputs are requests the API must refuse with a precise 4xx, changing
// nothing.
var badInputs = []struct {
	name               string
	method, path, body string
	headers            []string
	status             int
	detail             string
}{
	{name: "unknown reaction kind", method: "PUT", path: "/v1/items/a/reactions/u1", body: `{"reaction":"love"}`,
		status: 400, detail: `unknown reaction kind "love"; known: like, dislike`},
	{name: "empty reaction", method: "PUT", path: "/v1/items/a/reactions/u1", body: `{"reaction":""}`,
		status: 400, detail: "reaction is empty; known kinds: like, dislike"},
	{name: "missing reaction", method: "PUT", path: "/v1/items/a/reactions/u1", body: `{}`,
		status: 400, detail: "reaction is required"},
	{name: "null body", method: "PUT", path: "/v1/items/a/reactions/u1", body: `null`,
		status: 400, detail: "reaction is required"},
	{name: "item too long", method: "PUT", path: "/v1/items/" + strings.Repeat("x", 257) + "/reactions/u1", body: `{"reaction":"like"}`,
		status: 400, detail: "item is 257 bytes long, longer than the 256 allowed"},
	{name: "user too long", method: "DELETE", path: "/v1/items/a/reactions/" + strings.Repeat("é", 129),
		status: 400, detail: "user is 258 bytes long, longer than the 256 allowed"},
	{name: "control character in user", method: "PUT", path: "/v1/items/a/reactions/u%0A1", body: `{"reaction":"like"}`,
		status: 400, detail: "user contains the control character U+000A at byte 1"},
	{name: "DEL in item", method: "POST", path: "/v1/items/a%7F/counters/claps", body: `{"by":1}`,
		status: 400, detail: "item contains the control character U+007F at byte 1"},
	{name: "invalid UTF-8 in item", method: "GET", path: "/v1/items/ab%FF",
		status: 400, detail: "item is not valid UTF-8 (bad byte 0xff at byte 2)"},
	{name: "control character in counter name", method: "POST", path: "/v1/items/a/counters/cl%00aps", body: `{"by":1}`,
		status: 400, detail: "counter name contains the control character U+0000 at byte 2"},
	{name: "empty user parameter", method: "GET", path: "/v1/items/a?user=",
		status: 400, detail: "user is empty"},
	{name: "user parameter twice", method: "GET", path: "/v1/items/a?user=u1&user=u2",
		status: 400, detail: "user is given 2 times; give it once"},
	{name: "malformed query", method: "GET", path: "/v1/items/a?user=%zz",
		status: 400, detail: "malformed query string"},
	{name: "by zero", method: "POST", path: "/v1/items/a/counters/claps", body: `{"by":0}`,
		status: 400, detail: "by is 0; an increment must be non-zero"},
	{name: "by too large", method: "POST", path: "/v1/items/a/counters/claps", body: `{"by":1000001}`,
		status: 400, detail: "by is 1000001, out of range: |by| must be at most 1000000"},
	{name: "by too small", method: "POST", path: "/v1/items/a/counters/claps", body: `{"by":-1000001}`,
		status: 400, detail: "by is -1000001, out of range"},
	{name: "by missing", method: "POST", path: "/v1/items/a/counters/claps", body: `{}`,
		status: 400, detail: "by is required"},
	{name: "by fractional", method: "POST", path: "/v1/items/a/counters/claps", body: `{"by":1.5}`,
		status: 400, detail: `field "by": want an integer in range, got a JSON number 1.5`},
	{name: "by beyond int64", method: "POST", path: "/v1/items/a/counters/claps", body: `{"by":1e30}`,
		status: 400, detail: `field "by": want an integer in range, got a JSON number 1e30`},
	{name: "by a string", method: "POST", path: "/v1/items/a/counters/claps", body: `{"by":"3"}`,
		status: 400, detail: `field "by": want an integer in range, got a JSON string`},
	{name: "malformed JSON", method: "POST", path: "/v1/items/a/counters/claps", body: `{"by":1,}`,
		status: 400, detail: "malformed JSON at byte 9: invalid character '}'"},
	{name: "truncated JSON", method: "POST", path: "/v1/items/a/counters/claps", body: `{"by":1`,
		status: 400, detail: "malformed JSON: the body ends in the middle of a value"},
	{name: "unknown field", method: "POST", path: "/v1/items/a/counters/claps", body: `{"by":1,"x":2}`,
		status: 400, detail: `unknown field "x"`},
	{name: "trailing data", method: "POST", path: "/v1/items/a/counters/claps", body: `{"by":1} {"by":2}`,
		status: 400, detail: "unexpected data after the JSON object"},
	{name: "trailing garbage", method: "POST", path: "/v1/items/a/counters/claps", body: `{"by":1}x`,
		status: 400, detail: "unexpected data after the JSON object"},
	{name: "empty body", method: "POST", path: "/v1/items/a/counters/claps",
		status: 400, detail: "request body is empty; want a JSON object"},
	{name: "array body", method: "POST", path: "/v1/items/a/counters/claps", body: `[1]`,
		status: 400, detail: "the body is a JSON array; want a JSON object"},
	{name: "body too large", method: "PUT", path: "/v1/items/a/reactions/u1",
		body:   `{"reaction":"` + strings.Repeat("x", 2<<20) + `"}`,
		status: 413, detail: "request body is larger than the 1048576 bytes allowed"},
	{name: "bad idempotency key", method: "POST", path: "/v1/items/a/counters/claps", body: `{"by":1}`,
		headers: []string{"Idempotency-Key", "k\t1"},
		status:  400, detail: "Idempotency-Key contains the control character U+0009 at byte 1"},
	{name: "idempotency key twice", method: "POST", path: "/v1/items/a/counters/claps", body: `{"by":1}`,
		headers: []string{"Idempotency-Key", "k1", "Idempotency-Key", "k2"},
		status:  400, detail: "2 Idempotency-Key headers; send at most one"},
	{name: "no ids", method: "GET", path: "/v1/items",
		status: 400, detail: "ids is required"},
	{name: "empty id in ids", method: "GET", path: "/v1/items?ids=a,,b",
		status: 400, detail: "ids[1] is empty"},
	{name: "too many ids", method: "GET", path: "/v1/items?ids=" + strings.Repeat("a,", 100) + "a",
		status: 400, detail: "101 ids, more than the 100 one request may read"},
	{name: "empty ops", method: "POST", path: "/v1/ops", body: `{"ops":[]}`,
		status: 400, detail: "ops is empty or missing"},
	{name: "too many ops", method: "POST", path: "/v1/ops", body: manyOps(1001),
		status: 400, detail: "1001 ops, more than the 1000 one request may carry"},
	{name: "unknown op", method: "POST", path: "/v1/ops",
		body:   `{"ops":[{"op":"add","item":"a","counter":"claps","by":1},{"op":"mul","item":"a"}]}`,
		status: 400, detail: `ops[1]: unknown op "mul"; known: react, add`},
	{name: "op without kind", method: "POST", path: "/v1/ops", body: `{"ops":[{"item":"a"}]}`,
		status: 400, detail: `ops[0].op is required: "react" or "add"`},
	{name: "op with an unknown reaction", method: "POST", path: "/v1/ops",
		body:   `{"ops":[{"op":"add","item":"a","counter":"claps","by":1},{"op":"react","item":"a","user":"u","reaction":"love"}]}`,
		status: 400, detail: `ops[1]: unknown reaction kind "love"; known: like, dislike`},
	{name: "op without reaction", method: "POST", path: "/v1/ops", body: `{"ops":[{"op":"react","item":"a","user":"u"}]}`,
		status: 400, detail: "ops[0].reaction is required: a reaction kind, or null to clear the reaction"},
	{name: "op with a numeric reaction", method: "POST", path: "/v1/ops", body: `{"ops":[{"op":"react","item":"a","user":"u","reaction":1}]}`,
		status: 400, detail: "ops[0].reaction: want a reaction kind string or null, got \"1\""},
	{name: "op with a field of another op", method: "POST", path: "/v1/ops",
		body:   `{"ops":[{"op":"react","item":"a","user":"u","reaction":"like","by":1}]}`,
		status: 400, detail: `ops[0]: field "by" does not apply to op "react"`},
	{name: "op without item", method: "POST", path: "/v1/ops", body: `{"ops":[{"op":"add","counter":"claps","by":1}]}`,
		status: 400, detail: "ops[0].item is required"},
	{name: "op with a bad counter", method: "POST", path: "/v1/ops", body: `{"ops":[{"op":"add","item":"a","counter":"","by":1}]}`,
		status: 400, detail: "ops[0].counter is empty"},
	{name: "op with by zero", method: "POST", path: "/v1/ops", body: `{"ops":[{"op":"add","item":"a","counter":"c","by":0}]}`,
		status: 400, detail: "ops[0].by is 0"},
	{name: "op with a bad key", method: "POST", path: "/v1/ops",
		body:   `{"ops":[{"op":"add","item":"a","counter":"c","by":1,"idempotency_key":""}]}`,
		status: 400, detail: "ops[0].idempotency_key is empty"},
	{name: "op with an unknown field", method: "POST", path: "/v1/ops", body: `{"ops":[{"op":"add","item":"a","counter":"c","by":1,"z":1}]}`,
		status: 400, detail: `unknown field "z"`},
	{name: "bad causal token", method: "GET", path: "/v1/items/a", headers: []string{HeaderCausalToken, "!!!"},
		status: 400, detail: "X-Causal-Token: not unpadded base64url"},
	{name: "bad causal token on a write", method: "PUT", path: "/v1/items/a/reactions/u1", body: `{"reaction":"like"}`,
		headers: []string{HeaderCausalToken, "Aw"},
		status:  400, detail: "X-Causal-Token: version 3; this peer reads version 2"},
	{name: "unknown route", method: "GET", path: "/v2/items/a",
		status: 404, detail: "no route for GET /v2/items/a"},
	{name: "wrong method", method: "PATCH", path: "/v1/items/a",
		status: 405, detail: "PATCH is not served on /v1/items/a; allowed: GET, HEAD"},
}

func manyOps(n int) string {
	ops := make([]string, n)
	for i := range ops {
		ops[i] = fmt.Sprintf(`{"op":"add","item":"a","counter":"claps","by":1,"idempotency_key":"k%d"}`, i)
	}
	return `{"ops":[` + strings.Join(ops, ",") + `]}`
}

func TestBadInputIsRefusedPreciselyAndChangesNothing(t *testing.T) {
	e := newEnv(t, nil)
	for _, c := range badInputs {
		t.Run(c.name, func(t *testing.T) {
			p := e.do(c.method, c.path, c.body, c.headers...).problem(t, c.status)
			if !strings.Contains(p.Detail, c.detail) {
				t.Errorf("detail %q, want it to contain %q", p.Detail, c.detail)
			}
		})
	}
	if seq := e.b.LastSeq(); seq != 0 {
		t.Errorf("the store logged %d changes; bad input must change nothing", seq)
	}
	it := e.do("GET", "/v1/items/a?user=u1", "").item(t)
	if len(it.Counters) != 0 || it.Reactions["like"] != 0 || it.reactionOfUser() != "" {
		t.Errorf("item a changed: %+v", it)
	}
	if r := e.do("GET", "/metrics", ""); !strings.Contains(string(r.body), `countermesh_api_writes_total{kind="add",outcome="invalid"}`) {
		t.Error("invalid writes not counted")
	}
}

func TestMethodNotAllowedHasAllow(t *testing.T) {
	e := newEnv(t, nil)
	r := e.do("GET", "/v1/ops", "")
	r.problem(t, http.StatusMethodNotAllowed)
	if got := r.header.Get("Allow"); got != "POST" {
		t.Fatalf("Allow %q, want POST", got)
	}
}
