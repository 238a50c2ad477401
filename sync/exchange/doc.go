// Package exchange is the sync protocol of DESIGN.md §3: how two peers keep each
// other up to date over a link.
//
// On every link each side runs a sender that opens a stream and ships the current
// state of the keys it changed since the other side's acknowledgement: at once
// when the link was idle for a flush interval or a batch's worth is pending, else
// at the next flush tick — so a hot key travels once per batch however often it
// changed, and an idle link adds no latency. The receiver joins the batch into its store,
// which makes it durable, and only then acknowledges. Acknowledgements are
// cumulative and stored, so a restarted sender resumes where it was and a restarted
// receiver loses nothing. Only a peer's own mutations are shipped (no
// back-propagation).
//
// A key whose timestamp is beyond the receiver's max clock drift is refused alone:
// the rest of its batch is applied and acknowledged, and the acknowledgement names
// the refused keys. The sender keeps them in a retry set and offers their current
// state again, with a later batch or alone every RetryInterval, until they are
// taken. The set lives in memory across the sender's sessions; after a restart the
// periodic anti-entropy round repairs what it held.
//
// A sender whose peer is behind the start of its trimmed change log (or is a new
// replica) first runs an anti-entropy round: digests of 4096 key buckets are
// compared and only the differing buckets' states cross, both ways. The same round,
// run periodically between random peers, repairs partial partitions.
//
// The sender's decisions — when to ship, what, how many batches may await an
// acknowledgement, which refused keys to offer again, whether an answer breaks
// the protocol, whether a session first runs an anti-entropy round — are pure
// (sender.go), a state machine in the manner of etcd-io/raft's RawNode: events (a commit, the peer's answer, a timer tick, each
// with the time) and the change log go in; actions (ship a batch covering up to a
// sequence, arm the timer, record an acknowledgement, end the session) come out.
// It has no goroutines, I/O or clock, knows only sequences and a change log, and
// is tested by the scripts in testdata/sender. A session (session.go) is its
// driver: one goroutine per batch stream that does the stream's and the store's
// I/O with an injected clock, plus the reader it owns.
//
// The receiver's decisions are a pure state machine too (receiver.go), one per
// remote replica, serving every stream of it: a message read and the outcome of
// the store's merge go in; actions come out — merge a batch, acknowledge it
// naming the keys refused, refuse a batch the store could not commit at all,
// end a stream whose peer sent another message than a batch, and the mark
// Applied may report, which holds where it was before the first refusal until
// every key refused since was taken. It is tested by the scripts in
// testdata/receiver. Its drivers are receive (receiving.go), for a batch stream,
// and the anti-entropy rounds the peer opens; they step it under the exchange's
// lock.
//
// Every stream starts with a hello from each side (mesh name, replica id). Any
// message that is malformed, of another version, or unexpected closes the link with
// a logged reason.
package exchange
