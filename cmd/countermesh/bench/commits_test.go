package bench

import (
	"context"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// commitsServer serves /metrics holding a commit histogram with these
// observations (seconds) and ops counter, as a peer would.
func commitsServer(t *testing.T, observe []float64, ops float64) *httptest.Server {
	t.Helper()
	reg := prometheus.NewRegistry()
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: commitSecondsMetric, Help: "h",
		Buckets: []float64{0.001, 0.005, 0.01}})
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: committedOpsMetric, Help: "c"})
	reg.MustRegister(h, c)
	for _, v := range observe {
		h.Observe(v)
	}
	c.Add(ops)
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	t.Cleanup(srv.Close)
	return srv
}

func TestCommitCountsFromMetrics(t *testing.T) {
	// 98 commits under 1 ms, one under 5 ms, one of 7 ms: p99 is at most 5 ms,
	// p100 at most 10 ms.
	obs := make([]float64, 0, 100)
	for range 98 {
		obs = append(obs, 0.0005)
	}
	obs = append(obs, 0.004, 0.007)
	srv := commitsServer(t, obs, 400)
	c, err := scrapeCommits(context.Background(), srv.Client(), srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if c.total() != 100 || c.ops != 400 {
		t.Fatalf("read %d commits of %d ops, want 100 of 400", c.total(), c.ops)
	}
	for q, want := range map[float64]float64{50: 0.001, 98: 0.001, 99: 0.005, 100: 0.01} {
		if got, ok := c.percentileBound(q); !ok || got != want {
			t.Errorf("p%g bound %v (%v), want %v", q, got, ok, want)
		}
	}
	if got := c.lastFiniteBound(); got != 0.01 {
		t.Errorf("last finite bound %v, want 0.01", got)
	}
}

func TestCommitCountsSinceAnEarlierReading(t *testing.T) {
	before := commitCounts{bounds: []float64{0.001, math.Inf(1)}, counts: []uint64{10, 12}, ops: 50}
	after := commitCounts{bounds: []float64{0.001, math.Inf(1)}, counts: []uint64{10, 15}, ops: 80}
	d, err := after.since(before)
	if err != nil {
		t.Fatal(err)
	}
	if d.total() != 3 || d.ops != 30 {
		t.Fatalf("since: %d commits, %d ops; want 3, 30", d.total(), d.ops)
	}
	// All three took longer than the last finite bound.
	if got, ok := d.percentileBound(99); !ok || !math.IsInf(got, 1) {
		t.Errorf("p99 bound %v, want +Inf", got)
	}
	if _, ok := (commitCounts{bounds: d.bounds, counts: []uint64{0, 0}}).percentileBound(99); ok {
		t.Error("a bound from no commit")
	}
	// A peer that restarted between two readings counts less than before.
	if _, err := before.since(after); err == nil {
		t.Error("counts that went down were taken")
	}
	other := commitCounts{bounds: []float64{0.002, math.Inf(1)}, counts: []uint64{10, 15}, ops: 80}
	if _, err := other.since(before); err == nil {
		t.Error("readings of different buckets were subtracted")
	}
}

func TestCommitCountsRefuseMetricsWithoutThem(t *testing.T) {
	for name, body := range map[string]string{
		"no histogram": "# TYPE countermesh_store_committed_ops_total counter\ncountermesh_store_committed_ops_total 3\n",
		"no ops":       "# TYPE countermesh_store_commit_seconds histogram\ncountermesh_store_commit_seconds_bucket{le=\"+Inf\"} 1\ncountermesh_store_commit_seconds_sum 0.1\ncountermesh_store_commit_seconds_count 1\n",
		"not metrics":  "<html>",
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte(body)) }))
		_, err := scrapeCommits(context.Background(), srv.Client(), srv.URL)
		srv.Close()
		if err == nil {
			t.Errorf("%s: read", name)
		}
	}
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	if _, err := scrapeCommits(context.Background(), srv.Client(), srv.URL); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("a peer answering 404: %v", err)
	}
}

var errTest = errors.New("metrics unreachable")

// fakeObserved is a system whose commit counts are set by the test.
type fakeObserved struct {
	system
	readings []commitCounts
	err      error
}

func (f *fakeObserved) commits(context.Context) (commitCounts, error) {
	if f.err != nil {
		return commitCounts{}, f.err
	}
	c := f.readings[0]
	f.readings = f.readings[1:]
	return c, nil
}

func TestPeerCommitsReportTheUpperMedianBound(t *testing.T) {
	inf := math.Inf(1)
	reading := func(under1ms, under5ms, all, ops uint64) commitCounts {
		return commitCounts{bounds: []float64{0.001, 0.005, inf}, counts: []uint64{under1ms, under5ms, all}, ops: ops}
	}
	// Two runs: one whose p99 is under 1 ms, one whose p99 is under 5 ms.
	sys := &fakeObserved{readings: []commitCounts{
		reading(0, 0, 0, 0), reading(100, 100, 100, 200),
		reading(100, 100, 100, 200), reading(150, 200, 200, 600),
	}}
	var pc peerCommits
	for range 2 {
		pc.start(context.Background(), sys)()
	}
	row := &Row{Note: "first"}
	pc.report(row)
	if row.PeerCommitP99Ms != 5 || row.PeerOpsPerCommit != 3 {
		t.Errorf("p99 %v ms, %v ops per commit; want 5 (the upper of 1 and 5), 3 (median of 2 and 4)", row.PeerCommitP99Ms, row.PeerOpsPerCommit)
	}
	if row.Note != "first; peer's commits p99 ≤ 5 ms, 3.0 ops each" {
		t.Errorf("note %q", row.Note)
	}

	// Beyond the last bound, it says so.
	sys = &fakeObserved{readings: []commitCounts{reading(0, 0, 0, 0), reading(0, 0, 10, 10)}}
	pc = peerCommits{}
	pc.start(context.Background(), sys)()
	row = &Row{}
	pc.report(row)
	if row.PeerCommitP99Ms != -1 || row.Note != "peer's commits p99 over 5 ms, 1.0 ops each" {
		t.Errorf("beyond the last bound: %v, %q", row.PeerCommitP99Ms, row.Note)
	}

	// A peer whose metrics cannot be read: the row says why, without figures.
	pc = peerCommits{}
	pc.start(context.Background(), &fakeObserved{err: errTest})()
	row = &Row{}
	pc.report(row)
	if row.PeerCommitP99Ms != 0 || row.Note != "peer's commits not read: "+errTest.Error() {
		t.Errorf("unreadable: %v, %q", row.PeerCommitP99Ms, row.Note)
	}

	// A system that says nothing of its commits gets nothing.
	pc = peerCommits{}
	pc.start(context.Background(), nil)()
	row = &Row{}
	pc.report(row)
	if row.Note != "" || row.PeerCommitP99Ms != 0 {
		t.Errorf("a system without commits: %+v", row)
	}
}
