package persist

import (
	"github.com/countermesh/countermesh/crdt"
	"github.com/countermesh/countermesh/crdt/digest"
)

// The digest of the committed state (see Digest) is computed once by Open — taken
// from the one saved at the last clean Close, or recomputed from every key — and
// then kept up to date by publish at every commit, together with the last
// committed sequence it covers. Anti-entropy compares digests to find the buckets
// whose states differ (Store.BucketStates).

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
			d[BucketOf(k.Item)] ^= digest.Counter(k, c)
		}
		for k, r := range delta.Registers {
			d[BucketOf(k.Item)] ^= digest.Register(k, r)
		}
		for k, rec := range delta.Idem {
			d[BucketOf(k.Item)] ^= idemHash(k, rec)
		}
		return nil
	})
	return &d, err
}

// openDigest returns the digest of the committed state: the one saved at the
// last clean Close, or one recomputed from the whole keyspace.
func (s *Store) openDigest() (*Digest, error) {
	d, err := s.takeSavedDigest()
	if err != nil || d != nil {
		return d, err
	}
	return s.RecomputeDigest()
}
