// Package persist is the durable store of one peer, on Badger.
//
// Everything a peer must not lose lives in one Badger keyspace with a prefix byte
// per kind of record (see keys.go): counters, reaction registers, the tallies
// derived from them, a change log of local mutations, the sequence each remote
// peer has acknowledged, the replicated records of keyed increments (see
// idempotency.go), the replica id and the hybrid logical
// clock's high-water mark.
//
// # Writes
//
// All mutations, local (Write) and remote (Merge), go through one applier
// goroutine that decides each key's new state with the rules of package crdt
// against an overlay of not-yet-durable batches, so a batch never reads stale
// state. Below the overlay it keeps a bounded cache of the committed states of
// recently written counters, registers and tallies (Options.CacheKeys), and reads
// Badger only for the rest. Batches are committed by a second goroutine, one
// Badger transaction and one fsync per batch: group commit. While one batch is
// being made durable the next one fills, so under load many writes share each
// fsync, and an idle store commits a lone write at once. A call returns only after
// its batch is durable. A register and the tally change it implies are always in
// the same batch.
//
// A batch that fails to commit (disk full, I/O error) fails every call in it, and
// every call applied on top of it, with an error matching ErrCommitFailed; nothing
// of it is visible, sequence numbers are handed out again, and reads keep working.
//
// # Reads
//
// Reads go straight to Badger and see every acknowledged write.
package persist
