package bench

import (
	"context"
	"fmt"
)

// mixed is scenario 6: the job of a like service, from the configured clients.
// Each call is a page read (mixedReadPct percent) of PageSize Zipf-chosen items
// with the reader's reaction to each, or one write: a reaction set, changed or
// cleared, or claps. It runs after a preload of writes, unless reads ran one.
func (r *runner) mixed(ctx context.Context, sys system) error {
	if !r.has(ScenarioReads) {
		if err := r.preload(ctx, scenMixed, sys); err != nil {
			return fmt.Errorf("%s: preload: %w", sys.name(), err)
		}
	}
	n := r.cfg.PageSize
	row := r.measure(ctx, scenMixed, caseMixed, sys, r.phase(1, 0), func(seed uint64) call {
		g := r.work.generator(seed)
		return func(ctx context.Context) error {
			s := g.mixed(n)
			if s.read {
				return sys.readPage(ctx, s.items, s.user)
			}
			return sys.write(ctx, s.op)
		}
	})
	// What was counted comes first, before what measure noted of the runs.
	row.Note = joinNotes(fmt.Sprintf("calls/s: a page read or one write, %d%% reads", mixedReadPct), row.Note)
	return nil
}
