package httpapi

import (
	"context"

	"github.com/countermesh/countermesh/crdt"
	"github.com/countermesh/countermesh/persist"
	"github.com/countermesh/countermesh/region"
)

// Backend is what the API needs of a peer: the operations it makes on the
// peer's store and what it reports of the peer. *region.Peer is one;
// httpapitest.Backend is an in-memory one for tests.
//
// The API calls every method from its request goroutines, concurrently, and
// from metric scrapes: each must be safe for concurrent use. Only Write may
// block for long; the others answer from memory (or with one system call, where
// said) and must not wait for writes or for other peers.
type Backend interface {
	// Write applies ops atomically — all or none — and returns once they are
	// durable, with one result per op, as persist.Store.Write does. Its errors
	// match persist's and crdt's sentinels (ErrInvalidOp, ErrIdempotencyConflict,
	// ErrOverflow, ErrClockDrift, ErrCommitFailed, ErrTooLarge, ErrClosed,
	// ErrDiskFull); the API answers each as documented. Request goroutines call
	// it with a context bounded by Config.WriteTimeout and detached from the
	// client; it blocks until the write is durable or ctx ends, when it returns
	// ctx's error and the ops may or may not be applied. Reactions are stamped
	// with the clock ObserveTimestamp advances.
	Write(ctx context.Context, ops ...persist.Op) ([]persist.Result, error)
	// ReadItemsInto reads items into views (one per item), with user's
	// register when user is not empty, as persist.Store.ReadItemsInto does:
	// every item reflects every write that returned before the call, its
	// counters and tallies from one commit; the maps views hold are cleared
	// and reused, and not kept. Request goroutines and the live streams'
	// encoder call it; it does not wait for writes in flight.
	ReadItemsInto(items []string, user string, views []persist.ItemView) error
	// LastSeq returns the sequence of the last committed local change. The API
	// reads it before a read, so the answer's causal token covers what the read
	// saw.
	LastSeq() uint64
	// Replica returns the peer's replica id; it does not change while the peer
	// runs.
	Replica() crdt.ReplicaID
	// WallMillis reads the wall clock of the peer's hybrid clock, in
	// milliseconds since the Unix epoch: how far ahead a causal token is.
	WallMillis() int64
	// LastTimestamp returns the highest timestamp the peer's clock has handed
	// out or observed; every register the peer stores is at most that.
	LastTimestamp() crdt.Timestamp
	// ObserveTimestamp makes the peer's later timestamps, and so the reactions
	// Write stamps, order after ts: a reaction written with a causal token wins
	// over what the token saw. A ts beyond the clock's max drift is refused
	// with a *crdt.DriftError and changes nothing.
	ObserveTimestamp(ts crdt.Timestamp) error
	// Committed returns a channel closed when the peer's next commit (a local
	// write or changes merged from another peer) is published. A causal wait
	// takes it before checking Applied, then waits on it, so no commit slips
	// between check and wait.
	Committed() <-chan struct{}
	// CheckFreeSpace returns nil while the peer's disk is above the store's
	// free-space reserve, else an error matching persist.ErrDiskFull. /readyz
	// and metric scrapes call it; it may make one system call.
	CheckFreeSpace() error
	// DiskSize returns the bytes the peer's store takes on disk (tables and
	// value log) as last measured. Metric scrapes call it.
	DiskSize() (lsm, vlog int64)
	// CommitStats returns the store's commit counts since it opened, as
	// persist.Store.CommitStats does; /metrics reads it at every scrape.
	CommitStats() persist.CommitStats

	// Status reports the mesh as the peer sees it (/v1/mesh, lag metrics).
	Status() region.MeshStatus
	// Ready returns nil when the peer serves, else why not (/readyz).
	Ready() error
	// Writable returns nil when the peer takes writes, else why not; the API
	// answers writes 503 then. It is called on every write and must be cheap.
	Writable() error
	// Applied returns the highest sequence of replica's own changes readable at
	// this peer: what a causal token waits for. For the peer's own replica it
	// is at least LastSeq.
	Applied(replica crdt.ReplicaID) uint64
	// ReactionKinds returns the reaction kinds in force.
	ReactionKinds() []string
	// Follow calls f with the items each commit changed — the API's own
	// writes, writes made around it and changes merged from other peers alike
	// — once they are readable, until stop is called: the commit feed
	// (persist.Store.Follow). Run follows it to notify the live streams. f
	// returns at once; stop is idempotent.
	Follow(f func(items []string)) (stop func())
}
