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

// peerMetricsServer serves /metrics as a peer would: a commit histogram with
// these observations (seconds), the ops counter, and, when sched is not nil, a
// scheduling-latency histogram with those.
func peerMetricsServer(t *testing.T, commits []float64, ops float64, sched []float64) *httptest.Server {
	t.Helper()
	reg := prometheus.NewRegistry()
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: commitSecondsMetric, Help: "h",
		Buckets: []float64{0.001, 0.005, 0.01}})
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: committedOpsMetric, Help: "c"})
	reg.MustRegister(h, c)
	for _, v := range commits {
		h.Observe(v)
	}
	c.Add(ops)
	if sched != nil {
		s := prometheus.NewHistogram(prometheus.HistogramOpts{Name: schedLatencyMetric, Help: "s",
			Buckets: []float64{0.0009, 0.0105, 0.117}})
		reg.MustRegister(s)
		for _, v := range sched {
			s.Observe(v)
		}
	}
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	t.Cleanup(srv.Close)
	return srv
}

func TestPeerReadingFromMetrics(t *testing.T) {
	// 98 commits under 1 ms, one under 5 ms, one of 7 ms: p99 is at most 5 ms,
	// p100 at most 10 ms. Two goroutine waits of the five were over 10.5 ms.
	obs := make([]float64, 0, 100)
	for range 98 {
		obs = append(obs, 0.0005)
	}
	obs = append(obs, 0.004, 0.007)
	srv := peerMetricsServer(t, obs, 400, []float64{0.0001, 0.0001, 0.005, 0.02, 0.2})
	r, err := scrapePeer(context.Background(), srv.Client(), srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if r.commits.total() != 100 || r.ops != 400 {
		t.Fatalf("read %d commits of %d ops, want 100 of 400", r.commits.total(), r.ops)
	}
	for q, want := range map[float64]float64{50: 0.001, 98: 0.001, 99: 0.005, 100: 0.01} {
		if got, ok := r.commits.percentileBound(q); !ok || got != want {
			t.Errorf("p%g bound %v (%v), want %v", q, got, ok, want)
		}
	}
	if got := r.commits.lastFiniteBound(); got != 0.01 {
		t.Errorf("last finite bound %v, want 0.01", got)
	}
	if r.sched == nil {
		t.Fatal("no scheduling latencies read")
	}
	if bound, n, ok := r.sched.over(longWait); !ok || bound != 0.0105 || n != 2 {
		t.Errorf("waits over %v: %d (%v), want 2 over 0.0105", bound, n, ok)
	}
	if _, _, ok := r.commits.over(1); ok {
		t.Error("a bound of 1 s or more in a histogram whose last is 10 ms")
	}

	// A peer without the scheduler's histogram still says what its commits took.
	srv = peerMetricsServer(t, obs, 400, nil)
	if r, err := scrapePeer(context.Background(), srv.Client(), srv.URL); err != nil || r.sched != nil || r.commits.total() != 100 {
		t.Errorf("without sched latencies: %+v, %v", r, err)
	}
}

// The peer's answers are its request histograms summed over every route but
// the bench's own readings of /metrics.
func TestPeerReadingSumsAnswersOverRoutesButMetrics(t *testing.T) {
	srv := peerMetricsServer(t, []float64{0.0005}, 1, nil)
	reg := prometheus.NewRegistry()
	answers := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: answerSecondsMetric, Help: "a",
		Buckets: []float64{0.001, 0.01}}, []string{"route"})
	reg.MustRegister(answers)
	for range 98 {
		answers.WithLabelValues("PUT /v1/items/{item}/reactions/{user}").Observe(0.0005)
	}
	answers.WithLabelValues("POST /v1/items/{item}/counters/{name}").Observe(0.005)
	answers.WithLabelValues("POST /v1/items/{item}/counters/{name}").Observe(0.005)
	for range 50 {
		answers.WithLabelValues(metricsRoute).Observe(0.5)
	}
	both := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, h := range []http.Handler{srv.Config.Handler, promhttp.HandlerFor(reg, promhttp.HandlerOpts{})} {
			h.ServeHTTP(w, r)
		}
	}))
	defer both.Close()
	r, err := scrapePeer(context.Background(), both.Client(), both.URL)
	if err != nil {
		t.Fatal(err)
	}
	if r.answers == nil || r.answers.total() != 100 {
		t.Fatalf("answers %+v, want 100 of two routes", r.answers)
	}
	if got, ok := r.answers.percentileBound(99); !ok || got != 0.01 {
		t.Errorf("answers p99 bound %v, want 0.01", got)
	}

	// The same reading but for its answers' buckets: only they can refuse.
	other := r
	other.answers = &histogram{bounds: []float64{0.002, math.Inf(1)}, counts: []uint64{100, 100}}
	if _, err := other.since(r); err == nil || !strings.Contains(err.Error(), answerSecondsMetric) {
		t.Errorf("answers of different buckets subtracted: %v", err)
	}
	if d, err := r.since(r); err != nil || d.answers == nil || d.answers.total() != 0 {
		t.Errorf("a reading since itself: %+v, %v", d.answers, err)
	}
}

