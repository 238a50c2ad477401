package bench

import (
	"context"
	"slices"
	"sync"
	"time"
)

// phase is one measured run of a load: clients calling as fast as they can
// (closed loop), or paced to a total rate (open loop).
type phase struct {
	clients  int
	warmup   time.Duration // calls made before the measurement starts, not counted
	duration time.Duration // the measurement
	// rate, when positive, paces the clients to rate calls/s in total. A call's
	// latency then counts from when it was due, not from when it was made, so a
	// stall delays every call behind it (no coordinated omission).
	rate float64
	// opsPerCall is how many operations one call carries (1, or a batch size).
	opsPerCall int
}

// phaseResult is what one phase measured.
type phaseResult struct {
	calls, errors int64
	elapsed       time.Duration
	lat           *Latencies // per call
	// late is, for a paced phase, how long after a call was due its client
	// woke to make it, when it had to sleep: the load generator's own lateness,
	// which the call's latency includes.
	late     *Latencies
	firstErr error
}

// opsPerSec returns the successful operations per second.
func (r phaseResult) opsPerSec(opsPerCall int) float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.calls*int64(opsPerCall)) / r.elapsed.Seconds()
}

// call makes one call of a client; each client gets its own from newCall, so it
// can keep its own generator.
type call func(ctx context.Context) error

// runPhase runs p with one goroutine per client and returns when every client
// stopped: at the end of the measurement or when ctx ends.
func runPhase(ctx context.Context, p phase, newCall func(client int) call) phaseResult {
	clients := max(p.clients, 1)
	t0 := time.Now()
	start := t0.Add(p.warmup)
	end := start.Add(p.duration)
	ctx, cancel := context.WithDeadline(ctx, end.Add(30*time.Second)) // a hung call cannot hang the run
	defer cancel()
	results := make([]phaseResult, clients)
	var wg sync.WaitGroup
	for i := range clients {
		c := newCall(i)
		wg.Go(func() { results[i] = runClient(ctx, p, i, clients, c, t0, start, end) })
	}
	wg.Wait()
	total := phaseResult{lat: NewLatencies(), late: NewLatencies(), elapsed: min(time.Since(start), p.duration)}
	for _, r := range results {
		total.calls += r.calls
		total.errors += r.errors
		total.lat.Merge(r.lat)
		total.late.Merge(r.late)
		if total.firstErr == nil {
			total.firstErr = r.firstErr
		}
	}
	return total
}

// runClient is one client of runPhase: it counts the calls started within
// [start, end) that completed.
func runClient(ctx context.Context, p phase, i, clients int, c call, t0, start, end time.Time) phaseResult {
	r := phaseResult{lat: NewLatencies(), late: NewLatencies()}
	var interval time.Duration
	due := t0
	if p.rate > 0 {
		interval = time.Duration(float64(clients) / p.rate * float64(time.Second))
		due = t0.Add(interval * time.Duration(i) / time.Duration(clients)) // clients staggered
	}
	for ctx.Err() == nil {
		if interval > 0 {
			if d := time.Until(due); d > 0 {
				if !sleepCtx(ctx, d) {
					break
				}
				if !due.Before(start) && due.Before(end) {
					r.late.Record(time.Since(due))
				}
			}
		} else {
			due = time.Now()
		}
		if !due.Before(end) {
			break
		}
		err := c(ctx)
		done := time.Now()
		if !due.Before(start) {
			if err != nil {
				if ctx.Err() != nil {
					break
				}
				r.errors++
				if r.firstErr == nil {
					r.firstErr = err
				}
			} else {
				r.calls++
				r.lat.Record(done.Sub(due))
			}
		}
		due = due.Add(interval)
	}
	return r
}

// sleepCtx sleeps for d and reports false when ctx ended first.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// median returns the median of xs (the mean of the two middle ones for an even
// count), or 0 for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}
