package persist

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"
)

// A digest saved at a clean Close spares the next Open a scan of the whole
// keyspace (46 s for 10 million registers). Open takes it and deletes it in the
// same durable transaction, so after a crash — when the saved digest may no
// longer match — there is none, and Open recomputes.
//
// Its value: savedDigestVersion, then the 4,096 bucket hashes, 8 bytes each,
// big-endian. It is private to the store and never leaves the machine.
const savedDigestVersion = 1

const savedDigestLen = 1 + 8*DigestBuckets

func encodeSavedDigest(d *Digest) []byte {
	b := make([]byte, 1, savedDigestLen)
	b[0] = savedDigestVersion
	for _, h := range d {
		b = binary.BigEndian.AppendUint64(b, h)
	}
	return b
}

func decodeSavedDigest(b []byte) (*Digest, error) {
	if len(b) != savedDigestLen || b[0] != savedDigestVersion {
		return nil, fmt.Errorf("saved digest of %d bytes, version %d", len(b), b[0])
	}
	var d Digest
	for i := range d {
		d[i] = binary.BigEndian.Uint64(b[1+8*i:])
	}
	return &d, nil
}

// takeSavedDigest returns the digest saved at the last clean Close, deleting it,
// or nil if there is none (a new store, or the last run did not close cleanly).
func (s *Store) takeSavedDigest() (*Digest, error) {
	var d *Digest
	err := s.db.Update(func(txn *badger.Txn) error {
		item, err := txn.Get(keyDigest)
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		err = item.Value(func(v []byte) (err error) { d, err = decodeSavedDigest(v); return })
		if err != nil {
			s.opts.Logger.Warn("persist: saved digest unreadable; recomputing", "err", err)
			d = nil
		}
		return txn.Delete(keyDigest)
	})
	return d, translate(err)
}

// saveDigest saves the digest of the committed state, once nothing commits any
// more. A failure only costs the next Open a recomputation.
func (s *Store) saveDigest() {
	s.digest.Lock()
	v := encodeSavedDigest(&s.digest.d)
	s.digest.Unlock()
	err := s.db.Update(func(txn *badger.Txn) error { return txn.Set(keyDigest, v) })
	if err != nil {
		s.opts.Logger.Warn("persist: digest not saved; the next open recomputes it", "err", err)
	}
}
