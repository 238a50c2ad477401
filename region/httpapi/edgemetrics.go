package httpapi

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/countermesh/countermesh/region"
)

// edgeReporter is a Backend that counts what it refuses at its network edge
// (region.Peer does).
type edgeReporter interface {
	EdgeRefusals() region.EdgeRefusals
}

// edgeCollector reports what the peer refused at its network edge, read at
// scrape time. It reports nothing for a Backend that does not count it.
type edgeCollector struct{ b Backend }

var (
	handshakesRefusedDesc = prometheus.NewDesc("countermesh_sync_handshakes_refused_total",
		"TLS handshakes of QUIC clients this peer refused, by reason (no_certificate, certificate, peer, protocol, other).",
		[]string{"reason"}, nil)
	gossipDroppedDesc = prometheus.NewDesc("countermesh_gossip_dropped_total",
		"Gossip packets and streams dropped: from addresses not in the topology, undecryptable or malformed.", nil, nil)
	gossipNodesRefusedDesc = prometheus.NewDesc("countermesh_gossip_nodes_refused_total",
		"Memberlist nodes refused: not a peer of the topology, or not at its gossip address or in its region.", nil, nil)
)

// Describe sends the descriptions of the edge metrics.
func (edgeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- handshakesRefusedDesc
	ch <- gossipDroppedDesc
	ch <- gossipNodesRefusedDesc
}

// Collect sends the peer's edge counts.
func (c edgeCollector) Collect(ch chan<- prometheus.Metric) {
	r, ok := c.b.(edgeReporter)
	if !ok {
		return
	}
	e := r.EdgeRefusals()
	for reason, n := range e.Handshakes {
		ch <- prometheus.MustNewConstMetric(handshakesRefusedDesc, prometheus.CounterValue, float64(n), reason)
	}
	ch <- prometheus.MustNewConstMetric(gossipDroppedDesc, prometheus.CounterValue, float64(e.GossipDropped))
	ch <- prometheus.MustNewConstMetric(gossipNodesRefusedDesc, prometheus.CounterValue, float64(e.GossipNodesRefused))
}
