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

// TestStoreMetricsCountCommits: a peer's /metrics reports its store's commits,
// the ops they carried and how long they took, from the real store.
func TestStoreMetricsCountCommits(t *testing.T) {
	e := newStoreEnv(t, nil)
	e.metricsHave("countermesh_store_commit_seconds_count 0", "countermesh_store_committed_ops_total 0",
		"countermesh_store_commits_failed_total 0")
	for range 3 {
		if res := e.do("POST", "/v1/items/a/counters/claps", `{"by":1}`); res.code != 200 {
			t.Fatalf("add: %d %s", res.code, res.body)
		}
	}
	st := e.store.CommitStats()
	if st.Ops != 3 || st.Commits == 0 {
		t.Fatalf("3 adds committed as %+v", st)
	}
	e.metricsHave(fmt.Sprintf("countermesh_store_commit_seconds_count %d", st.Commits),
		"countermesh_store_committed_ops_total 3", "countermesh_store_commits_failed_total 0",
		fmt.Sprintf(`countermesh_store_commit_seconds_bucket{le="+Inf"} %d`, st.Commits))
}

// TestMetricsSayHowLongGoroutinesWaitedToRun: the default registry exports the
// runtime's scheduling latencies, which show a peer short of CPU.
func TestMetricsSayHowLongGoroutinesWaitedToRun(t *testing.T) {
	e := newEnv(t, nil)
	body := string(e.do("GET", "/metrics", "").body)
	for _, want := range []string{"# TYPE go_sched_latencies_seconds histogram", `go_sched_latencies_seconds_bucket{le="+Inf"} `} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}
