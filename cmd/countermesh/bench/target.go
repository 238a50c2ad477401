package bench

import (
	"context"

	"github.com/countermesh/countermesh/persist"
)

// system is one system under test, serving the workload's writes and reads.
// Its methods are called from many client goroutines at once.
type system interface {
	name() string
	// write applies one operation, durably, as one request.
	write(ctx context.Context, op persist.Op) error
	// writeBatch applies ops, durably, as one request.
	writeBatch(ctx context.Context, ops []persist.Op) error
	// readPage reads items' counts with user's reaction to each, as one request.
	readPage(ctx context.Context, items []string, user string) error
	// close stops the system and removes its data.
	close() error
}

// ceilinged is a system whose stack serves a no-op request: the ceiling of
// its throughput.
type ceilinged interface {
	// noop makes one no-op request through the same stack, clients and
	// connections as the workload's.
	noop(ctx context.Context) error
}
