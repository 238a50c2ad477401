package persist

import (
	"github.com/dgraph-io/badger/v4"

	"github.com/countermesh/countermesh/crdt"
	"github.com/countermesh/countermesh/crdt/codec"
)

// Changes returns the keys changed by local mutations with sequence numbers after
// after, gathering whole change-log records until at least maxKeys keys (or the end
// of the log), and the sequence the returned keys cover up to (after, when there is
// nothing new). A record is the keys of one committed batch, so the result may also
// hold keys of sequences at or before after; shipping their current state again is
// harmless. A peer acknowledged below LogStart()-1 cannot be served from the log.
func (s *Store) Changes(after uint64, maxKeys int) (keys crdt.KeySet, upTo uint64, err error) {
	upTo = after
	err = s.view(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.Prefix = []byte{prefixLog}
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Seek(logKey(after + 1)); it.ValidForPrefix(opts.Prefix); it.Next() {
			item := it.Item()
			seq, ok := seqOfKey(item.Key())
			if !ok {
				return corrupt(item.KeyCopy(nil), errBadLogKey)
			}
			err := item.Value(func(v []byte) error {
				ks, err := codec.DecodeKeySet(v)
				keys.Union(ks)
				return err
			})
			if err != nil {
				return corrupt(item.KeyCopy(nil), err)
			}
			upTo = seq
			if keys.Len() >= maxKeys {
				break
			}
		}
		return nil
	})
	return keys, upTo, err
}

// LogStart returns the first sequence the change log still holds: one after the
// last trimmed sequence. Changes after any sequence ≥ LogStart()-1 is complete; a
// peer acknowledged below that needs anti-entropy.
func (s *Store) LogStart() (uint64, error) {
	var trimmed uint64
	err := s.view(func(txn *badger.Txn) (err error) {
		trimmed, err = getUint(txn, keyTrimmed)
		return err
	})
	return trimmed + 1, err
}

// TrimLog deletes the change-log records wholly at or before upTo, typically the
// lowest sequence every peer has acknowledged. It never trims past LastSeq.
func (s *Store) TrimLog(upTo uint64) error {
	upTo = min(upTo, s.LastSeq())
	var keys [][]byte
	err := s.view(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.Prefix = []byte{prefixLog}
		opts.PrefetchValues = false
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.ValidForPrefix(opts.Prefix); it.Next() {
			seq, ok := seqOfKey(it.Item().Key())
			if !ok || seq > upTo {
				break
			}
			keys = append(keys, it.Item().KeyCopy(nil))
		}
		return nil
	})
	if err != nil || len(keys) == 0 {
		return err
	}
	last, _ := seqOfKey(keys[len(keys)-1])
	wb := s.db.NewWriteBatch()
	defer wb.Cancel()
	for _, k := range keys {
		if err := wb.Delete(k); err != nil {
			return translate(err)
		}
	}
	if err := wb.Set(keyTrimmed, codec.EncodeUint(last)); err != nil {
		return translate(err)
	}
	return translate(wb.Flush())
}

// Acked returns the highest sequence peer has acknowledged (0 when none).
func (s *Store) Acked(peer crdt.ReplicaID) (seq uint64, err error) {
	err = s.view(func(txn *badger.Txn) error {
		seq, err = getUint(txn, ackKey(peer))
		return err
	})
	return seq, err
}

// Acks returns every remote peer's acknowledged sequence.
func (s *Store) Acks() (map[crdt.ReplicaID]uint64, error) {
	acks := map[crdt.ReplicaID]uint64{}
	err := s.view(func(txn *badger.Txn) error {
		return scanPrefix(txn, []byte{prefixAck}, func(key, val []byte) error {
			peer, ok := seqOfKey(key)
			if !ok {
				return errBadAckKey
			}
			seq, err := codec.DecodeUint(val)
			acks[crdt.ReplicaID(peer)] = seq
			return err
		})
	})
	return acks, err
}
