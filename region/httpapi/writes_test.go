package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/countermesh/countermesh/persist"
	"github.com/countermesh/countermesh/tests/testkit"
)

func TestIdempotentIncrementCountsOnceAcrossRestart(t *testing.T) {
	e := newStoreEnv(t, withTokens)
	e.token = "secret-a"
	key := []string{HeaderIdempotencyKey, "order-17"}
	first := e.do("POST", "/v1/items/a/counters/claps", `{"by":5}`, key...)
	if first.item(t).Counters["claps"] != 5 || first.header.Get(HeaderIdempotentReplayed) != "" {
		t.Fatalf("first: %s %v", first.body, first.header)
	}
	e.do("POST", "/v1/items/a/counters/claps", `{"by":2}`).item(t) // another increment, no key

	again := e.do("POST", "/v1/items/a/counters/claps", `{"by":5}`, key...)
	if got := again.item(t).Counters["claps"]; got != 7 {
		t.Fatalf("replay shows claps %d, want the item as it is now, 7", got)
	}
	if again.header.Get(HeaderIdempotentReplayed) != "true" {
		t.Fatal("replay without Idempotent-Replayed: true")
	}
	if got := e.do("GET", "/v1/items/a", "").item(t).Counters["claps"]; got != 7 {
		t.Fatalf("claps %d, want 7: the replay counted", got)
	}

	// The same key means nothing to another token.
	e.token = "secret-b"
	if got := e.do("POST", "/v1/items/a/counters/claps", `{"by":5}`, key...).item(t).Counters["claps"]; got != 12 {
		t.Fatalf("claps %d, want 12: another token's key collided", got)
	}

	e.restart(withTokens)
	e.token = "secret-a"
	again = e.do("POST", "/v1/items/a/counters/claps", `{"by":5}`, key...)
	if got := again.item(t).Counters["claps"]; got != 12 || again.header.Get(HeaderIdempotentReplayed) != "true" {
		t.Fatalf("replay after restart: claps %d, header %q", got, again.header.Get(HeaderIdempotentReplayed))
	}
	if got := e.do("GET", "/v1/items/a", "").item(t).Counters["claps"]; got != 12 {
		t.Fatalf("claps %d after restart, want 12", got)
	}

	// A key reused for another increment is refused and changes nothing.
	p := e.do("POST", "/v1/items/a/counters/claps", `{"by":6}`, key...).problem(t, http.StatusUnprocessableEntity)
	if !strings.Contains(p.Detail, `idempotency key "order-17" was already used for a different increment`) {
		t.Fatalf("detail %q", p.Detail)
	}
	if got := e.do("GET", "/v1/items/a", "").item(t).Counters["claps"]; got != 12 {
		t.Fatalf("claps %d after a conflict, want 12", got)
	}
	// Keys are scoped by item: the same key on another item is another increment.
	if got := e.do("POST", "/v1/items/b/counters/claps", `{"by":5}`, key...).item(t).Counters["claps"]; got != 5 {
		t.Fatalf("the key on another item: claps %d, want 5", got)
	}
}

// opsAnswer decodes a POST /v1/ops answer.
type opsAnswer struct {
	Results []map[string]any `json:"results"`
	Token   string           `json:"token"`
}

func postOps(t *testing.T, e *env, body string) opsAnswer {
	t.Helper()
	r := e.do("POST", "/v1/ops", body)
	if r.code != http.StatusOK {
		t.Fatalf("ops: %d %s", r.code, r.body)
	}
	var a opsAnswer
	if err := json.Unmarshal(r.body, &a); err != nil {
		t.Fatal(err)
	}
	if a.Token == "" || a.Token != r.header.Get(HeaderCausalToken) {
		t.Fatalf("token %q, header %q", a.Token, r.header.Get(HeaderCausalToken))
	}
	return a
}

func TestOpsBatch(t *testing.T) {
	e := newEnv(t, nil)
	a := postOps(t, e, `{"ops":[
		{"op":"react","item":"a","user":"u1","reaction":"like"},
		{"op":"add","item":"a","counter":"claps","by":3,"idempotency_key":"k1"},
		{"op":"add","item":"a","counter":"claps","by":3,"idempotency_key":"k1"},
		{"op":"add","item":"b","counter":"views","by":1},
		{"op":"react","item":"a","user":"u2","reaction":"dislike"},
		{"op":"react","item":"a","user":"u2","reaction":null}]}`)
	want := []string{
		`{"item":"a","op":"react","reaction":"like","user":"u1"}`,
		`{"counter":"claps","item":"a","op":"add","replayed":false,"value":3}`,
		`{"counter":"claps","item":"a","op":"add","replayed":true,"value":3}`,
		`{"counter":"views","item":"b","op":"add","replayed":false,"value":1}`,
		`{"item":"a","op":"react","reaction":"dislike","user":"u2"}`,
		`{"item":"a","op":"react","reaction":null,"user":"u2"}`,
	}
	for i, r := range a.Results {
		got, _ := json.Marshal(r)
		if string(got) != want[i] {
			t.Errorf("result %d: %s, want %s", i, got, want[i])
		}
	}
	it := e.do("GET", "/v1/items/a", "").item(t)
	if it.Counters["claps"] != 3 || it.Reactions["like"] != 1 || it.Reactions["dislike"] != 0 {
		t.Fatalf("a: %+v", it)
	}
}

