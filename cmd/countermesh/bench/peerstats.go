package bench

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"slices"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// The peer's metrics the bench reads, beside its clients' figures, to tell the
// peer's share of a latency from the rest (HTTP, scheduling, the clients).
const (
	commitSecondsMetric = "countermesh_store_commit_seconds"
	committedOpsMetric  = "countermesh_store_committed_ops_total"
	schedLatencyMetric  = "go_sched_latencies_seconds"
	answerSecondsMetric = "countermesh_api_request_duration_seconds"
	// metricsRoute is the route the bench's own readings take, left out of
	// the peer's answers.
	metricsRoute = "GET /metrics"
)

// longWait is the least wait of a goroutine to run that the bench counts as
// long: the Go runtime preempts a goroutine that has run this long, so a peer
// whose goroutines wait longer has had its CPUs taken by a few busy ones.
const longWait = 0.010

// peerObserved is a system whose peer says what happened inside it.
type peerObserved interface {
	// peerStats reads the peer's counts since it started.
	peerStats(ctx context.Context) (peerReading, error)
}

// peerReading is one reading of a peer's /metrics: all counts since it
// started.
type peerReading struct {
	commits histogram  // how long each commit took, in seconds
	ops     uint64     // ops in the committed batches
	sched   *histogram // how long goroutines waited to run; nil if not exported
	// answers is how long the peer's handlers took to answer each API
	// request, every route but metricsRoute together, as the peer timed
	// them: from its handler's start, after the request line and headers
	// were read, to the answer's end. nil if not exported.
	answers *histogram
}

// histogram is a Prometheus histogram: cumulative counts per upper bound.
type histogram struct {
	bounds []float64 // ascending, +Inf last
	counts []uint64  // cumulative: observations at most bounds[i]
}

// scrapePeer reads a peer's counts from its /metrics at base.
func scrapePeer(ctx context.Context, hc *http.Client, base string) (peerReading, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return peerReading{}, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return peerReading{}, fmt.Errorf("read the peer's metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return peerReading{}, fmt.Errorf("read the peer's metrics: %s", resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return peerReading{}, fmt.Errorf("read the peer's metrics: %w", err)
	}
	return peerReadingOf(families)
}

// peerReadingOf picks the bench's counts out of a peer's metric families.
func peerReadingOf(families map[string]*dto.MetricFamily) (peerReading, error) {
	var r peerReading
	commits, err := histogramOf(families, commitSecondsMetric)
	if err != nil {
		return peerReading{}, err
	}
	if commits == nil {
		return peerReading{}, fmt.Errorf("the peer's metrics hold no histogram %s", commitSecondsMetric)
	}
	r.commits = *commits
	ops := families[committedOpsMetric]
	if ops == nil || len(ops.GetMetric()) != 1 || ops.GetMetric()[0].GetCounter() == nil {
		return peerReading{}, fmt.Errorf("the peer's metrics hold no counter %s", committedOpsMetric)
	}
	r.ops = uint64(ops.GetMetric()[0].GetCounter().GetValue())
	if r.sched, err = histogramOf(families, schedLatencyMetric); err != nil {
		return peerReading{}, err
	}
	if r.answers, err = routesHistogram(families, answerSecondsMetric); err != nil {
		return peerReading{}, err
	}
	return r, nil
}

// routesHistogram returns the sum of the histograms named name over every
// route but metricsRoute; nil if families has none.
func routesHistogram(families map[string]*dto.MetricFamily, name string) (*histogram, error) {
	f := families[name]
	if f == nil {
		return nil, nil
	}
	var sum *histogram
	for _, m := range f.GetMetric() {
		if routeOf(m) == metricsRoute {
			continue
		}
		h, err := histogramOfMetric(name, m)
		if err != nil {
			return nil, err
		}
		if sum == nil {
			sum = h
			continue
		}
		if !slices.Equal(sum.bounds, h.bounds) {
			return nil, fmt.Errorf("%s: routes with different buckets", name)
		}
		for i := range sum.counts {
			sum.counts[i] += h.counts[i]
		}
	}
	return sum, nil
}

// routeOf returns m's route label.
func routeOf(m *dto.Metric) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == "route" {
			return l.GetValue()
		}
	}
	return ""
}

