package httpapi

import (
	"slices"
	"strconv"
	"sync"
	"unicode/utf8"
)

// The answers read most — Item, ItemList — are encoded by hand into pooled
// buffers, without reflection: byte for byte what encoding/json writes for
// them with HTML escaping off (itemjson_test.go holds the two equal).

// jsonAppender is an answer that appends its own JSON encoding to dst.
type jsonAppender interface {
	appendJSON(dst []byte) []byte
}

// answerBuffers are the buffers answers are encoded into.
var answerBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

func (it *Item) appendJSON(b []byte) []byte {
	b = append(b, `{"item":`...)
	b = appendJSONString(b, it.Item)
	b = append(b, `,"counters":`...)
	b = appendCounts(b, it.Counters)
	b = append(b, `,"reactions":`...)
	b = appendCounts(b, it.Reactions)
	if it.User != nil {
		b = append(b, `,"user":{"id":`...)
		b = appendJSONString(b, it.User.ID)
		b = append(b, `,"reaction":`...)
		if it.User.Reaction == nil {
			b = append(b, "null"...)
		} else {
			b = appendJSONString(b, *it.User.Reaction)
		}
		b = append(b, '}')
	}
	b = append(b, `,"token":`...)
	b = appendJSONString(b, it.Token)
	return append(b, '}')
}

func (l *ItemList) appendJSON(b []byte) []byte {
	if l.Items == nil {
		return append(b, `{"items":null}`...)
	}
	b = append(b, `{"items":[`...)
	for i := range l.Items {
		if i > 0 {
			b = append(b, ',')
		}
		b = l.Items[i].appendJSON(b)
	}
	return append(b, "]}"...)
}

// appendCounts appends m as a JSON object with its keys sorted, as
// encoding/json writes a map.
func appendCounts(b []byte, m map[string]int64) []byte {
	if m == nil {
		return append(b, "null"...)
	}
	var room [16]string
	keys := room[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
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