func TestOpsAllOrNothing(t *testing.T) {
	e := newStoreEnv(t, nil)
	postOps(t, e, `{"ops":[{"op":"add","item":"a","counter":"claps","by":1,"idempotency_key":"k1"}]}`)
	seq := e.store.LastSeq()
	// The store refuses the third op (its key was used for another increment):
	// the first two must not be applied either.
	r := e.do("POST", "/v1/ops", `{"ops":[
		{"op":"react","item":"a","user":"u1","reaction":"like"},
		{"op":"add","item":"a","counter":"claps","by":1},
		{"op":"add","item":"a","counter":"claps","by":2,"idempotency_key":"k1"}]}`)
	p := r.problem(t, http.StatusUnprocessableEntity)
	if !strings.Contains(p.Detail, "already used for a different increment") {
		t.Fatalf("detail %q", p.Detail)
	}
	if e.store.LastSeq() != seq {
		t.Fatal("a refused batch changed the store")
	}
	it := e.do("GET", "/v1/items/a?user=u1", "").item(t)
	if it.Counters["claps"] != 1 || it.reactionOfUser() != "" {
		t.Fatalf("a refused batch applied some ops: %+v", it)
	}
}

func TestStoreFailuresAnswer503AndReadsGoOn(t *testing.T) {
	var fail atomic.Bool
	e := &env{t: t, dir: t.TempDir()}
	e.opts = persist.SmallOptions(e.dir)
	e.opts.Logger = quietLogger()
	e.opts.CommitFault = func(int) error {
		if fail.Load() {
			return errors.New("injected I/O error")
		}
		return nil
	}
	e.start(nil)
	e.do("POST", "/v1/items/a/counters/claps", `{"by":1}`).item(t)

	fail.Store(true)
	r := e.do("POST", "/v1/items/a/counters/claps", `{"by":1}`)
	p := r.problem(t, http.StatusServiceUnavailable)
	if r.header.Get("Retry-After") == "" || !strings.Contains(p.Detail, "could not be made durable and was not applied") {
		t.Fatalf("detail %q, Retry-After %q", p.Detail, r.header.Get("Retry-After"))
	}
	if strings.Contains(p.Detail, "injected") {
		t.Fatal("the store's error text leaked")
	}
	if got := e.do("GET", "/v1/items/a", "").item(t).Counters["claps"]; got != 1 {
		t.Fatalf("read while writes fail: claps %d, want 1", got)
	}
	fail.Store(false)
	if got := e.do("POST", "/v1/items/a/counters/claps", `{"by":1}`).item(t).Counters["claps"]; got != 2 {
		t.Fatalf("claps %d after recovery, want 2", got)
	}

	// A closed store answers 503 too.
	e.store.Close()
	p = e.do("PUT", "/v1/items/a/reactions/u1", `{"reaction":"like"}`).problem(t, http.StatusServiceUnavailable)
	if !strings.Contains(p.Detail, "shutting down") {
		t.Fatalf("detail %q", p.Detail)
	}
}

func TestOverloadAnswers503(t *testing.T) {
	release := make(chan struct{})
	var blocked atomic.Bool
	e := &env{t: t, dir: t.TempDir()}
	e.opts = persist.SmallOptions(e.dir)
	e.opts.Logger = quietLogger()
	e.opts.CommitFault = func(int) error {
		if blocked.Load() {
			<-release
		}
		return nil
	}
	e.start(func(c *Config) { c.MaxWritesInFlight = 1 })
	blocked.Store(true)
	done := make(chan response)
	go func() { done <- e.do("POST", "/v1/items/a/counters/claps", `{"by":1}`) }()
	testkit.WaitFor(t, 5*time.Second, "a write in flight", func() bool { return len(e.s.writes) == 1 })

	r := e.do("POST", "/v1/items/a/counters/claps", `{"by":1}`)
	p := r.problem(t, http.StatusServiceUnavailable)
	if !strings.Contains(p.Detail, "too many writes in flight (1)") || r.header.Get("Retry-After") != "1" {
		t.Fatalf("detail %q, Retry-After %q", p.Detail, r.header.Get("Retry-After"))
	}
	if got := e.do("GET", "/v1/items/a", "").item(t).Counters["claps"]; got != 0 {
		t.Fatalf("read during overload: claps %d", got)
	}
	blocked.Store(false)
	close(release)
	if r := <-done; r.code != http.StatusOK {
		t.Fatalf("the write in flight: %d %s", r.code, r.body)
	}
}
