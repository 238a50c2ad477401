package persist

import (
	"sync/atomic"
	"time"
)

// CommitBuckets are the upper bounds, in seconds, of the buckets CommitStats
// counts commit durations in: from a lone fsync to a stall.
var CommitBuckets = [...]float64{0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1}

// CommitStats counts the batches the store has committed, or failed to, since
// it opened: how many, the ops they carried and how long each commit took,
// for a metrics exporter.
type CommitStats struct {
	// Commits counts the batches committed, Failed those whose commit failed.
	Commits, Failed uint64
	// Ops counts the ops the committed batches carried.
	Ops uint64
	// Seconds is the sum of every commit's duration, failed ones included.
	Seconds float64
	// Buckets[i] counts the commits, failed ones included, that took at most
	// CommitBuckets[i] seconds (cumulative, as Prometheus counts them).
	Buckets [len(CommitBuckets)]uint64
}

// commitCounters are the committer's counts, read while it adds to them.
type commitCounters struct {
	commits, failed, ops, nanos atomic.Uint64
	buckets                     [len(CommitBuckets)]atomic.Uint64 // one per bound, not cumulative
}

// record counts one commit of ops ops that took d and failed if err is set.
func (c *commitCounters) record(ops int, d time.Duration, err error) {
	if err != nil {
		c.failed.Add(1)
	} else {
		c.commits.Add(1)
		c.ops.Add(uint64(ops))
	}
	c.nanos.Add(uint64(d))
	for i, bound := range CommitBuckets {
		if d.Seconds() <= bound {
			c.buckets[i].Add(1)
			break
		}
	}
}

// CommitStats returns the store's commit counts so far.
func (s *Store) CommitStats() CommitStats {
	c := &s.commitCounts
	st := CommitStats{Commits: c.commits.Load(), Failed: c.failed.Load(), Ops: c.ops.Load(),
		Seconds: time.Duration(c.nanos.Load()).Seconds()}
	var sum uint64
	for i := range CommitBuckets {
		sum += c.buckets[i].Load()
		st.Buckets[i] = sum
	}
	return st
}