func TestPeerReadingSinceAnEarlierOne(t *testing.T) {
	inf := math.Inf(1)
	hist := func(counts ...uint64) histogram { return histogram{bounds: []float64{0.001, inf}, counts: counts} }
	sched := func(counts ...uint64) *histogram { return &histogram{bounds: []float64{0.0105, inf}, counts: counts} }
	before := peerReading{commits: hist(10, 12), ops: 50, sched: sched(100, 101)}
	after := peerReading{commits: hist(10, 15), ops: 80, sched: sched(200, 204)}
	d, err := after.since(before)
	if err != nil {
		t.Fatal(err)
	}
	if d.commits.total() != 3 || d.ops != 30 {
		t.Fatalf("since: %d commits, %d ops; want 3, 30", d.commits.total(), d.ops)
	}
	if _, n, _ := d.sched.over(longWait); n != 3 {
		t.Errorf("long waits since: %d, want 3", n)
	}
	// All three commits took longer than the last finite bound.
	if got, ok := d.commits.percentileBound(99); !ok || !math.IsInf(got, 1) {
		t.Errorf("p99 bound %v, want +Inf", got)
	}
	if _, ok := hist(0, 0).percentileBound(99); ok {
		t.Error("a bound from no commit")
	}
	// A peer that restarted between two readings counts less than before.
	if _, err := before.since(after); err == nil {
		t.Error("counts that went down were taken")
	}
	if _, err := (peerReading{commits: hist(10, 12), ops: 40}).since(before); err == nil {
		t.Error("ops that went down were taken")
	}
	other := peerReading{commits: histogram{bounds: []float64{0.002, inf}, counts: []uint64{10, 15}}, ops: 80}
	if _, err := other.since(before); err == nil {
		t.Error("readings of different buckets were subtracted")
	}
}

func TestPeerReadingRefusesMetricsWithoutCommits(t *testing.T) {
	for name, body := range map[string]string{
		"no histogram": "# TYPE countermesh_store_committed_ops_total counter\ncountermesh_store_committed_ops_total 3\n",
		"no ops":       "# TYPE countermesh_store_commit_seconds histogram\ncountermesh_store_commit_seconds_bucket{le=\"+Inf\"} 1\ncountermesh_store_commit_seconds_sum 0.1\ncountermesh_store_commit_seconds_count 1\n",
		"not metrics":  "<html>",
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte(body)) }))
		_, err := scrapePeer(context.Background(), srv.Client(), srv.URL)
		srv.Close()
		if err == nil {
			t.Errorf("%s: read", name)
		}
	}
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	if _, err := scrapePeer(context.Background(), srv.Client(), srv.URL); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("a peer answering 404: %v", err)
	}
}

var errTest = errors.New("metrics unreachable")

// fakeObserved is a system whose peer's readings are set by the test.
type fakeObserved struct {
	system
	readings []peerReading
	err      error
}

func (f *fakeObserved) peerStats(context.Context) (peerReading, error) {
	if f.err != nil {
		return peerReading{}, f.err
	}
	r := f.readings[0]
	f.readings = f.readings[1:]
	return r, nil
}

