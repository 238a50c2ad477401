package bench

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
)

// reads is scenario 3: pages of items with the caller's reaction to each, after
// a preload of writes; for countermesh also paced at half the peak rate.
func (r *runner) reads(ctx context.Context, sys system) error {
	if err := r.preload(ctx, sys); err != nil {
		return fmt.Errorf("%s: preload: %w", sys.name(), err)
	}
	n := r.cfg.PageSize
	peak := r.measure(ctx, scenReads, casePage, sys.name(), r.phase(1, 0), func(seed uint64) call {
		g := r.work.generator(seed)
		return func(ctx context.Context) error { items, user := g.page(n); return sys.readPage(ctx, items, user) }
	})
	if sys.name() == sysCountermesh && peak.OpsPerSec > 0 {
		r.measure(ctx, scenReads, caseHalfReads, sys.name(), r.phase(1, peak.OpsPerSec/2), func(seed uint64) call {
			g := r.work.generator(seed)
			return func(ctx context.Context) error { items, user := g.page(n); return sys.readPage(ctx, items, user) }
		})
	}
	return nil
}

// preload makes the configured number of writes, in batches from a few clients,
// so reads find data.
func (r *runner) preload(ctx context.Context, sys system) error {
	r.progress("%s / preload %d writes / %s", scenReads, r.cfg.Preload, sys.name())
	var (
		left     atomic.Int64
		firstErr error
		once     sync.Once
		wg       sync.WaitGroup
	)
	left.Store(int64(r.cfg.Preload))
	base := r.nextSeed()
	for c := range 8 {
		g := r.work.generator(base + uint64(c))
		wg.Go(func() {
			for ctx.Err() == nil {
				n := min(int64(r.cfg.BatchSize), left.Add(-int64(r.cfg.BatchSize))+int64(r.cfg.BatchSize))
				if n <= 0 {
					return
				}
				if err := sys.writeBatch(ctx, g.ops(int(n), "")); err != nil {
					once.Do(func() { firstErr = err })
					return
				}
			}
		})
	}
	wg.Wait()
	return firstErr
}
