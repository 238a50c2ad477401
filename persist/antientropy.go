package persist

import (
	"github.com/dgraph-io/badger/v4"

	"github.com/countermesh/countermesh/crdt"
)

// Digest returns a copy of the digest of the committed state. It is maintained
// incrementally on every commit; Open computes it once from disk.
func (s *Store) Digest() *Digest {
	d, _ := s.DigestAt()
	return d
}

// SameState reports whether the stores hold the same replicated state, by their
// digests (up to 64-bit hash collisions): how tests and demos tell a mesh has
// converged.
func SameState(stores ...*Store) bool {
	if len(stores) == 0 {
		return true
	}
	first := stores[0].Digest()
	for _, s := range stores[1:] {
		if *s.Digest() != *first {
			return false
		}
	}
	return true
}

// DigestAt returns a copy of the digest of the committed state together with the
// last committed local sequence it covers: every local change up to that sequence
// is reflected in the digest.
func (s *Store) DigestAt() (*Digest, uint64) {
	s.digest.Lock()
	defer s.digest.Unlock()
	d := s.digest.d
	return &d, s.lastSeq.Load()
}

// RecomputeDigest computes the digest from every stored counter and register,
// from one snapshot: the slow, obviously right definition the maintained digest
// must agree with.
func (s *Store) RecomputeDigest() (*Digest, error) {
	var d Digest
	err := s.Snapshot(1024, func(delta crdt.Delta) error {
		for k, c := range delta.Counters {
			d[BucketOf(k.Item)] ^= digestOfCounter(k, c)
		}
		for k, r := range delta.Registers {
			d[BucketOf(k.Item)] ^= registerHash(k, r)
		}
		for k, rec := range delta.Idem {
			d[BucketOf(k.Item)] ^= idemHash(k, rec)
		}
		return nil
	})
	return &d, err
}

// BucketStates calls fn with the states of every key in the given digest buckets,
// as deltas of at most maxKeys keys, from one snapshot: what anti-entropy sends
// for buckets whose digests differ.
func (s *Store) BucketStates(buckets []int, maxKeys int, fn func(crdt.Delta) error) error {
	return s.view(func(txn *badger.Txn) error {
		c := &chunker{max: maxKeys, fn: fn}
		for _, b := range sortedBuckets(buckets) {
			if err := c.scan(txn, bucketPrefix(nil, prefixCounter, b), bucketPrefix(nil, prefixRegister, b),
				bucketPrefix(nil, prefixKeyed, b)); err != nil {
				return err
			}
		}
		return c.flush()
	})
}
