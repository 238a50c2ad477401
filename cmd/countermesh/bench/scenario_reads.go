package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/countermesh/countermesh/region/httpapi/client"
)

// reads is scenario 3: pages of items with the caller's reaction to each, after
// a preload of writes; for countermesh also paced at half the peak rate.
func (r *runner) reads(ctx context.Context, sys system) error {
	if err := r.preload(ctx, scenReads, sys); err != nil {
		return fmt.Errorf("%s: preload: %w", sys.name(), err)
	}
	n := r.cfg.PageSize
	peak := r.measure(ctx, scenReads, casePage, sys, r.phase(1, 0), func(seed uint64) call {
		g := r.work.generator(seed)
		return func(ctx context.Context) error { items, user := g.page(n); return sys.readPage(ctx, items, user) }
	})
	if sys.name() == sysCountermesh && peak.OpsPerSec > 0 {
		r.measure(ctx, scenReads, caseHalfReads, sys, r.phase(1, peak.OpsPerSec/2), func(seed uint64) call {
			g := r.work.generator(seed)
			return func(ctx context.Context) error { items, user := g.page(n); return sys.readPage(ctx, items, user) }
		})
	}
	return nil
}

// preload makes the configured number of writes, in batches from a few clients,
// so the reads of scenario find data. A batch the API's rate limit refuses is
// sent again after a pause, as a frontend would.
func (r *runner) preload(ctx context.Context, scenario string, sys system) error {
	r.progress("%s / preload %d writes / %s", scenario, r.cfg.Preload, sys.name())
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
				ops := g.ops(int(n), "")
				err := sys.writeBatch(ctx, ops)
				for errors.Is(err, client.ErrRateLimited) && sleepCtx(ctx, 50*time.Millisecond) {
					err = sys.writeBatch(ctx, ops)
				}
				if err != nil {
					once.Do(func() { firstErr = err })
					return
				}
			}
		})
	}
	wg.Wait()
	return firstErr
}