// histogramOf returns the histogram named name, nil if families has none.
func histogramOf(families map[string]*dto.MetricFamily, name string) (*histogram, error) {
	f := families[name]
	if f == nil {
		return nil, nil
	}
	if len(f.GetMetric()) != 1 {
		return nil, fmt.Errorf("%s: not one histogram", name)
	}
	return histogramOfMetric(name, f.GetMetric()[0])
}

// histogramOfMetric returns m, a metric of the family name, as a histogram.
func histogramOfMetric(name string, m *dto.Metric) (*histogram, error) {
	h := m.GetHistogram()
	if h == nil {
		return nil, fmt.Errorf("%s: not a histogram", name)
	}
	var out histogram
	for _, b := range h.GetBucket() {
		out.bounds = append(out.bounds, b.GetUpperBound())
		out.counts = append(out.counts, b.GetCumulativeCount())
	}
	if n := len(out.bounds); n == 0 || !math.IsInf(out.bounds[n-1], 1) {
		out.bounds = append(out.bounds, math.Inf(1))
		out.counts = append(out.counts, h.GetSampleCount())
	}
	if !slices.IsSorted(out.bounds) || !slices.IsSorted(out.counts) {
		return nil, fmt.Errorf("%s: buckets out of order", name)
	}
	return &out, nil
}

// since returns what was observed after before, an earlier reading of the
// same histogram.
func (h histogram) since(before histogram) (histogram, error) {
	if !slices.Equal(h.bounds, before.bounds) {
		return histogram{}, fmt.Errorf("the bucket bounds changed between two readings")
	}
	d := histogram{bounds: h.bounds, counts: make([]uint64, len(h.counts))}
	for i := range h.counts {
		if h.counts[i] < before.counts[i] {
			return histogram{}, fmt.Errorf("counts went down between two readings (did the peer restart?)")
		}
		d.counts[i] = h.counts[i] - before.counts[i]
	}
	return d, nil
}

// since returns what the peer did after before, an earlier reading of it.
func (r peerReading) since(before peerReading) (peerReading, error) {
	var d peerReading
	var err error
	if d.commits, err = r.commits.since(before.commits); err != nil {
		return peerReading{}, fmt.Errorf("%s: %w", commitSecondsMetric, err)
	}
	if r.ops < before.ops {
		return peerReading{}, fmt.Errorf("%s went down between two readings (did the peer restart?)", committedOpsMetric)
	}
	d.ops = r.ops - before.ops
	if r.sched != nil && before.sched != nil {
		s, err := r.sched.since(*before.sched)
		if err != nil {
			return peerReading{}, fmt.Errorf("%s: %w", schedLatencyMetric, err)
		}
		d.sched = &s
	}
	if r.answers != nil && before.answers != nil {
		a, err := r.answers.since(*before.answers)
		if err != nil {
			return peerReading{}, fmt.Errorf("%s: %w", answerSecondsMetric, err)
		}
		d.answers = &a
	}
	return d, nil
}

// total is how many observations h counts.
func (h histogram) total() uint64 {
	if len(h.counts) == 0 {
		return 0
	}
	return h.counts[len(h.counts)-1]
}

// percentileBound returns the least bucket bound at or under which q percent
// of the observations fell: an upper bound of their q-th percentile, +Inf
// when it lies beyond the last finite bound. ok is false when h counts none.
func (h histogram) percentileBound(q float64) (bound float64, ok bool) {
	n := h.total()
	if n == 0 {
		return 0, false
	}
	need := uint64(math.Ceil(q / 100 * float64(n)))
	for i, count := range h.counts {
		if count >= need {
			return h.bounds[i], true
		}
	}
	return math.Inf(1), true
}

// lastFiniteBound returns h's largest finite bound.
func (h histogram) lastFiniteBound() float64 {
	for i := len(h.bounds) - 1; i >= 0; i-- {
		if !math.IsInf(h.bounds[i], 1) {
			return h.bounds[i]
		}
	}
	return 0
}

// over returns the least bound of h at or above min, and how many
// observations exceeded it; ok is false when every bound of h is below min.
func (h histogram) over(min float64) (bound float64, n uint64, ok bool) {
	for i, b := range h.bounds {
		if b >= min && !math.IsInf(b, 1) {
			return b, h.total() - h.counts[i], true
		}
	}
	return 0, 0, false
}

