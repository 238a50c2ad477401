package persist

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/countermesh/countermesh/crdt"
)

// The keyspace. Every key starts with one prefix byte naming its kind of record.
// Item-scoped keys continue with the item's digest bucket (2 bytes, big-endian),
// so that anti-entropy can scan one bucket, then uvarint(len(item)) and the item,
// so that a prefix scan of one item never strays into another whose id merely
// starts alike.
const (
	prefixCounter  = 'c' // c item name           → codec counter
	prefixRegister = 'r' // r item user           → codec register
	prefixTally    = 't' // t item kind           → codec uint
	prefixLog      = 'l' // l seq(8, big-endian)  → codec key set: keys changed in the batch ending at seq
	prefixAck      = 'a' // a replica(8, BE)      → codec uint: highest sequence that peer acknowledged
	prefixKeyed    = 'k' // k item key            → codec idempotency record of a keyed increment
	prefixMeta     = 'm' // m name                → meta values below
)

var (
	keyFormat  = []byte("mformat")  // codec uint: layout version of this keyspace
	keyReplica = []byte("mreplica") // 8 bytes big-endian replica id
	keySeq     = []byte("mseq")     // codec uint: last committed sequence
	keyHLC     = []byte("mhlc")     // codec timestamp: clock high-water mark
	keyTrimmed = []byte("mtrimmed") // codec uint: last sequence trimmed from the change log

	keyDigest       = []byte("mdigest")       // the digest saved at a clean Close; see saveddigest.go
	keyCounterNames = []byte("mcounternames") // codec names: every counter name ever stored
	keyTallyKinds   = []byte("mtallykinds")   // codec names: every reaction kind ever tallied
)

var (
	errBadLogKey = errors.New("bad change-log key")
	errBadAckKey = errors.New("bad acknowledgement key")
)

// formatVersion is the layout version of the keyspace written by this package.
// Version 2 added the counter names and tally kinds (keyCounterNames,
// keyTallyKinds); Open adds them to a version 1 keyspace. Version 3 replicates
// keyed increments (prefixKeyed); the per-peer records of version 2, under the
// prefix 'i', are no longer read and expire on their own (Badger TTL).
const formatVersion = 3

// itemPrefix returns prefix | bucket(item) | uvarint(len(item)) | item.
func itemPrefix(prefix byte, item string) []byte {
	return appendItemPrefix(make([]byte, 0, 3+binary.MaxVarintLen64+len(item)), prefix, item)
}

// appendItemPrefix appends itemPrefix(prefix, item) to b.
func appendItemPrefix(b []byte, prefix byte, item string) []byte {
	b = bucketPrefix(b, prefix, BucketOf(item))
	b = binary.AppendUvarint(b, uint64(len(item)))
	return append(b, item...)
}

// appendItemKey appends itemKey(prefix, item, sub) to b.
func appendItemKey(b []byte, prefix byte, item, sub string) []byte {
	return append(appendItemPrefix(b, prefix, item), sub...)
}

// itemKeyLen is len(itemKey(prefix, item, sub)), an upper bound.
func itemKeyLen(item, sub string) int { return 3 + binary.MaxVarintLen64 + len(item) + len(sub) }

// bucketPrefix appends prefix | bucket to b.
func bucketPrefix(b []byte, prefix byte, bucket int) []byte {
	return binary.BigEndian.AppendUint16(append(b, prefix), uint16(bucket))
}

// itemKey returns the key of sub (a counter name, user id or kind) within item.
func itemKey(prefix byte, item, sub string) []byte {
	return appendItemKey(make([]byte, 0, itemKeyLen(item, sub)), prefix, item, sub)
}

// splitItemKey parses a key made by itemKey.
func splitItemKey(key []byte) (item, sub string, err error) {
	if len(key) < 4 {
		return "", "", fmt.Errorf("item key too short")
	}
	n, w := binary.Uvarint(key[3:])
	if w <= 0 || uint64(len(key)-3-w) < n {
		return "", "", fmt.Errorf("item key: bad length")
	}
	rest := key[3+w:]
	return string(rest[:n]), string(rest[n:]), nil
}

func counterKey(k crdt.CounterKey) []byte   { return itemKey(prefixCounter, k.Item, k.Name) }
func registerKey(k crdt.RegisterKey) []byte { return itemKey(prefixRegister, k.Item, k.User) }

// seqKey returns prefix | seq as 8 big-endian bytes, so keys sort by sequence.
func seqKey(prefix byte, seq uint64) []byte { return appendSeqKey(make([]byte, 0, 9), prefix, seq) }

// appendSeqKey appends seqKey(prefix, seq) to b.
func appendSeqKey(b []byte, prefix byte, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(append(b, prefix), seq)
}

func logKey(seq uint64) []byte          { return seqKey(prefixLog, seq) }
func ackKey(peer crdt.ReplicaID) []byte { return seqKey(prefixAck, uint64(peer)) }
func seqOfKey(key []byte) (uint64, bool) {
	if len(key) != 9 {
		return 0, false
	}
	return binary.BigEndian.Uint64(key[1:]), true
}
