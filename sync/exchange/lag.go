package exchange

import (
	"sort"
	"sync"
	"time"
)

// commitTimes remembers when recent local sequences were first seen committed, to
// tell how old a peer's oldest unacknowledged change is.
type commitTimes struct {
	mu      sync.Mutex
	entries []seqTime // ascending seq; bounded
}

type seqTime struct {
	seq uint64
	at  time.Time
}

const maxCommitTimes = 4096

// note records that seq was committed by now (only if newer than the last noted).
func (c *commitTimes) note(seq uint64, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n := len(c.entries); n > 0 && c.entries[n-1].seq >= seq {
		return
	}
	if len(c.entries) == maxCommitTimes {
		copy(c.entries, c.entries[maxCommitTimes/2:])
		c.entries = c.entries[:maxCommitTimes/2]
	}
	c.entries = append(c.entries, seqTime{seq, now})
}

// ageOfFirstAfter is how long ago the first sequence after acked was committed, as
// far as the record goes (older than the record: the age of its oldest entry).
func (c *commitTimes) ageOfFirstAfter(acked uint64, now time.Time) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	i := sort.Search(len(c.entries), func(i int) bool { return c.entries[i].seq > acked })
	if i == len(c.entries) {
		return 0
	}
	return now.Sub(c.entries[i].at)
}
