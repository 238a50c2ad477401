package crdt

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"time"
)

// Timestamp is a hybrid logical clock reading: physical milliseconds since the Unix
// epoch plus a logical counter that orders events within one millisecond. The zero
// Timestamp is before every reading a Clock can produce.
type Timestamp struct {
	Wall    int64  // physical time, milliseconds since the Unix epoch
	Logical uint32 // orders readings that share Wall
}

// Compare returns -1, 0 or +1 as t is before, equal to or after o.
func (t Timestamp) Compare(o Timestamp) int {
	switch {
	case t.Wall < o.Wall:
		return -1
	case t.Wall > o.Wall:
		return 1
	case t.Logical < o.Logical:
		return -1
	case t.Logical > o.Logical:
		return 1
	}
	return 0
}

// Before reports whether t orders strictly before o.
func (t Timestamp) Before(o Timestamp) bool { return t.Compare(o) < 0 }

// IsZero reports whether t is the zero Timestamp.
func (t Timestamp) IsZero() bool { return t == Timestamp{} }

// String renders t as wall-millis.logical.
func (t Timestamp) String() string { return fmt.Sprintf("%d.%d", t.Wall, t.Logical) }

// next returns the smallest Timestamp after t.
func (t Timestamp) next() Timestamp {
	if t.Logical == math.MaxUint32 {
		return Timestamp{Wall: t.Wall + 1}
	}
	return Timestamp{Wall: t.Wall, Logical: t.Logical + 1}
}

// ErrClockDrift is matched (errors.Is) by every *DriftError.
var ErrClockDrift = errors.New("crdt: remote timestamp beyond max clock drift")

// DriftError reports a remote timestamp further ahead of the local wall clock than
// the configured maximum drift. The timestamp was not observed; the data carrying it
// should be kept by its sender and offered again later.
type DriftError struct {
	Remote    Timestamp     // the refused timestamp
	LocalWall int64         // local wall clock, ms, when it was refused
	MaxDrift  time.Duration // the configured bound
}

// Error describes the skew.
func (e *DriftError) Error() string {
	return fmt.Sprintf("crdt: remote timestamp %s is %s ahead of local wall clock (max drift %s)",
		e.Remote, e.Ahead(), e.MaxDrift)
}

// Ahead is how far the remote timestamp is ahead of the local wall clock.
func (e *DriftError) Ahead() time.Duration {
	return time.Duration(e.Remote.Wall-e.LocalWall) * time.Millisecond
}

// Is makes errors.Is(err, ErrClockDrift) true.
func (e *DriftError) Is(target error) bool { return target == ErrClockDrift }

// DefaultMaxDrift is how far ahead of local wall time a remote timestamp may be.
const DefaultMaxDrift = 60 * time.Second

// Clock is a hybrid logical clock. Its readings never go backwards, even when the
// wall clock does, and a reading taken after Observe(ts) orders after ts.
// A Clock is safe for concurrent use.
type Clock struct {
	wall     func() time.Time
	maxDrift time.Duration

	mu struct {
		sync.Mutex
		last Timestamp // highest reading handed out or observed
	}
}

// NewClock returns a Clock reading wall (time.Now when nil) and refusing remote
// timestamps more than maxDrift ahead (DefaultMaxDrift when zero or negative).
func NewClock(wall func() time.Time, maxDrift time.Duration) *Clock {
	if wall == nil {
		wall = time.Now
	}
	if maxDrift <= 0 {
		maxDrift = DefaultMaxDrift
	}
	c := &Clock{wall: wall, maxDrift: maxDrift}
	return c
}

// MaxDrift returns the configured drift bound.
func (c *Clock) MaxDrift() time.Duration { return c.maxDrift }

// WallMillis reads the wall clock in milliseconds since the Unix epoch.
func (c *Clock) WallMillis() int64 { return c.wall().UnixMilli() }

// Now returns a reading after every reading returned or observed before.
func (c *Clock) Now() Timestamp {
	pt := c.WallMillis()
	c.mu.Lock()
	defer c.mu.Unlock()
	if pt > c.mu.last.Wall {
		c.mu.last = Timestamp{Wall: pt}
	} else {
		c.mu.last = c.mu.last.next()
	}
	return c.mu.last
}

// Observe records a timestamp seen from another replica (or carried by a client's
// causal token) so that later readings order after it. A timestamp more than
// MaxDrift ahead of the local wall clock is refused with a *DriftError and leaves
// the clock unchanged.
func (c *Clock) Observe(remote Timestamp) error {
	pt := c.WallMillis()
	if remote.Wall > pt+c.maxDrift.Milliseconds() {
		return &DriftError{Remote: remote, LocalWall: pt, MaxDrift: c.maxDrift}
	}
	c.Restore(remote)
	return nil
}

// Restore advances the clock to at least hw without the drift check. A peer calls
// it at start with the high-water mark it persisted, so its readings never go
// backwards across a restart even if the wall clock did.
func (c *Clock) Restore(hw Timestamp) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mu.last.Before(hw) {
		c.mu.last = hw
	}
}

// Last returns the highest reading handed out or observed so far.
func (c *Clock) Last() Timestamp {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mu.last
}
