package region

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// ErrClockSkew is matched by Ready's error when this peer's wall clock is beyond
// the max drift from most of the mesh (DESIGN §2): the peer must stop taking
// writes until its clock is fixed, since its timestamps would win every register
// or be refused everywhere.
var ErrClockSkew = errors.New("region: this peer's clock is beyond the max drift from most of the mesh")

// clockSampleTTL is how long a peer's clock sample counts.
const clockSampleTTL = 2 * time.Minute

// clockVerdictTTL is how long verdict reuses a check: the write path asks on
// every write.
const clockVerdictTTL = time.Second

// clockSkew estimates how far this peer's wall clock is from its peers'. Each
// peer puts its wall clock in the acks of memberlist's pings (8 bytes, Unix
// milliseconds); the pinging peer compares it with its own clock at the middle
// of the round trip. Its methods are called from memberlist's goroutines and
// must not block.
type clockSkew struct {
	wall     func() time.Time
	maxDrift time.Duration

	mu      sync.Mutex
	samples map[string]clockSample // by peer name

	last atomic.Pointer[clockVerdict] // the latest check
}

// clockVerdict is the outcome of one check.
type clockVerdict struct {
	err error
	at  time.Time
}

// clockSample is one estimate of a peer's clock minus ours.
type clockSample struct {
	offset time.Duration
	at     time.Time // by our wall clock
}

func newClockSkew(wall func() time.Time, maxDrift time.Duration) *clockSkew {
	return &clockSkew{wall: wall, maxDrift: maxDrift, samples: map[string]clockSample{}}
}

// ackPayload is what this peer puts in its ping acks: its wall clock.
func (c *clockSkew) ackPayload() []byte {
	return binary.BigEndian.AppendUint64(nil, uint64(c.wall().UnixMilli()))
}

// observe records a peer's clock from the payload of its ack, received rtt
// after the ping was sent. Payloads of any other size are ignored.
func (c *clockSkew) observe(peer string, rtt time.Duration, payload []byte) {
	if len(payload) != 8 || peer == "" {
		return
	}
	remote := time.UnixMilli(int64(binary.BigEndian.Uint64(payload)))
	now := c.wall()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.samples[peer] = clockSample{offset: remote.Sub(now.Add(-rtt / 2)), at: now}
}

// forget drops a peer's sample (it left the topology).
func (c *clockSkew) forget(peer string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.samples, peer)
}

// verdict returns what check returned at most clockVerdictTTL ago, checking
// again when that is older: an atomic load on most calls.
func (c *clockSkew) verdict() error {
	now := c.wall()
	if v := c.last.Load(); v != nil && now.Sub(v.at) < clockVerdictTTL && now.Sub(v.at) >= 0 {
		return v.err
	}
	err := c.check()
	c.last.Store(&clockVerdict{err: err, at: now})
	return err
}

// check returns an error matching ErrClockSkew when most of the peers with a
// fresh sample — at least two of them, so that two peers never both blame
// each other — have a clock more than maxDrift from ours.
func (c *clockSkew) check() error {
	now := c.wall()
	c.mu.Lock()
	defer c.mu.Unlock()
	var fresh, off []time.Duration
	for peer, s := range c.samples {
		if age := now.Sub(s.at); age > clockSampleTTL || age < -clockSampleTTL {
			delete(c.samples, peer)
			continue
		}
		fresh = append(fresh, s.offset)
		if s.offset > c.maxDrift || s.offset < -c.maxDrift {
			off = append(off, s.offset)
		}
	}
	if len(fresh) < 2 || 2*len(off) <= len(fresh) {
		return nil
	}
	slices.Sort(off)
	median := off[len(off)/2]
	return fmt.Errorf("%w: %d of %d peers' clocks are more than %s from ours, ours is %v off theirs (median); fix this machine's clock",
		ErrClockSkew, len(off), len(fresh), c.maxDrift, -median.Round(time.Millisecond))
}
