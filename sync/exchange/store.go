package exchange

import (
	"context"

	"github.com/countermesh/countermesh/crdt"
	"github.com/countermesh/countermesh/crdt/digest"
	"github.com/countermesh/countermesh/persist"
)

// Store is what the exchange needs of a peer's durable store; *persist.Store is
// one. All methods are called from the exchange's goroutines concurrently.
type Store interface {
	// Replica is this store's replica id.
	Replica() crdt.ReplicaID
	// LastSeq is the last committed local sequence.
	LastSeq() uint64
	// Committed returns a channel closed at the next commit.
	Committed() <-chan struct{}
	// Changes returns keys changed locally after a sequence, up to about maxKeys,
	// and the sequence they cover up to.
	Changes(after uint64, maxKeys int) (crdt.KeySet, uint64, error)
	// LogStart is the first sequence the change log still holds.
	LogStart() (uint64, error)
	// TrimLog drops change-log records at or before a sequence.
	TrimLog(upTo uint64) error
	// State returns the current states of keys.
	State(keys crdt.KeySet) (crdt.Delta, error)
	// Merge joins a remote delta durably, refusing only the keys whose
	// timestamps are beyond the max clock drift.
	Merge(ctx context.Context, d crdt.Delta) (persist.MergeResult, error)
	// Acked and SetAcked read and raise a remote replica's acknowledged sequence.
	Acked(peer crdt.ReplicaID) (uint64, error)
	SetAcked(ctx context.Context, peer crdt.ReplicaID, seq uint64) error
	// DigestAt returns the anti-entropy digest and the sequence it covers.
	DigestAt() (*digest.Digest, uint64)
	// BucketStates returns the states of every key in some digest buckets.
	BucketStates(buckets []int, maxKeys int, fn func(crdt.Delta) error) error
}

var _ Store = (*persist.Store)(nil)
