// Package transport carries countermesh's replication traffic between peers:
// QUIC links (quic-go) with mutual TLS, over any net.PacketConn — a UDP socket
// in production, a faultnet socket in chaos tests.
//
// # Links
//
// A [Transport] is one QUIC endpoint on one socket: it accepts links
// ([Transport.Accept]) and dials them ([Transport.Dial]). Every link is
// authenticated both ways. Both certificates must chain to the mesh's CA (the
// only root trusted) and name a peer of our mesh in their countermesh URI
// (see package pki); the dialler also checks that the server is the peer it
// meant to reach; both sides then ask [Config.Authorize] (a known peer, in
// the right region). TLS 1.3 only, and the ALPN protocol [ALPN], which also
// carries the protocol version: a peer of another version is refused at the
// handshake.
//
// With TLS 1.3 a client finishes its handshake before the server has checked
// the client's certificate. So a link is up only after a hello exchange on its
// first stream: Dial returns a [Link] only once the server has answered, and a
// client the server refused gets an error matching [ErrRefused], never a
// Link.
//
// # Refusals
//
// Every TLS handshake of a client that this side refuses — no certificate, a
// certificate not from the mesh's CA, a peer Authorize refuses, another
// protocol version — is counted by reason ([Transport.Refusals]) and logged
// as a warning with the client's address and the reason, at most once per
// client address per minute (the next line says how many were suppressed):
// strangers knocking cannot flood the log.
//
// # Streams and frames
//
// A Link carries [Stream]s opened by either side; a stream carries frames,
// each a uvarint length and a payload of at most [Config.MaxFrameSize] bytes.
// What the frames hold (sync/exchange messages) is the caller's business.
//
// # Errors
//
// Errors match the sentinels of this package ([ErrRefused], [ErrLinkClosed],
// [ErrTimeout], [ErrClosed], [ErrFrameTooLarge], [ErrProtocol],
// [ErrStreamReset]) with errors.Is; quic-go's errors do not leak through
// except as wrapped detail. [Link.Err] says why a link is gone, including the
// reason the other side gave to [Link.Close].
//
// # Goroutines
//
// A Transport runs a goroutine accepting connections and one per link being
// set up, besides quic-go's own; [Transport.Close] closes every link and
// returns once all of them have stopped. Config.Authorize runs on quic-go's
// handshake goroutines. No callbacks run on a Link: watch [Link.Done].
package transport
