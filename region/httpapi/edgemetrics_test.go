package httpapi

import (
	"strings"
	"testing"

	"github.com/countermesh/countermesh/region"
	"github.com/countermesh/countermesh/region/httpapi/httpapitest"
)

// edgeBackend is a fake peer that counts what it refused at its edge.
type edgeBackend struct {
	*httpapitest.Backend
	edge region.EdgeRefusals
}

func (b edgeBackend) EdgeRefusals() region.EdgeRefusals { return b.edge }

func TestEdgeMetrics(t *testing.T) {
	var eb edgeBackend
	e := newEnv(t, func(c *Config) {
		eb = edgeBackend{Backend: c.Backend.(*httpapitest.Backend), edge: region.EdgeRefusals{
			Handshakes:    map[string]uint64{"certificate": 3, "no_certificate": 1, "peer": 0},
			GossipDropped: 1000, GossipNodesRefused: 2,
		}}
		c.Backend = eb
	})
	body := string(e.do("GET", "/metrics", "").body)
	for _, want := range []string{
		`countermesh_sync_handshakes_refused_total{reason="certificate"} 3`,
		`countermesh_sync_handshakes_refused_total{reason="no_certificate"} 1`,
		`countermesh_sync_handshakes_refused_total{reason="peer"} 0`,
		"countermesh_gossip_dropped_total 1000",
		"countermesh_gossip_nodes_refused_total 2",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}
