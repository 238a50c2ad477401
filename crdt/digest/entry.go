package digest

import (
	"encoding/binary"

	"github.com/countermesh/countermesh/crdt"
)

// entryHasher hashes the parts of one digest entry. It is FNV-1a over a framed
// encoding (strings length-prefixed), finished with a 64-bit mixer so that XORs of
// similar entries do not cancel structure.
type entryHasher struct{ h uint64 }

func newEntryHasher(tag byte) entryHasher {
	e := entryHasher{h: 14695981039346656037}
	e.byte(tag)
	return e
}

func (e *entryHasher) byte(b byte) {
	e.h ^= uint64(b)
	e.h *= 1099511628211
}

func (e *entryHasher) string(s string) {
	e.uint(uint64(len(s)))
	for i := 0; i < len(s); i++ {
		e.byte(s[i])
	}
}

func (e *entryHasher) uint(v uint64) {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], v)
	for _, c := range b {
		e.byte(c)
	}
}

func (e *entryHasher) sum() uint64 {
	z := e.h
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// counterEntry is the digest entry of one replica's totals in one counter.
func counterEntry(k crdt.CounterKey, r crdt.ReplicaID, pn crdt.PN) uint64 {
	e := newEntryHasher('c')
	e.string(k.Item)
	e.string(k.Name)
	e.uint(uint64(r))
	e.uint(pn.P)
	e.uint(pn.N)
	return e.sum()
}

// Register is the digest entry of one register; zero for a never-written one.
func Register(k crdt.RegisterKey, r crdt.Register) uint64 {
	if r.IsZero() {
		return 0
	}
	e := newEntryHasher('r')
	e.string(k.Item)
	e.string(k.User)
	e.string(r.Kind)
	e.uint(uint64(r.TS.Wall))
	e.uint(uint64(r.TS.Logical))
	e.uint(uint64(r.Replica))
	return e.sum()
}

// CounterChange is the XOR taking a counter's digest entries from old to new,
// new being old joined with more.
func CounterChange(k crdt.CounterKey, old, new crdt.PNCounter) uint64 {
	var x uint64
	var buf [16]crdt.ReplicaID
	for _, r := range new.AppendReplicas(buf[:0]) {
		o, n := old.Entry(r), new.Entry(r)
		if o == n {
			continue
		}
		if o != (crdt.PN{}) {
			x ^= counterEntry(k, r, o)
		}
		x ^= counterEntry(k, r, n)
	}
	return x
}

// Counter is the XOR of all of a counter's digest entries.
func Counter(k crdt.CounterKey, c crdt.PNCounter) uint64 {
	return CounterChange(k, crdt.PNCounter{}, c)
}

// IdemRecord is the digest entry of the idempotency record of k, given the
// record's canonical encoding. A key without a record has no entry: its
// contribution is zero, and the caller does not call IdemRecord for it.
func IdemRecord(k crdt.IdemKey, encoded []byte) uint64 {
	h := newEntryHasher('k')
	h.string(k.Item)
	h.string(k.Key)
	h.string(string(encoded))
	return h.sum()
}
