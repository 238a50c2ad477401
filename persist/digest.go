package persist

import (
	"encoding/binary"
	"slices"

	"github.com/countermesh/countermesh/crdt"
)

// DigestBuckets is how many buckets the keyspace is split into for anti-entropy.
// All keys of an item fall in bucket BucketOf(item).
const DigestBuckets = 4096

// Digest is one hash per bucket of a replica's whole replicated state. Two replicas
// whose digests agree on a bucket hold the same states for every key in it (up to
// 64-bit hash collisions); anti-entropy exchanges only the buckets that differ.
//
// A bucket's hash is the XOR of a hash of every counter entry (key, replica, P, N)
// and every register (key, kind, timestamp, replica) in it, so it is maintained
// incrementally: a change XORs the old entry out and the new one in.
type Digest [DigestBuckets]uint64

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
	return int((h ^ h>>32) % DigestBuckets)
}

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

// counterEntryHash is the digest entry of one replica's totals in one counter.
func counterEntryHash(k crdt.CounterKey, r crdt.ReplicaID, pn crdt.PN) uint64 {
	e := newEntryHasher('c')
	e.string(k.Item)
	e.string(k.Name)
	e.uint(uint64(r))
	e.uint(pn.P)
	e.uint(pn.N)
	return e.sum()
}

// registerHash is the digest entry of one register; zero for a never-written one.
func registerHash(k crdt.RegisterKey, r crdt.Register) uint64 {
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

// counterDigestChange is the XOR taking a counter's digest entries from old to new.
func counterDigestChange(k crdt.CounterKey, old, new crdt.PNCounter) uint64 {
	var x uint64
	var buf [16]crdt.ReplicaID
	for _, r := range new.AppendReplicas(buf[:0]) {
		o, n := old.Entry(r), new.Entry(r)
		if o == n {
			continue
		}
		if o != (crdt.PN{}) {
			x ^= counterEntryHash(k, r, o)
		}
		x ^= counterEntryHash(k, r, n)
	}
	return x
}

// digestOfCounter is the XOR of all of a counter's digest entries.
func digestOfCounter(k crdt.CounterKey, c crdt.PNCounter) uint64 {
	return counterDigestChange(k, crdt.PNCounter{}, c)
}

// sortedBuckets returns the distinct buckets of buckets, ascending and in range.
func sortedBuckets(buckets []int) []int {
	out := slices.Clone(buckets)
	slices.Sort(out)
	out = slices.Compact(out)
	return slices.DeleteFunc(out, func(b int) bool { return b < 0 || b >= DigestBuckets })
}
