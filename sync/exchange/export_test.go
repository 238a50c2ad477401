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

// LinksServed returns how many links to the named peer e is serving now.
func LinksServed(e *Exchange, name string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	if p, ok := e.peers[name]; ok {
		return p.links
	}
	return 0
}
