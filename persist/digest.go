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

// idemHash is the digest contribution of the record of k; zero for no record.
func idemHash(k crdt.IdemKey, rec crdt.IdemRecord) uint64 {
	if rec.Len() == 0 {
		return 0
	}
	return digest.IdemRecord(k, codec.EncodeIdemRecord(rec))
}
