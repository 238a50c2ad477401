package edgelog

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// fakeClock is a Limiter's clock, moved by hand.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func newTestLimiter(interval time.Duration, maxSources int) (*Limiter, *fakeClock) {
	c := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	l := New(interval, maxSources)
	l.now = c.now
	return l, c
}

func TestAllowOncePerSourcePerInterval(t *testing.T) {
	l, clock := newTestLimiter(time.Minute, 10)
	type step struct {
		advance    time.Duration
		src        string
		log        bool
		suppressed int
	}
	steps := []step{
		{0, "10.0.0.1", true, 0},
		{time.Second, "10.0.0.1", false, 0},
		{time.Second, "10.0.0.1", false, 0},
		{0, "10.0.0.2", true, 0}, // another source has its own allowance
		{58 * time.Second, "10.0.0.1", true, 2},
		{time.Second, "10.0.0.1", false, 0},
		{time.Minute, "10.0.0.1", true, 1},
		{time.Minute, "10.0.0.1", true, 0},
	}
	for i, s := range steps {
		clock.t = clock.t.Add(s.advance)
		log, suppressed := l.Allow(s.src)
		if log != s.log || suppressed != s.suppressed {
			t.Errorf("step %d (%s): Allow = %v, %d; want %v, %d", i, s.src, log, suppressed, s.log, s.suppressed)
		}
	}
}

func TestAllowBoundedSources(t *testing.T) {
	l, clock := newTestLimiter(time.Minute, 3)
	logged := 0
	for i := range 1000 {
		if ok, _ := l.Allow(fmt.Sprintf("10.0.%d.%d", i/256, i%256)); ok {
			logged++
		}
	}
	// Three sources, then one shared allowance for all the others.
	if logged != 4 {
		t.Errorf("1,000 sources at once logged %d lines, want 4", logged)
	}
	if n := len(l.sources); n > 4 {
		t.Errorf("tracking %d sources, want at most 4", n)
	}
	// Once the old sources are quiet for an interval, new ones get their own.
	clock.t = clock.t.Add(time.Minute)
	if ok, _ := l.Allow("192.0.2.1"); !ok {
		t.Error("a new source after the interval was suppressed")
	}
	if ok, _ := l.Allow("192.0.2.2"); !ok {
		t.Error("a second new source after the interval was suppressed")
	}
}

func TestLogWritesRemoteAndSuppressed(t *testing.T) {
	l, clock := newTestLimiter(time.Minute, 10)
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, nil))
	for range 5 {
		l.Log(logger, slog.LevelWarn, "10.0.0.1:4000", "refused", "reason", "x")
	}
	l.Log(logger, slog.LevelWarn, "10.0.0.1:4001", "refused", "reason", "x") // same host, other port
	clock.t = clock.t.Add(time.Minute)
	l.Log(logger, slog.LevelWarn, "10.0.0.1:4002", "refused", "reason", "y")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("logged %d lines, want 2:\n%s", len(lines), buf.String())
	}
	for _, want := range []string{"level=WARN", "msg=refused", "remote=10.0.0.1:4000", "reason=x"} {
		if !strings.Contains(lines[0], want) {
			t.Errorf("first line %q lacks %q", lines[0], want)
		}
	}
	if strings.Contains(lines[0], "suppressed") {
		t.Errorf("first line %q reports suppressed lines", lines[0])
	}
	if !strings.Contains(lines[1], "remote=10.0.0.1:4002") || !strings.Contains(lines[1], "suppressed=5") {
		t.Errorf("second line %q does not carry its address and 5 suppressed", lines[1])
	}
}

func TestHost(t *testing.T) {
	for in, want := range map[string]string{
		"10.0.0.1:7000": "10.0.0.1",
		"[::1]:7000":    "::1",
		"10.0.0.1":      "10.0.0.1",
		"":              "",
	} {
		if got := Host(in); got != want {
			t.Errorf("Host(%q) = %q, want %q", in, got, want)
		}
	}
}
