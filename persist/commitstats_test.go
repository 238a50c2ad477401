package persist_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/countermesh/countermesh/persist"
)

// TestCommitStatsCountEveryCommitAndItsOps: committed batches count with the
// ops they carried, a failed commit counts as failed and carries no op, and
// every commit, failed or not, falls in one duration bucket.
func TestCommitStatsCountEveryCommitAndItsOps(t *testing.T) {
	var failNext atomic.Bool
	s := openStore(t, t.TempDir(), func(o *persist.Options) {
		o.CommitFault = func(int) error {
			if failNext.Swap(false) {
				return errors.New("injected")
			}
			return nil
		}
	})
	if st := s.CommitStats(); st.Commits != 0 || st.Ops != 0 || st.Buckets[len(st.Buckets)-1] != 0 {
		t.Fatalf("an idle store counts %+v", st)
	}
	ops := 0
	for i := range 20 {
		batch := []persist.Op{persist.Add(fmt.Sprint("item", i), "claps", 1)}
		if i%2 == 0 {
			batch = append(batch, persist.React(fmt.Sprint("item", i), "u", "like"))
		}
		write(t, s, batch...)
		ops += len(batch)
	}
	failNext.Store(true)
	if _, err := s.Write(context.Background(), persist.Add("lost", "claps", 1)); err == nil {
		t.Fatal("the injected commit failure did not fail the write")
	}
	st := s.CommitStats()
	if st.Ops != uint64(ops) || st.Commits < 1 || st.Commits > 20 || st.Failed != 1 {
		t.Fatalf("after %d ops in 20 writes and one failed: %+v", ops, st)
	}
	total := st.Commits + st.Failed
	for i := 1; i < len(st.Buckets); i++ {
		if st.Buckets[i] < st.Buckets[i-1] {
			t.Fatalf("buckets are not cumulative: %v", st.Buckets)
		}
	}
	if last := st.Buckets[len(st.Buckets)-1]; last > total || st.Seconds <= 0 {
		t.Fatalf("%d commits in buckets of %d, %.6f s in all: %+v", last, total, st.Seconds, st)
	}
}
