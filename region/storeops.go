package region

import (
	"context"

	"github.com/countermesh/countermesh/crdt"
	"github.com/countermesh/countermesh/persist"
)

// The store operations the frontend API uses (httpapi.Backend), delegated to
// the peer's store so that the API never holds the store itself. Each is safe
// for concurrent use from request goroutines; only Write blocks for long.

// Write applies ops atomically and returns once they are durable, as
// persist.Store.Write does: it blocks until then or until ctx ends.
func (p *Peer) Write(ctx context.Context, ops ...persist.Op) ([]persist.Result, error) {
	return p.store.Write(ctx, ops...)
}

// ReadItemsInto reads items into views, reusing their maps, as
// persist.Store.ReadItemsInto does.
func (p *Peer) ReadItemsInto(items []string, user string, views []persist.ItemView) error {
	return p.store.ReadItemsInto(items, user, views)
}

// LastSeq returns the sequence of the last committed local change.
func (p *Peer) LastSeq() uint64 { return p.store.LastSeq() }

// Replica returns the replica id of the peer's store.
func (p *Peer) Replica() crdt.ReplicaID { return p.store.Replica() }

// WallMillis reads the wall clock of the store's hybrid clock, in milliseconds
// since the Unix epoch.
func (p *Peer) WallMillis() int64 { return p.store.Clock().WallMillis() }

// LastTimestamp returns the highest timestamp the store's clock has handed out
// or observed.
func (p *Peer) LastTimestamp() crdt.Timestamp { return p.store.Clock().Last() }

// ObserveTimestamp makes the store's later timestamps order after ts; a ts
// beyond the max drift is refused with a *crdt.DriftError.
func (p *Peer) ObserveTimestamp(ts crdt.Timestamp) error { return p.store.Clock().Observe(ts) }

// Committed returns a channel closed when the store's next batch commits.
func (p *Peer) Committed() <-chan struct{} { return p.store.Committed() }

// CheckFreeSpace returns an error matching persist.ErrDiskFull while the data
// directory is below the store's free-space reserve; it costs one statfs call.
func (p *Peer) CheckFreeSpace() error { return p.store.CheckFreeSpace() }

// DiskSize returns the bytes the store takes on disk: tables and value log.
func (p *Peer) DiskSize() (lsm, vlog int64) { return p.store.DiskSize() }

// CommitStats returns the store's commit counts, as persist.Store.CommitStats
// does.
func (p *Peer) CommitStats() persist.CommitStats { return p.store.CommitStats() }
