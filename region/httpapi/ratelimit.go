package httpapi

import (
	"context"
	"math"
	"sync"
	"time"
)

// Default rate limit of a token, sized for a frontend's whole traffic, which
// comes through one token. 250,000 operations per second is the peak read rate
// of a YouTube-scale like service, above what one peer answers in single-op
// requests over HTTP (a handler doing nothing serves about 52,000 requests/s on
// a small machine) and about the peer's batched write capacity, so a frontend
// never meets it before the peer's own capacity: a limiter that refuses the
// one legitimate frontend is an outage. What it stops is a second, runaway
// token spending more than a peer's worth. The burst of 500,000 is two seconds
// of it: a frontend reconnecting after a pause can flush 500 full batches at
// once. A token handed to a smaller client gets its own rate_limit.
const (
	DefaultRateLimit = 250_000
	DefaultBurst     = 500_000
)

// rateLimiter is a token bucket per client — per API token, per read token
// and client address, or per client address when the API is open — counting
// operations. Each call names the bucket's rate and burst, so a token whose
// limit a reload changed is held to the new one at once.
type rateLimiter struct {
	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time // of the last refill
	rate   float64   // operations per second, as of the last call
	burst  float64
}

func newRateLimiter() *rateLimiter {
	return &rateLimiter{buckets: map[string]*bucket{}}
}

// allow takes n operations from key's bucket, which refills at rate up to
// burst, at now, or takes none and reports how long until there are enough. A
// request of more operations than the burst waits for a full bucket and
// empties it: it is never refused for good.
func (l *rateLimiter) allow(key string, n int, rate, burst float64, now time.Time) (ok bool, wait time.Duration) {
	burst = max(burst, 1)
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil {
		b = &bucket{tokens: burst, last: now}
		l.buckets[key] = b
	}
	b.rate, b.burst = rate, burst
	if elapsed := now.Sub(b.last).Seconds(); elapsed > 0 {
		b.tokens += elapsed * rate
		b.last = now
	}
	b.tokens = math.Min(b.tokens, burst)
	cost := math.Min(float64(n), burst)
	if b.tokens >= cost {
		b.tokens -= cost
		return true, 0
	}
	return false, time.Duration((cost - b.tokens) / rate * float64(time.Second))
}

// prune drops the buckets that have refilled completely by now: a new bucket
// starts full, so dropping them changes nothing but memory.
func (l *rateLimiter) prune(now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for k, b := range l.buckets {
		if b.tokens+now.Sub(b.last).Seconds()*b.rate >= b.burst {
			delete(l.buckets, k)
		}
	}
}

// pruneEvery prunes the buckets every interval until ctx ends.
func (l *rateLimiter) pruneEvery(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			l.prune(now)
		}
	}
}
