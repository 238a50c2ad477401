package client

import (
	"bytes"
	"unicode/utf8"

	json "github.com/goccy/go-json"
)

// The answers read most — an Item, a page of Items — are decoded by hand when
// they are in the form a peer writes them: keys in the peer's order, no
// whitespace but a final newline, no escapes, integers that fit. Strings repeated across a page
// (the token, the user, counter and reaction names) are allocated once. Any
// other form — another server's, a proxy's reformatting, anything unexpected —
// leaves the answer to the general JSON decoder, which then decides. Whatever
// the fast path accepts, it decodes as the general decoder would
// (itemdecode_test.go holds the two equal).

// itemList is the answer of GET /v1/items.
type itemList struct {
	Items []Item `json:"items"`
}

// pageInto is the answer of GET /v1/items read into the items of an earlier
// page (GetManyInto). The fast path reuses their maps; any other form is
// decoded afresh by the general decoder.
type pageInto struct {
	items []Item
}

// UnmarshalJSON decodes a page in any form into fresh items.
func (p *pageInto) UnmarshalJSON(b []byte) error {
	var l itemList
	if err := json.Unmarshal(b, &l); err != nil {
		return err
	}
	p.items = l.Items
	return nil
}

// decodeFast decodes body into out when out is an answer the fast path knows
// and body is in the peer's form, and reports whether it did; out is left
// untouched when it did not.
func decodeFast(body []byte, out any) bool {
	d := itemDecoder{b: body}
	switch o := out.(type) {
	case *Item:
		var it Item
		if !d.item(&it) || !d.end() {
			return false
		}
		*o = it
		return true
	case *itemList:
		items, ok := d.page(pageRoom(body))
		if !ok {
			return false
		}
		o.Items = items
		return true
	case *pageInto:
		room := o.items[:0]
		if room == nil {
			room = pageRoom(body)
		}
		items, ok := d.page(room)
		if !ok {
			return false
		}
		o.items = items
		return true
	}
	return false
}

// pageRoom returns room for the items of body, a page: some 100 bytes each,
// never more than the body could hold (an item takes at least 52), so that a
// body refused costs no more than its size.
func pageRoom(body []byte) []Item { return make([]Item, 0, min(len(body)/100+1, 128)) }

// page decodes a page ({"items":[...]}) appended to items, reusing the
// elements and maps past its length up to its capacity.
func (d *itemDecoder) page(items []Item) ([]Item, bool) {
	if !d.literal(`{"items":[`) {
		return nil, false
	}
	for !d.literal("]}") {
		if len(items) > 0 && !d.literal(",") {
			return nil, false
		}
		if len(items) < cap(items) {
			items = items[:len(items)+1]
		} else {
			items = append(items, Item{})
		}
		if !d.item(&items[len(items)-1]) {
			return nil, false
		}
	}
	return items, d.end()
}

// itemDecoder reads one answer, front to back.
type itemDecoder struct {
	b []byte
	i int
	// seen holds the strings decoded so far, for a repeat to reuse.
	seen []string
}

// literal consumes s if the answer continues with it.
func (d *itemDecoder) literal(s string) bool {
	if !bytes.HasPrefix(d.b[d.i:], []byte(s)) {
		return false
	}
	d.i += len(s)
	return true
}

// end reports whether nothing but a peer's closing newline is left.
func (d *itemDecoder) end() bool {
	return d.i == len(d.b) || d.i == len(d.b)-1 && d.b[d.i] == '\n'
}

// item decodes one Item into it, reusing its maps.
func (d *itemDecoder) item(it *Item) bool {
	it.User = nil
	if !d.literal(`{"item":`) || !d.str(&it.Item, false) ||
		!d.literal(`,"counters":`) || !d.counts(&it.Counters) ||
		!d.literal(`,"reactions":`) || !d.counts(&it.Reactions) {
		return false
	}
	if d.literal(`,"user":{"id":`) {
		u := &UserReaction{}
		if !d.str(&u.ID, true) || !d.literal(`,"reaction":`) {
			return false
		}
		if !d.literal("null") {
			var kind string
			if !d.str(&kind, true) {
				return false
			}
			u.Reaction = &kind
		}
		if !d.literal("}") {
			return false
		}
		it.User = u
	}
	return d.literal(`,"token":`) && d.str(&it.Token, true) && d.literal("}")
}

// counts decodes an object of integers.
func (d *itemDecoder) counts(m *map[string]int64) bool {
	if !d.literal("{") {
		return false
	}
	if *m == nil {
		*m = map[string]int64{}
	} else {
		clear(*m)
	}
	for !d.literal("}") {
		if len(*m) > 0 && !d.literal(",") {
			return false
		}
		var k string
		var v int64
		if !d.str(&k, true) || !d.literal(":") || !d.int(&v) {
			return false
		}
		if _, dup := (*m)[k]; dup {
			return false // a repeated key: the general decoder's rules apply
		}
		(*m)[k] = v
	}
	return true
}

// str decodes a string holding no escape and only valid UTF-8. When shared
// (names, users, tokens: the strings a page repeats) it reuses an equal string
// decoded before.
func (d *itemDecoder) str(s *string, shared bool) bool {
	if d.i >= len(d.b) || d.b[d.i] != '"' {
		return false
	}
	start := d.i + 1
	end := start
	for ; end < len(d.b) && d.b[end] != '"'; end++ {
		if c := d.b[end]; c < 0x20 || c == '\\' {
			return false
		}
	}
	if end == len(d.b) || !utf8.Valid(d.b[start:end]) {
		return false
	}
	raw := d.b[start:end]
	d.i = end + 1
	if !shared {
		*s = string(raw)
		return true
	}
	for _, prev := range d.seen {
		if prev == string(raw) { // compared without allocating
			*s = prev
			return true
		}
	}
	*s = string(raw)
	if len(d.seen) < 16 {
		d.seen = append(d.seen, *s)
	}
	return true
}

// int decodes an integer of at most 18 digits, which fits an int64.
func (d *itemDecoder) int(v *int64) bool {
	neg := d.i < len(d.b) && d.b[d.i] == '-'
	if neg {
		d.i++
	}
	start := d.i
	var n int64
	for ; d.i < len(d.b) && d.b[d.i] >= '0' && d.b[d.i] <= '9'; d.i++ {
		n = n*10 + int64(d.b[d.i]-'0')
	}
	digits := d.i - start
	if digits == 0 || digits > 18 || (digits > 1 && d.b[start] == '0') {
		return false
	}
	if neg {
		n = -n
	}
	*v = n
	return true
}
