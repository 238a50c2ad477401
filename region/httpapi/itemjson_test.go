package httpapi

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"testing"
)

// TestItemsEncodeAsEncodingJSONWould: the hand-written encoding of items and
// pages is byte for byte encoding/json's, on random items whose strings hold
// quotes, backslashes, control characters, invalid UTF-8, U+2028/U+2029 and
// HTML characters.
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
	counts := func() map[string]int64 {
		if rng.IntN(8) == 0 {
			return nil
		}
		m := map[string]int64{}
		for range rng.IntN(20) {
			m[str()] = rng.Int64() - rng.Int64()
		}
		return m
	}
	item := func() Item {
		it := Item{Item: str(), Counters: counts(), Reactions: counts(), Token: str()}
		if rng.IntN(2) == 0 {
			it.User = &UserReaction{ID: str()}
			if rng.IntN(2) == 0 {
				r := str()
				it.User.Reaction = &r
			}
		}
		return it
	}
	for i := range 2000 {
		var v jsonAppender
		if i%3 == 0 {
			l := ItemList{}
			if rng.IntN(10) > 0 {
				l.Items = []Item{}
				for range rng.IntN(4) {
					l.Items = append(l.Items, item())
				}
			}
			v = &l
		} else {
			it := item()
			v = &it
		}
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err != nil {
			t.Fatal(err)
		}
		got := append(v.appendJSON(nil), '\n')
		if !bytes.Equal(got, want.Bytes()) {
			t.Fatalf("case %d:\n got %s\nwant %s", i, got, want.Bytes())
		}
	}
}
