package persist

import (
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/countermesh/countermesh/crdt/codec"
)

// committer makes sealed batches durable, one at a time, on its own goroutine:
// one Badger transaction and one fsync per batch. It encodes each batch itself,
// so encoding runs beside the applier filling the next batch. Everything it uses
// is given to it: the database, the name set whose additions it saves, the free
// space check and the fault hook.
type committer struct {
	db         *badger.DB
	names      *nameSet
	namesSaved uint64              // the names' version the last commit saved
	checkSpace func() error        // fails the batch when the disk is (nearly) full
	fault      func(ops int) error // Options.CommitFault; may be nil
	counts     *commitCounters     // every commit's outcome, ops and duration
}

// commitResult is the committer's report on one batch.
type commitResult struct {
	err error
}

// run commits sealed batches one at a time and reports every outcome back to the
// applier, which releases the batch's callers. It returns once sealed is closed.
func (c *committer) run(sealed <-chan *batch, results chan<- commitResult) {
	for b := range sealed {
		start := time.Now()
		err := c.commit(b)
		c.counts.record(b.ops, time.Since(start), err)
		if err != nil {
			err = fmt.Errorf("batch of %d ops: %w", b.ops, translate(err))
		}
		results <- commitResult{err: err}
	}
}

// commit makes b durable.
func (c *committer) commit(b *batch) error {
	if c.fault != nil {
		if err := c.fault(b.ops); err != nil {
			return err
		}
	}
	if err := c.checkSpace(); err != nil {
		return err
	}
	txn := c.db.NewTransaction(true)
	defer txn.Discard()
	w := newBatchWriter(txn, b)
	for k, v := range b.counters {
		w.set(w.itemKey(prefixCounter, k.Item, k.Name), codec.EncodeCounter(v))
	}
	for k, r := range b.registers {
		w.set(w.itemKey(prefixRegister, k.Item, k.User), codec.EncodeRegister(r))
	}
	for t, v := range b.tallies {
		if v == 0 {
			w.delete(w.itemKey(prefixTally, t.item, t.kind))
		} else {
			w.set(w.itemKey(prefixTally, t.item, t.kind), encodeTally(v))
		}
	}
	for k, rec := range b.idem {
		if rec.Len() == 0 {
			w.delete(w.itemKey(prefixKeyed, k.Item, k.Key))
		} else {
			w.set(w.itemKey(prefixKeyed, k.Item, k.Key), codec.EncodeIdemRecord(rec))
		}
	}
	for peer, seq := range b.acks {
		w.set(ackKey(peer), codec.EncodeUint(seq))
	}
	if b.lastSeq != 0 {
		w.set(logKey(b.lastSeq), codec.EncodeKeySet(b.changes))
		w.set(keySeq, codec.EncodeUint(b.lastSeq))
	}
	w.set(keyHLC, codec.EncodeTimestamp(b.hlc))
	names := c.names.version()
	if names != c.namesSaved {
		// Names added since the last commit that saved them — by this batch, or
		// by one that failed — go with this one, before anything using them.
		c.names.save(func(key, value []byte) error { w.set(key, value); return nil })
	}
	if w.err != nil {
		return w.err
	}
	if err := txn.Commit(); err != nil {
		return err
	}
	c.namesSaved = names
	return nil
}

// batchWriter adds a batch's entries to a write transaction, with every item key
// built in one buffer and every entry in one slice.
type batchWriter struct {
	txn  *badger.Txn
	keys []byte
	ents []badger.Entry
	err  error // the first error of the transaction
}

func newBatchWriter(txn *badger.Txn, b *batch) *batchWriter {
	n, keys := 0, 0
	for k := range b.counters {
		n, keys = n+1, keys+itemKeyLen(k.Item, k.Name)
	}
	for k := range b.registers {
		n, keys = n+1, keys+itemKeyLen(k.Item, k.User)
	}
	for t := range b.tallies {
		n, keys = n+1, keys+itemKeyLen(t.item, t.kind)
	}
	for k := range b.idem {
		n, keys = n+1, keys+itemKeyLen(k.Item, k.Key)
	}
	n += len(b.acks) + metaEntries
	return &batchWriter{txn: txn, keys: make([]byte, 0, keys), ents: make([]badger.Entry, 0, n)}
}

// itemKey returns itemKey(prefix, item, sub), built in w's buffer.
func (w *batchWriter) itemKey(prefix byte, item, sub string) []byte {
	start := len(w.keys)
	w.keys = appendItemKey(w.keys, prefix, item, sub)
	return w.keys[start:len(w.keys):len(w.keys)]
}

// set adds an entry setting key to value.
func (w *batchWriter) set(key, value []byte) { w.add(badger.Entry{Key: key, Value: value}) }

// add adds e. The transaction keeps a pointer to the copy in w.ents; should ents
// grow past the count newBatchWriter made, earlier entries stay where they were.
func (w *batchWriter) add(e badger.Entry) {
	w.ents = append(w.ents, e)
	if err := w.txn.SetEntry(&w.ents[len(w.ents)-1]); err != nil && w.err == nil {
		w.err = err
	}
}

// delete adds the deletion of key.
func (w *batchWriter) delete(key []byte) {
	if err := w.txn.Delete(key); err != nil && w.err == nil {
		w.err = err
	}
}

// encodeTally and decodeTally store a tally as a wire uint.
func encodeTally(v int64) []byte { return codec.EncodeUint(uint64(v)) }

func decodeTally(b []byte) (int64, error) {
	v, err := codec.DecodeUint(b)
	if err != nil {
		return 0, err
	}
	if int64(v) < 0 {
		return 0, fmt.Errorf("tally %d out of range", v)
	}
	return int64(v), nil
}
