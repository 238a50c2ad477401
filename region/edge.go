package region

// EdgeRefusals counts what a peer refused at its network edge since it
// started: strangers' handshakes on its sync port, junk and impostors on its
// gossip port. Their log lines are limited to one per remote address per
// minute; these counts are complete.
type EdgeRefusals struct {
	// Handshakes counts the TLS handshakes of QUIC clients refused, by
	// reason (the transport.Refused... constants, every one present).
	Handshakes map[string]uint64
	// GossipDropped counts gossip packets and streams that memberlist could
	// not take: undecryptable, malformed, or refused merges.
	GossipDropped uint64
	// GossipNodesRefused counts the memberlist nodes the admission rule
	// refused (unknown, wrong mesh or region, or not at the topology's
	// gossip address for the peer they name).
	GossipNodesRefused uint64
}

// EdgeRefusals reports what the peer refused at its network edge.
func (p *Peer) EdgeRefusals() EdgeRefusals {
	return EdgeRefusals{
		Handshakes:         p.links.tr.Refusals(),
		GossipDropped:      p.members.gossip.edge.dropped.Load(),
		GossipNodesRefused: p.members.gossip.edge.refusedNodes.Load(),
	}
}
