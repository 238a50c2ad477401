package topology

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// ErrInvalid matches (with errors.Is) every *Error: a topology that breaks the
// rules of the schema.
var ErrInvalid = errors.New("topology: invalid")

// Problem is one thing wrong with a topology file, at a line of it.
type Problem struct {
	File string // the topology file, as named to Parse or Load
	Line int    // 1-based line of the offending field; 0 when it has none
	Msg  string // what is wrong
}

// String returns the problem as "file:line: msg" (or "file: msg" without a line).
func (p Problem) String() string {
	if p.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", p.File, p.Line, p.Msg)
	}
	return fmt.Sprintf("%s: %s", p.File, p.Msg)
}

// Error is the error of Parse and Load for an invalid topology: every problem
// found, in line order.
type Error struct {
	Problems []Problem
}

// Error returns the problems, one "file:line: msg" per line.
func (e *Error) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Is reports whether target is ErrInvalid.
func (e *Error) Is(target error) bool { return target == ErrInvalid }

// problems collects the problems of one file.
type problems struct {
	file     string
	found    []Problem
	mappings int // read so far; see maxMappings
}

func (ps *problems) addf(line int, format string, args ...any) {
	ps.found = append(ps.found, Problem{File: ps.file, Line: line, Msg: fmt.Sprintf(format, args...)})
}

// err returns the problems found as an *Error sorted by line, or nil.
func (ps *problems) err() error {
	if len(ps.found) == 0 {
		return nil
	}
	list := slices.Clone(ps.found)
	slices.SortStableFunc(list, func(a, b Problem) int { return cmp.Compare(a.Line, b.Line) })
	return &Error{Problems: list}
}
