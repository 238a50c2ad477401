package exchange

import "time"

// SetClock makes e's sending sessions read and wait on c instead of the real
// clock. Call it before Serve.
func SetClock(e *Exchange, c interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}) {
	e.clock = c
}
