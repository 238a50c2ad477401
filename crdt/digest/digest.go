// Package digest holds the bucket digest of a replica's replicated state, which
// anti-entropy compares to find the keys two replicas hold differently
// (DESIGN.md §3): the keyspace split into Buckets by item, and one 64-bit hash per
// bucket, the XOR of the hashes of the entries in it.
//
// The package is pure, like crdt: no I/O, standard library only. The store keeps
// a digest up to date as it commits; the sync protocol sends and compares it.
package digest

import "slices"

// Buckets is how many buckets the keyspace is split into for anti-entropy.
// All keys of an item fall in bucket BucketOf(item).
const Buckets = 4096

// Digest is one hash per bucket of a replica's whole replicated state. Two replicas
// whose digests agree on a bucket hold the same states for every key in it (up to
// 64-bit hash collisions); anti-entropy exchanges only the buckets that differ.
//
// A bucket's hash is the XOR of a hash of every counter entry (key, replica, P, N),
// every register (key, kind, timestamp, replica) and every record of a keyed
// increment (key, encoded record) in it, so it is maintained
// incrementally: a change XORs the old entry out and the new one in.
type Digest [Buckets]uint64

// Differing returns the buckets where d and o differ, ascending.
func (d *Digest) Differing(o *Digest) []int {
	var out []int
	for i := range d {
		if d[i] != o[i] {
			out = append(out, i)
		}
	}
	return out
}

// BucketOf returns the digest bucket of item: FNV-1a, folded.
func BucketOf(item string) int {
	h := uint64(14695981039346656037)
	for i := 0; i < len(item); i++ {
		h ^= uint64(item[i])
		h *= 1099511628211
	}
	return int((h ^ h>>32) % Buckets)
}

// SortedBuckets returns the distinct buckets of buckets, ascending and in range.
func SortedBuckets(buckets []int) []int {
	out := slices.Clone(buckets)
	slices.Sort(out)
	out = slices.Compact(out)
	return slices.DeleteFunc(out, func(b int) bool { return b < 0 || b >= Buckets })
}
