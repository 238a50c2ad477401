package exchange

import (
	"slices"
	"time"

	"github.com/countermesh/countermesh/crdt"
)

// SetClock makes e's sending sessions read and wait on c instead of the real
// clock. Call it before Serve.
func SetClock(e *Exchange, c interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}) {
	e.clock = c
}

// LinksServed returns how many links to the named peer e is serving now.
func LinksServed(e *Exchange, name string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	if p, ok := e.peers[name]; ok {
		return p.links
	}
	return 0
}

// ChangeLog is a change log in memory, as the sender's scripts keep one, for
// the stores of tests. It is not safe for concurrent use.
type ChangeLog = scriptLog

// Commit appends the keys a committed sequence changed.
func (l *scriptLog) Commit(seq uint64, keys crdt.KeySet) {
	l.entries = append(l.entries, scriptEntry{seq: seq, keys: keys})
}

// Trim drops the entries at or before upTo.
func (l *scriptLog) Trim(upTo uint64) {
	l.entries = slices.DeleteFunc(l.entries, func(e scriptEntry) bool { return e.seq <= upTo })
}
