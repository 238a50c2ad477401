package persist_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/countermesh/countermesh/crdt"
	"github.com/countermesh/countermesh/persist"
)

// faultyDisk fails commits on demand, as a full disk would.
type faultyDisk struct {
	failing atomic.Bool  // fail every commit while set
	every   atomic.Int64 // when > 0, fail every n-th commit
	commits atomic.Int64
}

func (f *faultyDisk) commitFault(int) error {
	n := f.commits.Add(1)
	if f.failing.Load() || (f.every.Load() > 0 && n%f.every.Load() == 0) {
		return fmt.Errorf("injected: %w", syscall.ENOSPC)
	}
	return nil
}

func TestFailedCommitsChangeNothingAndReadsKeepWorking(t *testing.T) {
	dir := t.TempDir()
	disk := &faultyDisk{}
	s := openStore(t, dir, func(o *persist.Options) { o.CommitFault = disk.commitFault })
	write(t, s, persist.Add("a", "claps", 3), persist.React("a", "u0", "like"))
	baseline := readItem(t, s, "a", "u0")
	seq := s.LastSeq()

	disk.failing.Store(true)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 10 {
				_, err := s.Write(context.Background(), persist.Add("a", "claps", 1),
					persist.React("a", fmt.Sprint("u", w), "dislike"),
					persist.AddOnce("a", "claps", 1, fmt.Sprint("key", w, i)))
				if !errors.Is(err, persist.ErrCommitFailed) || !errors.Is(err, syscall.ENOSPC) {
					t.Errorf("write on a full disk: err = %v, want ErrCommitFailed wrapping ENOSPC", err)
				}
				// Reads keep working and see only acknowledged state.
				if v := readItem(t, s, "a", "u0"); v.Counters["claps"] != 3 || !v.Tallies.Equal(baseline.Tallies) {
					t.Errorf("read during fault = %+v, want %+v", v, baseline)
				}
			}
		})
	}
	wg.Wait()
	if err := s.CheckTallies(); err != nil {
		t.Error(err)
	}

	disk.failing.Store(false)
	res := write(t, s, persist.AddOnce("a", "claps", 1, "key00"))[0]
	if res.Replayed || res.Seq != seq+1 || res.Value != 4 {
		t.Errorf("first write after the fault = %+v, want seq %d value 4, not a replay", res, seq+1)
	}
	s.Close()
	s = openStore(t, dir)
	if v := readItem(t, s, "a", "u0"); v.Counters["claps"] != 4 || !v.Tallies.Equal(baseline.Tallies) {
		t.Errorf("after restart = %+v", v)
	}
}

// TestIntermittentCommitFailures fails every third commit under concurrent load:
// exactly the acknowledged writes are applied, including those decided on top of a
// batch that then failed.
func TestIntermittentCommitFailures(t *testing.T) {
	disk := &faultyDisk{}
	disk.every.Store(3)
	s := openStore(t, t.TempDir(), func(o *persist.Options) { o.CommitFault = disk.commitFault })
	const writers, each = 8, 60
	acked := make([]int64, writers)  // acknowledged claps per writer's counter
	last := make([]string, writers)  // last acknowledged reaction per writer's user
	failed := make([]int64, writers) // writes refused
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				kind := []string{"like", "dislike", crdt.None}[i%3]
				_, err := s.Write(context.Background(), persist.Add("a", fmt.Sprint("c", w), 2),
					persist.React("a", fmt.Sprint("u", w), kind))
				switch {
				case err == nil:
					acked[w] += 2
					last[w] = kind
				case errors.Is(err, persist.ErrCommitFailed):
					failed[w]++
				default:
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	var nFailed int64
	for w := range writers {
		nFailed += failed[w]
		v := readItem(t, s, "a", fmt.Sprint("u", w))
		if got := v.Counters[fmt.Sprint("c", w)]; got != acked[w] {
			t.Errorf("writer %d: counter %d, acknowledged %d", w, got, acked[w])
		}
		if v.User.Kind != last[w] {
			t.Errorf("writer %d: reaction %q, last acknowledged %q", w, v.User.Kind, last[w])
		}
	}
	if nFailed == 0 {
		t.Error("no write failed: the fault was not injected")
	}
	if err := s.CheckTallies(); err != nil {
		t.Error(err)
	}
}