// peerWatch gathers, over a phase's runs, what the peer did during each: its
// commits (for a phase that wrote) and how often its goroutines waited long
// to run.
type peerWatch struct {
	commitP99s, opsPer []float64 // per run that committed; p99 in ms, +Inf beyond the last bound
	commitMaxs         []float64 // per run that committed: its longest commit's bound in ms, likewise
	commitLastMs       float64   // the commit histogram's largest finite bound
	answerP99s         []float64 // per run that answered requests: their p99 in ms, likewise
	answerLastMs       float64   // the answer histogram's largest finite bound
	longWaits          []float64 // per run: goroutine waits over waitBoundMs
	waitBoundMs        float64
	err                error // the first reading that failed
}

// start reads sys's peer, when it says what happened inside it, and returns
// what to call once the run is over.
func (w *peerWatch) start(ctx context.Context, sys system) (stop func()) {
	po, ok := sys.(peerObserved)
	if !ok {
		return func() {}
	}
	before, err := po.peerStats(ctx)
	if err != nil {
		w.fail(err)
		return func() {}
	}
	return func() {
		// The run's context may have ended with it: read on a context of our own.
		readCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		after, err := po.peerStats(readCtx)
		if err == nil {
			after, err = after.since(before)
		}
		if err != nil {
			w.fail(err)
			return
		}
		w.add(after)
	}
}

// add takes the figures of one run.
func (w *peerWatch) add(run peerReading) {
	if p99, ok := run.commits.percentileBound(99); ok {
		w.commitLastMs = run.commits.lastFiniteBound() * 1000
		w.commitP99s = append(w.commitP99s, p99*1000)
		longest, _ := run.commits.percentileBound(100)
		w.commitMaxs = append(w.commitMaxs, longest*1000)
		w.opsPer = append(w.opsPer, float64(run.ops)/float64(run.commits.total()))
	}
	if run.answers != nil {
		if p99, ok := run.answers.percentileBound(99); ok {
			w.answerLastMs = run.answers.lastFiniteBound() * 1000
			w.answerP99s = append(w.answerP99s, p99*1000)
		}
	}
	if run.sched != nil {
		if bound, n, ok := run.sched.over(longWait); ok {
			w.waitBoundMs = bound * 1000
			w.longWaits = append(w.longWaits, float64(n))
		}
	}
}

func (w *peerWatch) fail(err error) {
	if w.err == nil {
		w.err = err
	}
}

// report adds the figures to row, and to its note, when there are any.
func (w *peerWatch) report(row *Row) {
	if w.err != nil {
		row.addNote("peer's metrics not read: " + w.err.Error())
		return
	}
	if len(w.answerP99s) > 0 {
		p99 := upperMedian(w.answerP99s)
		row.PeerAnswerP99Ms = boundMs(p99)
		row.addNote("peer's handlers answered p99 " + boundNote(p99, w.answerLastMs))
	}
	if len(w.commitP99s) > 0 {
		p99, longest, opsPer := upperMedian(w.commitP99s), upperMedian(w.commitMaxs), median(w.opsPer)
		row.PeerOpsPerCommit = opsPer
		row.PeerCommitP99Ms = boundMs(p99)
		row.PeerCommitMaxMs = boundMs(longest)
		row.addNote(fmt.Sprintf("peer's commits p99 %s, longest %s, %.1f ops each",
			boundNote(p99, w.commitLastMs), boundNote(longest, w.commitLastMs), opsPer))
	}
	if len(w.longWaits) > 0 {
		row.PeerLongWaits, row.PeerLongWaitMs = median(w.longWaits), w.waitBoundMs
		row.addNote(fmt.Sprintf("peer's goroutines waited over %.3g ms to run %.0f times", w.waitBoundMs, row.PeerLongWaits))
	}
}

// upperMedian returns the upper median of vs: of bounds, a bound too.
func upperMedian(vs []float64) float64 {
	return slices.Sorted(slices.Values(vs))[len(vs)/2]
}

// boundMs is a histogram's bound in ms as a Row holds it: -1 when beyond the
// histogram's last finite bound.
func boundMs(ms float64) float64 {
	if math.IsInf(ms, 1) {
		return -1
	}
	return ms
}

// boundNote says a histogram's bound in ms: "≤ 5 ms", or "over 1000 ms" when
// beyond lastMs, its last finite bound.
func boundNote(ms, lastMs float64) string {
	if math.IsInf(ms, 1) {
		return fmt.Sprintf("over %.3g ms", lastMs)
	}
	return fmt.Sprintf("≤ %.3g ms", ms)
}
