package persist

import (
	"sync"

	"github.com/countermesh/countermesh/crdt"
)

// requestKind says what a request asks of the applier.
type requestKind uint8

const (
	requestWrite  requestKind = iota + 1 // local ops
	requestMerge                         // a delta from another replica
	requestAck                           // a remote peer's acknowledgement mark
	requestExpire                        // expired keyed-increment records to delete
)

// request is one call waiting for the applier and then for its batch to commit.
type request struct {
	kind requestKind

	ops     []Op           // requestWrite
	delta   crdt.Delta     // requestMerge
	peer    crdt.ReplicaID // requestAck
	peerSeq uint64         // requestAck
	expire  []crdt.IdemKey // requestExpire

	results []Result   // requestWrite: one per op
	changed crdt.Delta // requestMerge: the keys that changed, with their new states

	err  error
	done chan struct{} // receives once err and the results are final
}

// requests recycles requests with their done channels. A request goes back once
// its caller has received its successful outcome; one that failed or whose caller
// gave up is left to the garbage collector, as the applier may still hold it.
var requests = sync.Pool{New: func() any { return &request{done: make(chan struct{}, 1)} }}

// newRequest returns an empty request of the given kind.
func newRequest(kind requestKind) *request {
	r := requests.Get().(*request)
	r.kind = kind
	return r
}

// release returns r, whose outcome its caller has read, to the pool.
func (r *request) release() {
	*r = request{done: r.done}
	requests.Put(r)
}

// finish records err and releases the caller. It is the applier's last use of r.
func (r *request) finish(err error) {
	r.err = err
	r.done <- struct{}{}
}

// estimate bounds how many Badger entries and bytes applying r can add to a batch,
// so the applier can tell whether r fits before touching the batch.
func (r *request) estimate() (count, bytes int) {
	add := func(keyLen, valueLen int) {
		count++
		bytes += 2*(keyLen+keyOverhead) + valueLen + entryOverhead // key, its change-log copy, value
	}
	switch r.kind {
	case requestWrite:
		for _, op := range r.ops {
			switch op.Kind {
			case OpAdd:
				add(len(op.Item)+len(op.Counter), counterValue+counterEntry)
				if op.IdempotencyKey != "" {
					add(len(op.Item)+len(op.IdempotencyKey), idemValue+len(op.Counter))
				}
			case OpReact:
				add(len(op.Item)+len(op.User), registerValue+len(op.Reaction))
				add(len(op.Item)+len(op.Reaction), 8) // tally gaining a user
				add(len(op.Item)+64, 8)               // tally losing one (kind unknown yet)
			}
		}
	case requestMerge:
		for k, c := range r.delta.Counters {
			add(len(k.Item)+len(k.Name), counterValue+counterEntry*c.Len())
		}
		for k, reg := range r.delta.Registers {
			add(len(k.Item)+len(k.User), registerValue+len(reg.Kind))
			add(len(k.Item)+len(reg.Kind), 8)
			add(len(k.Item)+64, 8)
		}
		for k, rec := range r.delta.Idem {
			add(len(k.Item)+len(k.Key), idemValue*rec.Len())
			add(len(k.Item)+64, counterValue+counterEntry*4) // a compensation
		}
	case requestExpire:
		for _, k := range r.expire {
			add(len(k.Item)+len(k.Key), 0)
		}
	case requestAck:
		add(8, 16)
	}
	return count, bytes
}

// size is how many ops (or merged keys) r applies: what Options.MaxBatchOps counts.
func (r *request) size() int {
	switch r.kind {
	case requestWrite:
		return len(r.ops)
	case requestMerge:
		return r.delta.Len()
	case requestExpire:
		return len(r.expire)
	}
	return 1
}
