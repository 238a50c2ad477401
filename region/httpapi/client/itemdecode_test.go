package client_test

import (
	"bytes"
	encjson "encoding/json"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"regexp"
	"runtime"
	"testing"

	json "github.com/goccy/go-json"
	"pgregory.net/rapid"

	"github.com/countermesh/countermesh/region/httpapi/client"
)

// decodedBothWays decodes body into a fresh value of out's type with the fast
// path and with the general decoder. It fails t when the fast path took the
// body and the two disagree, or the general decoder refused what the fast
// path took, and reports whether the fast path took it.
func decodedBothWays(t interface {
	Helper()
	Fatalf(string, ...any)
}, body []byte, newOut func() any) bool {
	t.Helper()
	fast, general := newOut(), newOut()
	if !client.DecodeFast(body, fast) {
		if !reflect.DeepEqual(fast, newOut()) {
			t.Fatalf("the fast path refused %q but changed its output: %+v", body, fast)
		}
		return false
	}
	if err := json.Unmarshal(body, general); err != nil {
		t.Fatalf("the fast path took %q, which the general decoder refuses: %v", body, err)
	}
	if !reflect.DeepEqual(fast, general) {
		t.Fatalf("%q decodes to\n%s\nby the fast path and to\n%s\nby the general decoder", body, dump(fast), dump(general))
	}
	return true
}

// longNumber is a run of digits longer than the fast path decodes.
var longNumber = regexp.MustCompile(`[0-9]{19}`)

func dump(v any) string { b, _ := encjson.Marshal(v); return string(b) }

func newItem() any     { return &client.Item{} }
func newItemList() any { return &client.ItemList{} }

// TestThePeersAnswersTakeTheFastPath: the answers of a real peer — an item
// after a write, one item read, a page with and without a user, and an empty
// page — are decoded by the fast path, as the general decoder decodes them.
func TestThePeersAnswersTakeTheFastPath(t *testing.T) {
	ms := newMesh(t)
	url := ms.urls["eu-1"]
	call := func(method, path, body string) []byte {
		t.Helper()
		req, err := http.NewRequest(method, url+path, bytes.NewBufferString(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		if err != nil || res.StatusCode/100 != 2 {
			t.Fatalf("%s %s: %d %s %v", method, path, res.StatusCode, b, err)
		}
		return b
	}
	answers := []struct {
		body []byte
		out  func() any
	}{
		{call("POST", "/v1/items/v%C3%A9lo%201/counters/claps", `{"by":-3}`), newItem},
		{call("PUT", "/v1/items/v%C3%A9lo%201/reactions/u1", `{"reaction":"like"}`), newItem},
		{call("PUT", "/v1/items/b/reactions/u2", `{"reaction":"dislike"}`), newItem},
		{call("DELETE", "/v1/items/b/reactions/u2", ``), newItem},
		{call("GET", "/v1/items/b?user=u2", ``), newItem},
		{call("GET", "/v1/items?ids=v%C3%A9lo%201,b,never&user=u1", ``), newItemList},
		{call("GET", "/v1/items?ids=v%C3%A9lo%201,b", ``), newItemList},
	}
	for _, a := range answers {
		if !decodedBothWays(t, a.body, a.out) {
			t.Errorf("the fast path left the peer's answer %s to the general decoder", a.body)
		}
	}
}

// TestTheFastPathDecodesAsTheGeneralDecoder: Items of any content, written as
// a peer writes them (encoding/json, HTML escaping off, the peer's key
// order), decode alike both ways; those whose strings need no escape go the
// fast way.
func TestTheFastPathDecodesAsTheGeneralDecoder(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		items := drawItems(t, "")
		for _, v := range []any{client.ItemList{Items: items}, items} {
			body := asAPeerWrites(t, v)
			// No escape, valid UTF-8, and no integer past the fast path's 18
			// digits: the pages a peer writes for ids and counts of every day.
			plain := !bytes.ContainsAny(body, "\\") && bytes.Equal(bytes.ToValidUTF8(body, nil), body) && !longNumber.Match(body)
			if _, list := v.(client.ItemList); list {
				if took := decodedBothWays(t, body, newItemList); plain && !took {
					t.Fatalf("the fast path left %s, a page as a peer writes it, to the general decoder", body)
				}
				continue
			}
			for i := range items {
				one, _ := encjson.Marshal(items[i])
				if one = bytes.ReplaceAll(one, []byte(`\u0026`), []byte("&")); bytes.Contains(one, []byte(`\u003`)) {
					continue // < or >, escaped by Marshal as a peer would not: the general decoder's
				}
				decodedBothWays(t, one, newItem)
			}
		}
	})
}

// TestAPageReadIntoAnEarlierPageReadsAsAFreshOne: pages decoded one into
// the items of the one before (GetManyInto), by the fast path or, for the
// pages it leaves, the general decoder, decode as fresh pages do: nothing of
// an earlier page's items, counts or users is left behind.
func TestAPageReadIntoAnEarlierPageReadsAsAFreshOne(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var dst []client.Item
		for page := range rapid.IntRange(1, 5).Draw(t, "pages") {
			body := asAPeerWrites(t, client.ItemList{Items: drawItems(t, fmt.Sprint(page))})
			var fresh client.ItemList
			if err := json.Unmarshal(body, &fresh); err != nil {
				t.Fatal(err)
			}
			got, err := client.DecodePageInto(body, dst)
			if err != nil {
				t.Fatalf("page %d, %s: %v", page, body, err)
			}
			if !reflect.DeepEqual(got, fresh.Items) {
				t.Fatalf("page %d, %s, read into the page before decodes to\n%s\nand afresh to\n%s", page, body, dump(got), dump(fresh.Items))
			}
			dst = got
		}
	})
}

