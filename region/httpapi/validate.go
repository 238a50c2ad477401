package httpapi

import (
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// checkID validates an identifier the client chose — item id, user id, counter
// name, idempotency key — named what in the error: non-empty, valid UTF-8, at
// most MaxIDLen bytes, no control characters.
func (s *Server) checkID(what, v string) *Problem {
	if v == "" {
		return badRequest("%s is empty", what)
	}
	if len(v) > s.cfg.MaxIDLen {
		return badRequest("%s is %d bytes long, longer than the %d allowed", what, len(v), s.cfg.MaxIDLen)
	}
	for i := 0; i < len(v); {
		r, size := utf8.DecodeRuneInString(v[i:])
		if r == utf8.RuneError && size == 1 {
			return badRequest("%s is not valid UTF-8 (bad byte 0x%02x at byte %d)", what, v[i], i)
		}
		if unicode.IsControl(r) {
			return badRequest("%s contains the control character %U at byte %d", what, r, i)
		}
		i += size
	}
	return nil
}

// checkReaction validates a reaction kind against the kinds in force.
func checkReaction(what, kind string, kinds []string) *Problem {
	if kind == "" {
		return badRequest("%s is empty; known kinds: %s", what, strings.Join(kinds, ", "))
	}
	if !slices.Contains(kinds, kind) {
		return badRequest("unknown reaction kind %s; known: %s", quote(kind), strings.Join(kinds, ", "))
	}
	return nil
}

// checkBy validates the amount of an increment.
func (s *Server) checkBy(what string, by *int64) *Problem {
	switch {
	case by == nil:
		return badRequest("%s is required: a non-zero integer, negative to subtract", what)
	case *by == 0:
		return badRequest("%s is 0; an increment must be non-zero", what)
	case *by > s.cfg.MaxBy || *by < -s.cfg.MaxBy:
		return badRequest("%s is %d, out of range: |%s| must be at most %d", what, *by, what, s.cfg.MaxBy)
	}
	return nil
}

// quote quotes s for an error detail, shortened so a huge input does not make a
// huge answer.
func quote(s string) string {
	const limit = 64
	if len(s) > limit {
		cut := limit
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		return fmt.Sprintf("%q… (%d bytes)", s[:cut], len(s))
	}
	return fmt.Sprintf("%q", s)
}
