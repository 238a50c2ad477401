// Package edgelogtest records log lines, for tests that count what a peer
// logs about what it refused.
package edgelogtest

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
)

// Recorder is a slog.Handler that keeps every record it handles at or above
// its level, as text lines. It is safe for concurrent use; loggers derived
// with With or WithGroup record into the same Recorder.
type Recorder struct {
	level slog.Leveler
	attrs []slog.Attr
	rec   *records
}

type records struct {
	mu    sync.Mutex
	lines []string
}

// NewRecorder returns a Recorder keeping records at level or above.
func NewRecorder(level slog.Leveler) *Recorder {
	return &Recorder{level: level, rec: &records{}}
}

// Enabled reports whether level is recorded.
func (r *Recorder) Enabled(_ context.Context, level slog.Level) bool {
	return level >= r.level.Level()
}

// Handle records one line: "LEVEL msg key=value ...", the attributes of With
// first.
func (r *Recorder) Handle(_ context.Context, rec slog.Record) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", rec.Level, rec.Message)
	for _, a := range r.attrs {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
	}
	rec.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	r.rec.mu.Lock()
	r.rec.lines = append(r.rec.lines, b.String())
	r.rec.mu.Unlock()
	return nil
}

// WithAttrs returns a Handler recording attrs on every line too.
func (r *Recorder) WithAttrs(attrs []slog.Attr) slog.Handler {
	c := *r
	c.attrs = append(append([]slog.Attr(nil), r.attrs...), attrs...)
	return &c
}

// WithGroup returns r: groups are not recorded.
func (r *Recorder) WithGroup(string) slog.Handler { return r }

// Lines returns the lines recorded so far that contain every one of subs.
func (r *Recorder) Lines(subs ...string) []string {
	r.rec.mu.Lock()
	defer r.rec.mu.Unlock()
	var out []string
	for _, l := range r.rec.lines {
		all := true
		for _, s := range subs {
			all = all && strings.Contains(l, s)
		}
		if all {
			out = append(out, l)
		}
	}
	return out
}
