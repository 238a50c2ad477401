package persist

import (
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/countermesh/countermesh/sync/wire"
)

// commitResult is the committer's report on one batch.
type commitResult struct {
	err error
}

// commit makes b durable: one Badger transaction, one fsync. It encodes the batch
// itself, so encoding runs beside the applier filling the next batch.
func (s *Store) commit(b *batch) error {
	if s.opts.CommitFault != nil {
		if err := s.opts.CommitFault(b.ops); err != nil {
			return err
		}
	}
	if err := checkFreeSpace(s.opts.Dir, uint64(s.opts.MinFreeBytes)); err != nil {
		return err
	}
	txn := s.db.NewTransaction(true)
	defer txn.Discard()
	set := func(key, value []byte) error { return txn.SetEntry(badger.NewEntry(key, value)) }
	for k, c := range b.counters {
		if err := set(counterKey(k), wire.EncodeCounter(c)); err != nil {
			return err
		}
	}
	for k, r := range b.registers {
		if err := set(registerKey(k), wire.EncodeRegister(r)); err != nil {
			return err
		}
	}
	for t, v := range b.tallies {
		var err error
		if v == 0 {
			err = txn.Delete(tallyKey(t.item, t.kind))
		} else {
			err = set(tallyKey(t.item, t.kind), encodeTally(v))
		}
		if err != nil {
			return err
		}
	}
	ttl := s.opts.IdempotencyTTL
	for k, r := range b.idem {
		e := badger.NewEntry(idempotencyKey(k), r.encode()).WithTTL(ttl + time.Second)
		if err := txn.SetEntry(e); err != nil {
			return err
		}
	}
	for peer, seq := range b.acks {
		if err := set(ackKey(peer), wire.EncodeUint(seq)); err != nil {
			return err
		}
	}
	if b.lastSeq != 0 {
		if err := set(logKey(b.lastSeq), wire.EncodeKeySet(b.changes)); err != nil {
			return err
		}
		if err := set(keySeq, wire.EncodeUint(b.lastSeq)); err != nil {
			return err
		}
	}
	if err := set(keyHLC, wire.EncodeTimestamp(b.hlc)); err != nil {
		return err
	}
	return txn.Commit()
}

// runCommitter commits sealed batches one at a time and reports every outcome back
// to the applier, which releases the batch's callers.
func (s *Store) runCommitter(sealed <-chan *batch, results chan<- commitResult) {
	for b := range sealed {
		err := s.commit(b)
		if err != nil {
			err = fmt.Errorf("batch of %d ops: %w", b.ops, translate(err))
		}
		results <- commitResult{err: err}
	}
}

// encodeTally and decodeTally store a tally as a wire uint.
func encodeTally(v int64) []byte { return wire.EncodeUint(uint64(v)) }

func decodeTally(b []byte) (int64, error) {
	v, err := wire.DecodeUint(b)
	if err != nil {
		return 0, err
	}
	if int64(v) < 0 {
		return 0, fmt.Errorf("tally %d out of range", v)
	}
	return int64(v), nil
}
