package bench

import (
	"context"
)

// writes is scenario 1: durable writes to one system from many clients, one
// op per request and in batches; for countermesh also one op per request paced
// at half the peak rate, for the latency a peer gives with headroom.
func (r *runner) writes(ctx context.Context, sys system) error {
	single := r.measure(ctx, scenWrites, caseSingle, sys, r.phase(1, 0), func(seed uint64) call {
		g := r.work.generator(seed)
		return func(ctx context.Context) error { return sys.write(ctx, g.op("")) }
	})
	n := r.cfg.BatchSize
	r.measure(ctx, scenWrites, caseBatch, sys, r.phase(n, 0), func(seed uint64) call {
		g := r.work.generator(seed)
		return func(ctx context.Context) error { return sys.writeBatch(ctx, g.ops(n, "")) }
	})
	if sys.name() == sysCountermesh && single.OpsPerSec > 0 {
		r.measure(ctx, scenWrites, caseHalfWrites, sys, r.phase(1, single.OpsPerSec/2), func(seed uint64) call {
			g := r.work.generator(seed)
			return func(ctx context.Context) error { return sys.write(ctx, g.op("")) }
		})
	}
	return nil
}

// hot is scenario 2: every write, one op per request, to one item.
func (r *runner) hot(ctx context.Context, sys system) error {
	r.measure(ctx, scenHot, caseSingle, sys, r.phase(1, 0), func(seed uint64) call {
		g := r.work.generator(seed)
		return func(ctx context.Context) error { return sys.write(ctx, g.op(hotItem)) }
	})
	return nil
}