// drawItems draws up to 4 Items of any content; label tells the draws of
// several pages apart.
func drawItems(t *rapid.T, label string) []client.Item {
	str := rapid.OneOf(rapid.SampledFrom([]string{"", "claps", "like", "dislike", "u1", "é", "a\"b", "a\\b", "\x01", "<>&", "\u2028"}),
		rapid.String())
	counts := rapid.MapOf(str, rapid.Int64())
	items := make([]client.Item, rapid.IntRange(0, 4).Draw(t, "n"+label))
	for i := range items {
		it := client.Item{Item: str.Draw(t, "item"+label), Counters: counts.Draw(t, "counters"+label),
			Reactions: counts.Draw(t, "reactions"+label), Token: str.Draw(t, "token"+label)}
		if rapid.Bool().Draw(t, "user"+label) {
			it.User = &client.UserReaction{ID: str.Draw(t, "id"+label)}
			if rapid.Bool().Draw(t, "reacted"+label) {
				kind := str.Draw(t, "kind"+label)
				it.User.Reaction = &kind
			}
		}
		items[i] = it
	}
	return items
}

// asAPeerWrites is v in JSON as a peer writes it: encoding/json with HTML
// escaping off, without the final newline.
func asAPeerWrites(t *rapid.T, v any) []byte {
	var buf bytes.Buffer
	enc := encjson.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// FuzzDecodeFast: whatever the bytes, the fast path either leaves them to the
// general decoder, untouched, or decodes them as it does.
func FuzzDecodeFast(f *testing.F) {
	for _, s := range []string{
		`{"item":"a","counters":{"claps":3},"reactions":{"dislike":0,"like":1},"user":{"id":"u1","reaction":"like"},"token":"t"}`,
		`{"item":"a","counters":{},"reactions":{},"user":{"id":"u1","reaction":null},"token":""}`,
		`{"items":[{"item":"a","counters":{"claps":-3},"reactions":{},"token":"t"},{"item":"b","counters":{},"reactions":{},"token":"t"}]}`,
		`{"items":[]}`,
		`{"item":"a","counters":{"claps":007},"reactions":{},"token":"t"}`,
		`{"item":"a","counters":{"claps":1,"claps":2},"reactions":{},"token":"t"}`,
		`{"item":"a","counters":{"claps":999999999999999999},"reactions":{},"token":"t"}x`,
	} {
		f.Add([]byte(s))
	}
	earlier := []byte(`{"items":[{"item":"x","counters":{"claps":3,"views":1},"reactions":{"like":1},"user":{"id":"u","reaction":"like"},"token":"t"},` +
		`{"item":"y","counters":{"claps":1},"reactions":{},"token":"t"}]}`)
	f.Fuzz(func(t *testing.T, body []byte) {
		decodedBothWays(t, body, newItem)
		decodedBothWays(t, body, newItemList)
		// Into an earlier page, as GetManyInto reads: as afresh, or refused.
		dst, err := client.DecodePageInto(earlier, nil)
		if err != nil {
			t.Fatal(err)
		}
		var fresh client.ItemList
		freshErr := json.Unmarshal(body, &fresh)
		got, err := client.DecodePageInto(body, dst)
		if (err != nil) != (freshErr != nil) {
			t.Fatalf("%q into an earlier page: %v; afresh: %v", body, err, freshErr)
		}
		if err == nil && !reflect.DeepEqual(got, fresh.Items) {
			t.Fatalf("%q decodes into an earlier page to\n%s\nand afresh to\n%s", body, dump(got), dump(fresh.Items))
		}
	})
}

// BenchmarkDecodePage is the decoding of a page of 20 items with a user's
// reaction, as a peer writes it, by each decoder.
func BenchmarkDecodePage(b *testing.B) {
	like := "like"
	page := client.ItemList{}
	for i := range 20 {
		page.Items = append(page.Items, client.Item{Item: fmt.Sprintf("video:%d", i*7919),
			Counters: map[string]int64{"claps": int64(i * 31)}, Reactions: map[string]int64{"dislike": 2, "like": int64(i)},
			User:  &client.UserReaction{ID: "user:4711", Reaction: &like},
			Token: "v1.eu-1.AAAAAAAAAAEAAAAAAAAAAgAAAAAAAAAD.2b3c4d5e6f708192a3b4c5d6e7f80912a3b4c5d6e7f8"})
	}
	body, err := encjson.Marshal(page)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var out client.ItemList
			if !client.DecodeFast(body, &out) {
				b.Fatal("not taken")
			}
		}
	})
	b.Run("fast-into-last-page", func(b *testing.B) {
		b.ReportAllocs()
		var dst []client.Item
		for b.Loop() {
			var err error
			if dst, err = client.DecodePageInto(body, dst); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("general", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var out client.ItemList
			if err := json.Unmarshal(body, &out); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestAHostilePageCostsNoMoreThanItsSize: a body made to look like many items
// and refused costs the fast path no more memory than twice its size.
func TestAHostilePageCostsNoMoreThanItsSize(t *testing.T) {
	body := append([]byte(`{"items":[`), bytes.Repeat([]byte(`{"item":`), (16<<20)/8-2)...)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	var out client.ItemList
	took := client.DecodeFast(body, &out)
	runtime.ReadMemStats(&after)
	if n := after.TotalAlloc - before.TotalAlloc; took || n > 2*uint64(len(body)) {
		t.Fatalf("a %d-byte hostile page was taken (%v) or cost %d bytes", len(body), took, n)
	}
}
