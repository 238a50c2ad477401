package region

import (
	"context"
	"time"
)

// The loops of the peer's goroutines: the membership's re-join, the links'
// anti-entropy, the change-log trimming and the topology watch each run
// every; the membership wakes the link manager with signal.

// every calls f every interval until ctx ends.
func every(ctx context.Context, interval time.Duration, f func()) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			f()
		}
	}
}

// signal makes a pending wake-up on c, a channel of capacity 1, unless one is
// pending already. It never blocks.
func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}
