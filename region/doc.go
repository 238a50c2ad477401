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
// A Peer is the wiring root of concepts each in its own file:
//
//   - membership (membership.go, gossip.go, keyring.go, clockskew.go): the
//     memberlist pool and its keyring, the one admission rule for gossip nodes
//     and QUIC links, and the clock samples carried by the pool's pings;
//   - links (links.go): the QUIC links to every live peer of the topology, the
//     exchange served over each, and anti-entropy rounds over them;
//   - the topology watch and reload (reload.go), the change-log trimming and
//     the facade the API and status use (status.go, storeops.go, edge.go).
//
// New opens the store and the exchange, then creates the membership and the
// links; Run starts them in that order and, once its context ends, waits (up
// to a deadline) for linked peers to acknowledge what is pending, leaves the
// pool, and closes the links, the membership and the store, in that order.
// Each owns its goroutines and its Close waits for them: Run returns once they
// have all stopped, and Close is safe to call more than once.
//
// The API's tokens and token secrets come from the topology's material, as
// the peer read it (Material, and Config.OnReload on every reload).
package region
