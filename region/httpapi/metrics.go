package httpapi

import (
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/countermesh/countermesh/region/httpapi/live"
)

// metrics are the API's Prometheus metrics. Names are listed in the package
// documentation.
type metrics struct {
	requests          *prometheus.CounterVec   // route, code
	latency           *prometheus.HistogramVec // route
	writes            *prometheus.CounterVec   // kind, outcome
	rateLimited       prometheus.Counter
	causalWaits       prometheus.Counter
	causalWaitSeconds prometheus.Histogram
	causalStale       prometheus.Counter
}

// Outcomes of a write, the outcome label of countermesh_api_writes_total.
const (
	outcomeOK          = "ok"          // applied and durable
	outcomeReplayed    = "replayed"    // an increment retried with its idempotency key: nothing changed
	outcomeInvalid     = "invalid"     // refused before the store: bad input
	outcomeConflict    = "conflict"    // idempotency key reused, clock drift, overflow
	outcomeUnavailable = "unavailable" // store full, failed, closed or overloaded: not applied
	outcomeUnknown     = "unknown"     // timed out or cancelled: may or may not be applied
	outcomeError       = "error"       // an unexpected error
)

func newMetrics(reg *prometheus.Registry, b Backend, hub *live.Hub) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "countermesh_api_requests_total",
			Help: "HTTP requests answered, by route pattern and status code.",
		}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "countermesh_api_request_duration_seconds",
			Help:    "Time to answer an HTTP request, by route pattern (live streams: until the stream ends).",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route"}),
		writes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "countermesh_api_writes_total",
			Help: "Write operations, by kind (react, add) and outcome (ok, replayed, invalid, conflict, unavailable, unknown, error).",
		}, []string{"kind", "outcome"}),
		rateLimited: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "countermesh_api_rate_limited_total",
			Help: "Requests refused with 429 by the per-token rate limit.",
		}),
		causalWaits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "countermesh_api_causal_waits_total",
			Help: "Reads whose causal token made them wait for replication.",
		}),
		causalWaitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "countermesh_api_causal_wait_seconds",
			Help:    "How long reads waited for replication to catch up with their causal token.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}),
		causalStale: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "countermesh_api_causal_stale_total",
			Help: "Answers sent with X-Causal-Stale: a read whose wait for the causal token ran out, or a write (writes never wait).",
		}),
	}
	subscribers := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "countermesh_api_live_subscribers",
		Help: "Live event streams open.",
	}, func() float64 { return float64(hub.Subscribers()) })
	storeBytes := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "countermesh_store_bytes",
		Help: "Bytes the peer's store takes on disk (tables and value log), refreshed about every minute.",
	}, func() float64 { lsm, vlog := b.DiskSize(); return float64(lsm + vlog) })
	for _, c := range []prometheus.Collector{m.requests, m.latency, m.writes, m.rateLimited,
		m.causalWaits, m.causalWaitSeconds, m.causalStale, subscribers, storeBytes, lagCollector{b},
		edgeCollector{b}, healthCollector{b}, storeCollector{b}} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("httpapi: register metrics: %w", err)
		}
	}
	return m, nil
}

// write counts n write ops of kind with outcome.
func (m *metrics) write(kind, outcome string, n int) {
	m.writes.WithLabelValues(kind, outcome).Add(float64(n))
}

// lagCollector reports replication toward every remote peer from the peer's
// status, read at scrape time.
type lagCollector struct{ b Backend }