func TestPeerWatchReportsUpperMedianBoundsAndLongWaits(t *testing.T) {
	inf := math.Inf(1)
	reading := func(under1ms, under5ms, under50ms, all, ops, waits, longWaits uint64) peerReading {
		return peerReading{commits: histogram{bounds: []float64{0.001, 0.005, 0.05, inf}, counts: []uint64{under1ms, under5ms, under50ms, all}},
			ops: ops, sched: &histogram{bounds: []float64{0.0105, inf}, counts: []uint64{waits - longWaits, waits}},
			// as many requests as ops, all answered in under 1 ms but one in a hundred
			answers: &histogram{bounds: []float64{0.001, 0.01, inf}, counts: []uint64{ops - ops/100, ops, ops}}}
	}
	// Two runs: one whose commits all took under 1 ms; one whose p99 is
	// under 5 ms and whose longest commit took under 50.
	sys := &fakeObserved{readings: []peerReading{
		reading(0, 0, 0, 0, 0, 0, 0), reading(100, 100, 100, 100, 200, 50, 2),
		reading(100, 100, 100, 100, 200, 50, 2), reading(250, 299, 300, 300, 1000, 90, 8),
	}}
	var w peerWatch
	for range 2 {
		w.start(context.Background(), sys)()
	}
	row := &Row{Note: "first"}
	w.report(row)
	if row.PeerCommitP99Ms != 5 || row.PeerCommitMaxMs != 50 || row.PeerOpsPerCommit != 3 {
		t.Errorf("p99 %v ms, longest %v ms, %v ops per commit; want 5 (the upper of 1 and 5), 50 (of 1 and 50), 3 (median of 2 and 4)",
			row.PeerCommitP99Ms, row.PeerCommitMaxMs, row.PeerOpsPerCommit)
	}
	if row.PeerAnswerP99Ms != 1 {
		t.Errorf("answers p99 %v ms, want 1", row.PeerAnswerP99Ms)
	}
	if row.PeerLongWaits != 4 || row.PeerLongWaitMs != 10.5 {
		t.Errorf("%v waits over %v ms; want 4 (median of 2 and 6) over 10.5", row.PeerLongWaits, row.PeerLongWaitMs)
	}
	if want := "first; peer's handlers answered p99 ≤ 1 ms; peer's commits p99 ≤ 5 ms, longest ≤ 50 ms, 3.0 ops each; peer's goroutines waited over 10.5 ms to run 4 times"; row.Note != want {
		t.Errorf("note %q, want %q", row.Note, want)
	}

	// Beyond the last bound, it says so; a phase that committed nothing says
	// nothing of commits.
	sys = &fakeObserved{readings: []peerReading{reading(0, 0, 0, 0, 0, 0, 0), reading(0, 0, 0, 10, 10, 0, 0)}}
	w = peerWatch{}
	w.start(context.Background(), sys)()
	row = &Row{}
	w.report(row)
	if row.PeerCommitP99Ms != -1 || row.PeerCommitMaxMs != -1 ||
		row.Note != "peer's handlers answered p99 ≤ 1 ms; peer's commits p99 over 50 ms, longest over 50 ms, 1.0 ops each; peer's goroutines waited over 10.5 ms to run 0 times" {
		t.Errorf("beyond the last bound: %v, %v, %q", row.PeerCommitP99Ms, row.PeerCommitMaxMs, row.Note)
	}
	sys = &fakeObserved{readings: []peerReading{reading(5, 5, 5, 5, 5, 10, 1), reading(5, 5, 5, 5, 5, 10, 1)}}
	w = peerWatch{}
	w.start(context.Background(), sys)()
	row = &Row{}
	w.report(row)
	if row.PeerCommitP99Ms != 0 || strings.Contains(row.Note, "commits") {
		t.Errorf("no commit: %+v", row)
	}

	// A peer whose metrics cannot be read: the row says why, without figures.
	w = peerWatch{}
	w.start(context.Background(), &fakeObserved{err: errTest})()
	row = &Row{}
	w.report(row)
	if row.PeerCommitP99Ms != 0 || row.Note != "peer's metrics not read: "+errTest.Error() {
		t.Errorf("unreadable: %v, %q", row.PeerCommitP99Ms, row.Note)
	}

	// A system that says nothing of its peer gets nothing.
	w = peerWatch{}
	w.start(context.Background(), nil)()
	row = &Row{}
	w.report(row)
	if row.Note != "" || row.PeerCommitP99Ms != 0 {
		t.Errorf("a system without a peer's metrics: %+v", row)
	}
}
