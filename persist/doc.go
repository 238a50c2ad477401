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
// All mutations, local (Write) and remote (Merge), are requests (request.go) that
// go through a pipeline of two goroutines, each a type given what it uses when
// Open starts it, with no pointer back to the Store:
//
//   - the applier (applier.go) decides each key's new state with the rules of
//     package crdt (keyed increments in idempotency.go) and writes it into the
//     batch being filled (batch.go). It reads every state through one overlay
//     (overlay.go): the batch being filled, the batch being committed, a bounded
//     cache of the committed states of recently written counters, registers and
//     tallies (cache.go, Options.CacheKeys), and Badger for the rest, so a batch
//     never reads stale state;
//   - the committer (committer.go) makes each sealed batch durable: one Badger
//     transaction and one fsync per batch, group commit.
//
// While one batch is being made durable the next one fills, so under load many
// writes share each fsync, and an idle store commits a lone write at once. Once a
// batch is durable, the applier hands the next one to the committer, then
// publishes the durable one on the commit feed (feed.go: the
// read model, the reaction and item filters, the last sequence, the digest of
// the committed state, the channel Committed returns, and every follower of
// Follow) and then releases its callers: a call returns only after its batch
// is durable. A register and the tally change it implies are always in the
// same batch.
//
// A batch that fails to commit (disk full, I/O error) fails every call in it, and
// every call applied on top of it, with an error matching ErrCommitFailed; nothing
// of it is visible, sequence numbers are handed out again, and reads keep working.
//
// # Reads
//
// Reads of items (ReadItems) are answered from memory: the read model
// (readmodel.go) holds the counter values and tallies of the items used lately,
// within a memory budget (Options.ReadModelBytes), and two filters (keyfilter.go)
// tell without a disk read that an item was never written (most items of a
// like service nobody reacted to) and that a user has no reaction to an item.
// All three follow the commit feed, so a read reflects every commit published
// before it. An item the model does not hold and the item filter cannot rule
// out, and a reaction the reaction filter cannot rule out, are read from
// Badger, and the item is kept. The
// change log (changelog.go) and the bucket states anti-entropy asks for are
// read from Badger.
//
// # Digest
//
// The digest of the committed state (Digest) is kept up to date at every
// commit (statedigest.go). Close saves it and the next Open takes it
// (saveddigest.go); after a crash Open recomputes it from every key.
package persist
