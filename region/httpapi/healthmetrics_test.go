package httpapi

import (
	"fmt"
	"strings"
	"testing"

	"github.com/countermesh/countermesh/persist"
	"github.com/countermesh/countermesh/region"
)

// metricsHave fails the test unless the /metrics answer holds every line of want.
func (e *env) metricsHave(want ...string) {
	e.t.Helper()
	body := string(e.do("GET", "/metrics", "").body)
	for _, w := range want {
		if !strings.Contains(body, w+"\n") {
			e.t.Errorf("metrics lack %q", w)
		}
	}
}

func TestHealthMetricsOfAHealthyPeer(t *testing.T) {
	e := newEnv(t, nil)
	e.metricsHave(
		"countermesh_clock_skewed 0",
		"countermesh_store_below_reserve 0",
		`countermesh_peer_alive{peer="us-1",region="us"} 1`,
	)
}

func TestHealthMetricsOfAPeerRefusingWrites(t *testing.T) {
	e := newEnv(t, nil)
	e.b.SetFreeSpace(fmt.Errorf("%w: 0 bytes free, below the 1 GiB reserved", persist.ErrDiskFull))
	st := e.b.Status()
	st.Regions[1].Peers[0].Membership = "suspect"
	e.b.SetStatus(st)
	e.b.SetWritable(fmt.Errorf("%w: 2 of 2 peers' clocks are more than 1m0s from ours", region.ErrClockSkew))
	e.metricsHave(
		"countermesh_clock_skewed 1",
		"countermesh_store_below_reserve 1",
		`countermesh_peer_alive{peer="us-1",region="us"} 0`,
	)
	// Another reason not to take writes is not a skewed clock.
	e.b.SetWritable(fmt.Errorf("%w: closed", persist.ErrClosed))
	e.metricsHave("countermesh_clock_skewed 0")
}
