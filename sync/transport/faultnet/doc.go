// Package faultnet is an in-memory network for tests: packet sockets and
// reliable byte streams between named hosts, with faults injected per directed
// pair of hosts — links taken down, packets lost, delayed with jitter (and so
// reordered) or duplicated — and partitions that cut whole groups of hosts.
//
// A host is a name ("a", "eu-1"); an address is "host:port". Packet sockets
// ([Network.ListenPacket]) behave like UDP: a write never blocks, a packet that
// finds the receiver's queue full is dropped, and a read honours deadlines. They
// expose only the methods of [net.PacketConn], so a QUIC stack on top of them
// takes its plain, portable path. Streams ([Network.Listen], [Network.Dial])
// behave like TCP: ordered and lossless, delayed by the link's delay, refused
// when the link is down, and broken (both ends get errors) when a later
// partition cuts their hosts.
//
// Fault decisions come from one random source per directed link, seeded from
// the network's seed and the link's hosts, so a run with a fixed seed and the
// same sequence of packets on a link makes the same decisions. (The order in
// which concurrent goroutines write is up to the Go scheduler.)
//
// Every goroutine of a Network is stopped by [Network.Close]: one scheduler
// goroutine delivers delayed packets from a timer-driven queue; streams and
// sockets need none.
package faultnet
