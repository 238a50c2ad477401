package persist

import (
	"github.com/countermesh/countermesh/crdt"
	"github.com/countermesh/countermesh/crdt/codec"
	"github.com/countermesh/countermesh/crdt/digest"
)

// The store maintains the bucket digest of package digest as it commits. The
// names below are the ones the store's code uses for it.

// Digest is the bucket digest of a store's committed state: a digest.Digest.
type Digest = digest.Digest

// DigestBuckets is how many buckets a Digest has: digest.Buckets.
const DigestBuckets = digest.Buckets

// BucketOf returns the digest bucket of item, as digest.BucketOf does.
func BucketOf(item string) int { return digest.BucketOf(item) }

// registerHash is the digest entry of one register; zero for a never-written one.
func registerHash(k crdt.RegisterKey, r crdt.Register) uint64 { return digest.Register(k, r) }

// counterDigestChange is the XOR taking a counter's digest entries from old to new.
func counterDigestChange(k crdt.CounterKey, old, new crdt.PNCounter) uint64 {
	return digest.CounterChange(k, old, new)
}

// digestOfCounter is the XOR of all of a counter's digest entries.
func digestOfCounter(k crdt.CounterKey, c crdt.PNCounter) uint64 { return digest.Counter(k, c) }

// idemHash is the digest contribution of the record of k; zero for no record.
func idemHash(k crdt.IdemKey, rec crdt.IdemRecord) uint64 {
	if rec.Len() == 0 {
		return 0
	}
	return digest.IdemRecord(k, codec.EncodeIdemRecord(rec))
}

// sortedBuckets returns the distinct buckets of buckets, ascending and in range.
func sortedBuckets(buckets []int) []int { return digest.SortedBuckets(buckets) }
