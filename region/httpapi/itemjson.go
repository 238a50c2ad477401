package httpapi

import (
	"slices"
	"strconv"
	"sync"
	"unicode/utf8"

	"github.com/countermesh/countermesh/crdt"
)

// The answers read most — an Item, an ItemList — are encoded by hand,
// straight from the store's views into pooled buffers: no reflection, and no
// Item, map or UserReaction built per item. The bytes are those encoding/json
// writes, HTML escaping off, for the Items the views stand for
// (itemjson_test.go builds those Items and holds the two equal).

// answerBuffers are the buffers answers are encoded into.
var answerBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// appendList appends the items of r as an ItemList.
func (r *itemsRead) appendList(b []byte) []byte {
	b = append(b, `{"items":[`...)
	for i := range r.ids {
		if i > 0 {
			b = append(b, ',')
		}
		b = r.appendItem(b, i)
	}
	return append(b, "]}"...)
}

// appendItem appends the i-th item of r as an Item: its counters, its
// reactions — every kind in force, at zero unless a tally says otherwise, and
// every other kind tallied — and the asked-for user's reaction, if a user was.
func (r *itemsRead) appendItem(b []byte, i int) []byte {
	v := &r.views[i]
	b = append(b, `{"item":`...)
	b = appendJSONString(b, r.ids[i])
	b = append(b, `,"counters":`...)
	r.counterKeys = sortedKeys(r.counterKeys, r.keyRoom[:0:8], v.Counters, nil)
	b = appendCounts(b, v.Counters, r.counterKeys)
	b = append(b, `,"reactions":`...)
	r.reactionKeys = sortedKeys(r.reactionKeys, r.keyRoom[8:8:16], v.Tallies, r.kinds)
	b = appendCounts(b, v.Tallies, r.reactionKeys)
	if r.user != "" {
		b = append(b, `,"user":{"id":`...)
		b = appendJSONString(b, r.user)
		b = append(b, `,"reaction":`...)
		if v.User.Kind == crdt.None {
			b = append(b, "null"...)
		} else {
			b = appendJSONString(b, v.User.Kind)
		}
		b = append(b, '}')
	}
	b = append(b, `,"token":`...)
	b = appendJSONString(b, r.token)
	return append(b, '}')
}

// appendCounts appends m as a JSON object of the given keys, sorted, as
// encoding/json writes a map, each key m lacks at 0. A nil m is an empty one:
// an Item's counts are never null.
func appendCounts(b []byte, m map[string]int64, keys []string) []byte {
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, k)
		b = append(b, ':')
		b = strconv.AppendInt(b, m[k], 10)
	}
	return append(b, '}')
}

// sortedKeys returns the keys of m and zeros, sorted and each once. Items of
// a page mostly hold the same names, so when those are the keys of prev (the
// last item's, built from the same zeros) it returns prev, found by a lookup
// of each rather than a walk and a sort of m; otherwise it builds them in
// room (prev is nil before the first item).
func sortedKeys(prev, room []string, m map[string]int64, zeros []string) []string {
	if prev != nil && sameKeys(prev, m, zeros) {
		return prev
	}
	keys := append(room, zeros...)
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return slices.Compact(keys) // a key of zeros also in m, or in zeros twice
}

// sameKeys reports whether the keys of m and zeros are those of prev, which
// holds zeros.
func sameKeys(prev []string, m map[string]int64, zeros []string) bool {
	inM := 0
	for _, k := range prev {
		if _, ok := m[k]; ok {
			inM++
		} else if !slices.Contains(zeros, k) {
			return false
		}
	}
	return inM == len(m)
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string, escaped as encoding/json does
// with HTML escaping off: quotes, backslashes and control characters escaped,
// invalid UTF-8 replaced by U+FFFD, and U+2028 and U+2029 escaped.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
