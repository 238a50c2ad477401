// Package edgelog logs what the mesh's network edge refuses — handshakes from
// strangers, junk gossip packets — without letting whoever sends them flood
// the log: at most one line per source address per interval, the next one
// saying how many were suppressed meanwhile.
//
// A [Limiter] is safe for concurrent use; its memory is bounded by the number
// of sources it tracks (past that, new sources share one allowance).
package edgelog

import (
	"context"
	"log/slog"
	"net"
	"sync"
	"time"
)

// Defaults of [New].
const (
	// DefaultInterval is how long a source stays quiet after a logged line.
	DefaultInterval = time.Minute
	// DefaultMaxSources is how many sources a Limiter tracks at once.
	DefaultMaxSources = 4096
)

// overflow is the source of every event that finds the Limiter full.
const overflow = "\x00other sources"

// Limiter decides which events from which sources are logged: the first from
// a source, then the first after Interval has passed, with the count of those
// suppressed in between.
type Limiter struct {
	interval time.Duration
	max      int
	now      func() time.Time

	mu      sync.Mutex
	sources map[string]*source
}

// source is what a Limiter remembers of one source.
type source struct {
	logged     time.Time // when its last line was logged
	suppressed int       // events not logged since
}

// New returns a Limiter logging at most once per interval per source and
// tracking at most maxSources sources. Zero or negative values mean
// DefaultInterval and DefaultMaxSources.
func New(interval time.Duration, maxSources int) *Limiter {
	if interval <= 0 {
		interval = DefaultInterval
	}
	if maxSources <= 0 {
		maxSources = DefaultMaxSources
	}
	return &Limiter{interval: interval, max: maxSources, now: time.Now, sources: map[string]*source{}}
}

// Allow records an event from src (an address's host, see [Host]) and
// reports whether to log it, and if so how many events of src were
// suppressed since its last logged one. Once the Limiter tracks maxSources
// sources and none of them is quiet for a whole interval, the events of new
// sources share a single allowance.
func (l *Limiter) Allow(src string) (log bool, suppressed int) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	s, ok := l.sources[src]
	if !ok {
		if len(l.sources) >= l.max {
			l.prune(now)
		}
		if len(l.sources) >= l.max {
			src = overflow
			s = l.sources[src]
		}
	}
	if s == nil {
		s = &source{}
		l.sources[src] = s
		s.logged = now
		return true, 0
	}
	if now.Sub(s.logged) < l.interval {
		s.suppressed++
		return false, 0
	}
	suppressed, s.suppressed, s.logged = s.suppressed, 0, now
	return true, suppressed
}

// prune forgets the sources whose last line is over an interval old (and
// the count of what they had suppressed since).
func (l *Limiter) prune(now time.Time) {
	for k, s := range l.sources {
		if now.Sub(s.logged) >= l.interval {
			delete(l.sources, k)
		}
	}
}

// Log logs msg with args on logger at level, from the source addr, unless
// the Limiter suppresses it: the line carries addr as "remote" and, when
// events of its source were suppressed, their count as "suppressed". It
// reports whether it logged.
func (l *Limiter) Log(logger *slog.Logger, level slog.Level, addr string, msg string, args ...any) bool {
	ok, suppressed := l.Allow(Host(addr))
	if !ok {
		return false
	}
	args = append([]any{"remote", addr}, args...)
	if suppressed > 0 {
		args = append(args, "suppressed", suppressed)
	}
	logger.Log(context.Background(), level, msg, args...)
	return true
}

// Host returns the host of addr ("host:port"), the source a refusal is
// counted against: a sender changing ports is one source. An addr without a
// port is returned as it is.
func Host(addr string) string {
	if host, _, err := net.SplitHostPort(addr); err == nil {
		return host
	}
	return addr
}
