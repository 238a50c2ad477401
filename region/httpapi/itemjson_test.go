package httpapi

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"testing"

	"github.com/countermesh/countermesh/crdt"
	"github.com/countermesh/countermesh/persist"
)

// itemOf builds the Item the API answers for what the store holds of item id,
// v: what the hand-written encoder writes without building it. It is the
// reference of the encoder's tests and benchmarks.
func itemOf(id string, v persist.ItemView, user string, kinds []string, token string) Item {
	it := Item{Item: id, Counters: v.Counters, Reactions: make(map[string]int64, len(kinds)), Token: token}
	if it.Counters == nil {
		it.Counters = map[string]int64{}
	}
	for _, k := range kinds {
		it.Reactions[k] = 0
	}
	for k, n := range v.Tallies {
		it.Reactions[k] = n
	}
	if user != "" {
		it.User = &UserReaction{ID: user}
		if v.User.Kind != crdt.None {
			kind := v.User.Kind
			it.User.Reaction = &kind
		}
	}
	return it
}

// listOf builds the ItemList the API answers for r.
func listOf(r *itemsRead) ItemList {
	l := ItemList{Items: make([]Item, len(r.ids))}
	for i, id := range r.ids {
		l.Items[i] = itemOf(id, r.views[i], r.user, r.kinds, r.token)
	}
	return l
}

// TestItemsEncodeAsEncodingJSONWould: the hand-written encoding of items and
// pages, from the store's views, is byte for byte encoding/json's of the
// Items and ItemLists itemOf builds, on random reads: nil, empty and large
// counters and tallies, kinds in force tallied or not, listed twice or
// none, tallies of kinds no longer in force, users with and without a
// reaction or none asked, items of a page holding the same names or not, and
// strings holding quotes, backslashes, control
// characters, invalid UTF-8, U+2028/U+2029 and HTML characters.
func TestItemsEncodeAsEncodingJSONWould(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	pieces := []string{"a", "é", "\"", "\\", "\n", "\t", "\x01", "\x1f", "\x7f", "\xff", "\xe2\x80", "\u2028", "\u2029",
		"<", ">", "&", "日本", "\U0001F600", " ", "\b", "\f", "\r"}
	str := func() string {
		var b bytes.Buffer
		for range rng.IntN(6) {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		return b.String()
	}
	kindPool := []string{"like", "dislike", "lo\"ve", "\u2028", "\xff", ""}
	// kind is a kind of the pool, in force or not, or any string.
	kind := func() string {
		if rng.IntN(3) == 0 {
			return str()
		}
		return kindPool[rng.IntN(len(kindPool))]
	}
	// name is mostly one of a few counter names, so that items of a page
	// often hold the same names (sortedKeys reuses them) and sometimes not.
	name := func() string {
		if rng.IntN(4) == 0 {
			return str()
		}
		return []string{"claps", "views", "z"}[rng.IntN(3)]
	}
	counts := func(key func() string) map[string]int64 {
		switch rng.IntN(8) {
		case 0:
			return nil
		case 1:
			return map[string]int64{}
		}
		n := rng.IntN(8)
		if rng.IntN(10) == 0 {
			n = 30 + rng.IntN(20) // past the keys sorted on the stack
		}
		m := map[string]int64{}
		for range n {
			m[key()] = rng.Int64N(5) - rng.Int64() // zeros and negatives too
		}
		return m
	}
	read := func() *itemsRead {
		r := &itemsRead{token: str()}
		for range rng.IntN(4) {
			r.kinds = append(r.kinds, kindPool[rng.IntN(len(kindPool))]) // possibly twice
		}
		if rng.IntN(3) > 0 {
			r.user = str()
		}
		for range 1 + rng.IntN(4) {
			v := persist.ItemView{Counters: counts(name), Tallies: counts(kind)}
			if r.user != "" && rng.IntN(2) == 0 {
				v.User = crdt.Register{Kind: kind()}
			}
			r.ids = append(r.ids, str())
			r.views = append(r.views, v)
		}
		return r
	}
	encode := func(v any) []byte {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err != nil {
			t.Fatal(err)
		}
		return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
	}
	for i := range 3000 {
		r := read()
		want := listOf(r)
		if got := r.appendList(nil); !bytes.Equal(got, encode(&want)) {
			t.Fatalf("case %d, list:\n got %s\nwant %s", i, got, encode(&want))
		}
		for j := range r.ids {
			if got := r.appendItem(nil, j); !bytes.Equal(got, encode(&want.Items[j])) {
				t.Fatalf("case %d, item %d:\n got %s\nwant %s", i, j, got, encode(&want.Items[j]))
			}
		}
	}
}
