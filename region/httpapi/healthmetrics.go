package httpapi

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/countermesh/countermesh/persist"
	"github.com/countermesh/countermesh/region"
)

// healthCollector reports, at scrape time, the two conditions under which a
// peer refuses writes while it keeps serving reads: a clock beyond the max
// drift, and a disk below the store's free-space reserve.
type healthCollector struct{ b Backend }

var (
	clockSkewedDesc = prometheus.NewDesc("countermesh_clock_skewed",
		"1 while this peer's clock is beyond the max drift from most of the mesh: writes are refused (503) and /readyz is not ready.",
		nil, nil)
	belowReserveDesc = prometheus.NewDesc("countermesh_store_below_reserve",
		"1 while the data directory's free space is below the store's reserve: writes are refused (503) and /readyz is not ready.",
		nil, nil)
)

// Describe sends the descriptions of the health metrics.
func (healthCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- clockSkewedDesc
	ch <- belowReserveDesc
}

// Collect asks the Backend whether it takes writes and whether its disk is
// above the store's reserve (one statfs call).
func (c healthCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(clockSkewedDesc, prometheus.GaugeValue,
		oneIf(errors.Is(c.b.Writable(), region.ErrClockSkew)))
	ch <- prometheus.MustNewConstMetric(belowReserveDesc, prometheus.GaugeValue,
		oneIf(errors.Is(c.b.CheckFreeSpace(), persist.ErrDiskFull)))
}

// oneIf returns 1 for true and 0 for false, a gauge's way of saying yes.
func oneIf(yes bool) float64 {
	if yes {
		return 1
	}
	return 0
}
