package httpapi

import (
	"context"
	"math"
	"net/http"
	"strings"
	"testing"

	"github.com/countermesh/countermesh/persist"
)

// TestReadyzReportsLowDisk: below the store's free-space reserve, /readyz is
// 503 and says why, writes are refused, reads are served.
func TestReadyzReportsLowDisk(t *testing.T) {
	e := newStoreEnv(t, nil)
	e.do("POST", "/v1/items/a/counters/claps", `{"by":2}`).item(t)
	e.opts.MinFreeBytes = math.MaxInt64 // no file system has that much free
	e.restart(nil)
	r := e.do("GET", "/readyz", "")
	p := r.problem(t, http.StatusServiceUnavailable)
	if !strings.Contains(p.Detail, "disk full") || !strings.Contains(p.Detail, "writes are refused") ||
		r.header.Get("Retry-After") != "30" {
		t.Fatalf("detail %q, Retry-After %q", p.Detail, r.header.Get("Retry-After"))
	}
	e.do("POST", "/v1/items/a/counters/claps", `{"by":1}`).problem(t, http.StatusServiceUnavailable)
	if it := e.do("GET", "/v1/items/a", "").item(t); it.Counters["claps"] != 2 {
		t.Fatalf("read below the reserve: %+v", it)
	}
	if r := e.do("GET", "/healthz", ""); r.code != http.StatusOK {
		t.Fatalf("/healthz below the reserve: %d", r.code)
	}
}

// TestReadItemsWithCommas: every id that can be written can be read in a
// batch: ids holding a comma through the id parameter.
func TestReadItemsWithCommas(t *testing.T) {
	e := newEnv(t, nil)
	e.do("POST", "/v1/items/list:a%2Cb/counters/claps", `{"by":3}`).item(t)
	e.do("POST", "/v1/items/c/counters/claps", `{"by":1}`).item(t)
	list := e.do("GET", "/v1/items?ids=c&id=list:a%2Cb&id=c&user=u1", "").items(t)
	if len(list) != 3 || list[0].Item != "c" || list[1].Item != "list:a,b" ||
		list[1].Counters["claps"] != 3 || list[2].Counters["claps"] != 1 {
		t.Fatalf("items %+v", list)
	}
	// The ids parameter still splits at commas, encoded or not.
	list = e.do("GET", "/v1/items?ids=list:a%2Cb", "").items(t)
	if len(list) != 2 || list[0].Item != "list:a" || list[1].Item != "b" {
		t.Fatalf("ids split: %+v", list)
	}
	// Both count toward the limit, and every id is checked.
	q := "/v1/items?ids=" + strings.Repeat("x,", MaxReadIDs-1) + "x&id=y"
	e.do("GET", q, "").problem(t, http.StatusBadRequest)
	p := e.do("GET", "/v1/items?id=", "").problem(t, http.StatusBadRequest)
	if p.Detail != "ids[0] is empty" {
		t.Fatalf("empty id: %q", p.Detail)
	}
}

// TestCounterSaturatesInAnswers: a counter past MaxInt64 answers MaxInt64,
// not a wrapped negative number.
func TestCounterSaturatesInAnswers(t *testing.T) {
	e := newEnv(t, nil)
	if _, err := e.b.Write(context.Background(), persist.Add("a", "views", math.MaxInt64)); err != nil {
		t.Fatal(err)
	}
	if it := e.do("POST", "/v1/items/a/counters/views", `{"by":5}`).item(t); it.Counters["views"] != math.MaxInt64 {
		t.Fatalf("after passing MaxInt64: %d", it.Counters["views"])
	}
	if it := e.do("GET", "/v1/items/a", "").item(t); it.Counters["views"] != math.MaxInt64 {
		t.Fatalf("read: %d", it.Counters["views"])
	}
	// Back in range, exactly.
	if it := e.do("POST", "/v1/items/a/counters/views", `{"by":-6}`).item(t); it.Counters["views"] != math.MaxInt64-1 {
		t.Fatalf("after coming back: %d", it.Counters["views"])
	}
}
