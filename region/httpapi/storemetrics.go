package httpapi

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/countermesh/countermesh/persist"
)

// storeCollector reports, at scrape time, the store's commits: how long each
// took and how many ops they carried, from Backend.CommitStats.
type storeCollector struct{ b Backend }

var (
	commitSecondsDesc = prometheus.NewDesc("countermesh_store_commit_seconds",
		"How long the store took to commit a batch of writes (one Badger transaction and one fsync), failed commits included.",
		nil, nil)
	committedOpsDesc = prometheus.NewDesc("countermesh_store_committed_ops_total",
		"Ops in the batches the store committed; divided by countermesh_store_commit_seconds_count, the ops per batch.",
		nil, nil)
	commitsFailedDesc = prometheus.NewDesc("countermesh_store_commits_failed_total",
		"Batches whose commit failed: every write in them failed.", nil, nil)
)

// Describe sends the descriptions of the store's metrics.
func (storeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- commitSecondsDesc
	ch <- committedOpsDesc
	ch <- commitsFailedDesc
}

// Collect sends the store's commit counts.
func (c storeCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.b.CommitStats()
	buckets := make(map[float64]uint64, len(persist.CommitBuckets))
	for i, bound := range persist.CommitBuckets {
		buckets[bound] = st.Buckets[i]
	}
	ch <- prometheus.MustNewConstHistogram(commitSecondsDesc, st.Commits+st.Failed, st.Seconds, buckets)
	ch <- prometheus.MustNewConstMetric(committedOpsDesc, prometheus.CounterValue, float64(st.Ops))
	ch <- prometheus.MustNewConstMetric(commitsFailedDesc, prometheus.CounterValue, float64(st.Failed))
}
