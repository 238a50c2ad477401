// Package region runs one countermesh peer: it opens the peer's durable store,
// joins the mesh's memberlist pool, keeps a QUIC link to every other live peer of
// the topology and runs the sync exchange over each, repairs with periodic
// anti-entropy, trims the change log, and follows the topology file as it changes.
//
// A Peer is the backend of its frontend API (httpapi.Backend): it offers the
// store operations the API makes — write, read items, the clock, the commit
// notification, the free-space check — delegated to its store, so that the API
// never holds the store.
//
// A Peer owns every goroutine it starts: Run returns once they have all stopped,
// and Close is safe to call more than once.
package region
