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

// The peer's metrics the bench reads its commits from.
const (
	commitSecondsMetric = "countermesh_store_commit_seconds"
	committedOpsMetric  = "countermesh_store_committed_ops_total"
)

// commitObserved is a system whose peer says how long its store's commits
// took: the peer's share of a write's latency, beside the clients' figure.
type commitObserved interface {
	// commits returns the peer's commit counts since it started.
	commits(ctx context.Context) (commitCounts, error)
}

// commitCounts is a peer's commits as its /metrics exports them: the
// histogram of their durations and the ops they carried, all since the peer
// started.
type commitCounts struct {
	bounds []float64 // upper bounds in seconds, ascending, +Inf last
	counts []uint64  // cumulative: commits that took at most bounds[i]
	ops    uint64
}

// scrapeCommits reads a peer's commit counts from its /metrics at base.
func scrapeCommits(ctx context.Context, hc *http.Client, base string) (commitCounts, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return commitCounts{}, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return commitCounts{}, fmt.Errorf("read the peer's metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return commitCounts{}, fmt.Errorf("read the peer's metrics: %s", resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return commitCounts{}, fmt.Errorf("read the peer's metrics: %w", err)
	}
	return commitCountsOf(families)
}

// commitCountsOf picks the commit counts out of a peer's metric families.
func commitCountsOf(families map[string]*dto.MetricFamily) (commitCounts, error) {
	secs, ops := families[commitSecondsMetric], families[committedOpsMetric]
	if secs == nil || len(secs.GetMetric()) != 1 || secs.GetMetric()[0].GetHistogram() == nil {
		return commitCounts{}, fmt.Errorf("the peer's metrics hold no histogram %s", commitSecondsMetric)
	}
	if ops == nil || len(ops.GetMetric()) != 1 || ops.GetMetric()[0].GetCounter() == nil {
		return commitCounts{}, fmt.Errorf("the peer's metrics hold no counter %s", committedOpsMetric)
	}
	h := secs.GetMetric()[0].GetHistogram()
	var c commitCounts
	for _, b := range h.GetBucket() {
		c.bounds = append(c.bounds, b.GetUpperBound())
		c.counts = append(c.counts, b.GetCumulativeCount())
	}
	if n := len(c.bounds); n == 0 || !math.IsInf(c.bounds[n-1], 1) {
		c.bounds = append(c.bounds, math.Inf(1))
		c.counts = append(c.counts, h.GetSampleCount())
	}
	if !slices.IsSorted(c.bounds) {
		return commitCounts{}, fmt.Errorf("%s: bucket bounds out of order", commitSecondsMetric)
	}
	c.ops = uint64(ops.GetMetric()[0].GetCounter().GetValue())
	return c, nil
}

// since returns the commits made after before was read, before being an
// earlier reading of the same peer.
func (c commitCounts) since(before commitCounts) (commitCounts, error) {
	if !slices.Equal(c.bounds, before.bounds) {
		return commitCounts{}, fmt.Errorf("%s: the bucket bounds changed between two readings", commitSecondsMetric)
	}
	d := commitCounts{bounds: c.bounds, counts: make([]uint64, len(c.counts)), ops: c.ops - before.ops}
	for i := range c.counts {
		if c.counts[i] < before.counts[i] || c.ops < before.ops {
			return commitCounts{}, fmt.Errorf("%s: counts went down between two readings (did the peer restart?)", commitSecondsMetric)
		}
		d.counts[i] = c.counts[i] - before.counts[i]
	}
	return d, nil
}

// total is how many commits c counts.
func (c commitCounts) total() uint64 {
	if len(c.counts) == 0 {
		return 0
	}
	return c.counts[len(c.counts)-1]
}

// percentileBound returns the least bucket bound, in seconds, at or under
// which q percent of the commits fell: an upper bound of their q-th
// percentile, +Inf when it lies beyond the last finite bound. ok is false when
// c counts no commit.
func (c commitCounts) percentileBound(q float64) (seconds float64, ok bool) {
	n := c.total()
	if n == 0 {
		return 0, false
	}
	need := uint64(math.Ceil(q / 100 * float64(n)))
	for i, count := range c.counts {
		if count >= need {
			return c.bounds[i], true
		}
	}
	return math.Inf(1), true
}

// lastFiniteBound returns the histogram's largest finite bound in seconds.
func (c commitCounts) lastFiniteBound() float64 {
	for i := len(c.bounds) - 1; i >= 0; i-- {
		if !math.IsInf(c.bounds[i], 1) {
			return c.bounds[i]
		}
	}
	return 0
}

// peerCommits gathers, over a phase's runs, the commits the peer made during
// each: for the row, the median of an upper bound of their p99 and of their
// ops per commit.
type peerCommits struct {
	p99s, opsPer []float64 // per run that committed; p99 in ms, +Inf beyond the last bound
	lastBoundMs  float64   // the histogram's largest finite bound
	err          error     // the first reading that failed
}

// start reads sys's commit counts, when it has them, and returns what to call
// once the run is over; it does nothing for a system that says nothing of its
// commits.
func (pc *peerCommits) start(ctx context.Context, sys system) (stop func()) {
	co, ok := sys.(commitObserved)
	if !ok {
		return func() {}
	}
	before, err := co.commits(ctx)
	if err != nil {
		pc.fail(err)
		return func() {}
	}
	return func() {
		// The run's context may have ended with it: read on a context of our own.
		readCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		after, err := co.commits(readCtx)
		if err == nil {
			after, err = after.since(before)
		}
		if err != nil {
			pc.fail(err)
			return
		}
		if p99, ok := after.percentileBound(99); ok {
			pc.lastBoundMs = after.lastFiniteBound() * 1000
			pc.p99s = append(pc.p99s, p99*1000)
			pc.opsPer = append(pc.opsPer, float64(after.ops)/float64(after.total()))
		}
	}
}

func (pc *peerCommits) fail(err error) {
	if pc.err == nil {
		pc.err = err
	}
}

// report adds the figures to row, and to its note, when there are any.
func (pc *peerCommits) report(row *Row) {
	if pc.err != nil {
		row.addNote("peer's commits not read: " + pc.err.Error())
		return
	}
	if len(pc.p99s) == 0 {
		return
	}
	// The upper median: a bound, like each figure it is picked from.
	sorted := slices.Sorted(slices.Values(pc.p99s))
	p99, opsPer := sorted[len(sorted)/2], median(pc.opsPer)
	row.PeerOpsPerCommit = opsPer
	if math.IsInf(p99, 1) {
		row.PeerCommitP99Ms = -1
		row.addNote(fmt.Sprintf("peer's commits p99 over %g ms, %.1f ops each", pc.lastBoundMs, opsPer))
		return
	}
	row.PeerCommitP99Ms = p99
	row.addNote(fmt.Sprintf("peer's commits p99 ≤ %g ms, %.1f ops each", p99, opsPer))
}
