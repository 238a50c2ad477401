package bench

import (
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Latency bounds an HDR histogram tracks: 1 µs to 2 min, 3 significant digits.
const (
	minLatency = time.Microsecond
	maxLatency = 2 * time.Minute
)

// Latencies records durations in an HDR histogram. It is not safe for concurrent
// use: each client records into its own and the runner merges them.
type Latencies struct {
	h *hdrhistogram.Histogram
}

// NewLatencies returns an empty histogram.
func NewLatencies() *Latencies {
	return &Latencies{h: hdrhistogram.New(int64(minLatency/time.Microsecond), int64(maxLatency/time.Microsecond), 3)}
}

// Record adds one duration, clamped into the tracked range.
func (l *Latencies) Record(d time.Duration) {
	us := int64(min(max(d, minLatency), maxLatency) / time.Microsecond)
	l.h.RecordValue(us) // in range: cannot fail
}

// Merge adds every duration recorded in o.
func (l *Latencies) Merge(o *Latencies) { l.h.Merge(o.h) }

// Count returns how many durations were recorded.
func (l *Latencies) Count() int64 { return l.h.TotalCount() }

// Percentile returns the duration at percentile p (0 to 100), or 0 when empty.
func (l *Latencies) Percentile(p float64) time.Duration {
	if l.h.TotalCount() == 0 {
		return 0
	}
	return time.Duration(l.h.ValueAtPercentile(p)) * time.Microsecond
}

// ms converts a duration to milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