var (
	lagSeqsDesc = prometheus.NewDesc("countermesh_replication_lag_seqs",
		"Local changes not yet acknowledged by a remote peer.", []string{"region", "peer"}, nil)
	lagSecondsDesc = prometheus.NewDesc("countermesh_replication_lag_seconds",
		"Age of the oldest local change a remote peer has not acknowledged.", []string{"region", "peer"}, nil)
	linkedDesc = prometheus.NewDesc("countermesh_peer_linked",
		"1 when a sync link to the remote peer is up, else 0.", []string{"region", "peer"}, nil)
	aliveDesc = prometheus.NewDesc("countermesh_peer_alive",
		"1 when the remote peer is alive in this peer's membership (gossip), else 0 (suspect, dead, left or unknown).",
		[]string{"region", "peer"}, nil)
	refusedDesc = prometheus.NewDesc("countermesh_sync_refused_keys",
		"Local keys the remote peer refuses now as beyond its max clock drift; offered again until taken.",
		[]string{"region", "peer"}, nil)
	refusingDesc = prometheus.NewDesc("countermesh_sync_refusing_keys",
		"Keys of the remote peer this peer refuses now as beyond its max clock drift.", []string{"region", "peer"}, nil)
	refusalsDesc = prometheus.NewDesc("countermesh_sync_key_refusals_total",
		"Keys this peer refused from the remote peer as beyond its max clock drift, at every offer.",
		[]string{"region", "peer"}, nil)
)

// Describe sends the descriptions of the lag metrics.
func (lagCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- lagSeqsDesc
	ch <- lagSecondsDesc
	ch <- linkedDesc
	ch <- aliveDesc
	ch <- refusedDesc
	ch <- refusingDesc
	ch <- refusalsDesc
}

// Collect sends the lag of every remote peer of the topology.
func (c lagCollector) Collect(ch chan<- prometheus.Metric) {
	for _, r := range c.b.Status().Regions {
		for _, p := range r.Peers {
			if p.Self {
				continue
			}
			ch <- prometheus.MustNewConstMetric(lagSeqsDesc, prometheus.GaugeValue, float64(p.LagSeqs), r.Name, p.Name)
			ch <- prometheus.MustNewConstMetric(lagSecondsDesc, prometheus.GaugeValue, p.LagSeconds, r.Name, p.Name)
			ch <- prometheus.MustNewConstMetric(linkedDesc, prometheus.GaugeValue, oneIf(p.Linked), r.Name, p.Name)
			ch <- prometheus.MustNewConstMetric(aliveDesc, prometheus.GaugeValue, oneIf(p.Membership == "alive"), r.Name, p.Name)
			ch <- prometheus.MustNewConstMetric(refusedDesc, prometheus.GaugeValue, float64(p.RefusedKeys), r.Name, p.Name)
			ch <- prometheus.MustNewConstMetric(refusingDesc, prometheus.GaugeValue, float64(p.RefusingKeys), r.Name, p.Name)
			ch <- prometheus.MustNewConstMetric(refusalsDesc, prometheus.CounterValue, float64(p.Refusals), r.Name, p.Name)
		}
	}
}

// instrument wraps h, the handler of route, counting its answers by status code
// and timing them.
func (s *Server) instrument(route string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		h.ServeHTTP(rec, r)
		code := rec.status
		if code == 0 {
			code = http.StatusOK
		}
		s.metrics.requests.WithLabelValues(route, strconv.Itoa(code)).Inc()
		s.metrics.latency.WithLabelValues(route).Observe(time.Since(start).Seconds())
	})
}

// statusRecorder remembers the status code of an answer. It unwraps to the
// ResponseWriter it wraps, so http.ResponseController reaches its Flush and
// deadlines.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

// WriteHeader records the first status code and passes it on.
func (w *statusRecorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

// Write records an implicit 200 and passes the bytes on.
func (w *statusRecorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Flush flushes the wrapped writer if it can.
func (w *statusRecorder) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap returns the wrapped ResponseWriter.
func (w *statusRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// slog2promLogger passes promhttp's errors to slog.
type slog2promLogger struct{ l *slog.Logger }

// Println logs the error of serving /metrics.
func (p slog2promLogger) Println(v ...any) { p.l.Error("httpapi: serve metrics: " + fmt.Sprint(v...)) }
