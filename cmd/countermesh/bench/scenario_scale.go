package bench

import (
	"context"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/countermesh/countermesh/persist"
)

// scaleBatch is how many ops one store write of the bulk load carries.
const scaleBatch = 1000

// scale is scenario 5: load many items (a clap each) and reactions of distinct
// users into one peer through its store, read every item once with a user (as
// a serving peer's read model fills), then measure the resident memory it took
// per item, the disk per reaction once closed, and the time from reopening the
// data directory to a ready peer serving a read. The peer's store has the
// memory budget Config.ScaleMemory, as serve --memory gives it.
func (r *runner) scale(ctx context.Context) error {
	dir, err := r.dataDir("scale")
	if err != nil {
		return err
	}
	opts := r.clusterOptions(0)
	profile := "small store profile"
	if !r.cfg.Quick {
		profile = fmt.Sprintf("memory budget %d MiB", r.cfg.ScaleMemory>>20)
		opts.store = func(dir string) persist.Options {
			return persist.DefaultOptions(dir).WithMemoryBudget(r.cfg.ScaleMemory)
		}
	}
	c, err := startCluster(dir, []string{"scale"}, opts)
	if err != nil {
		return err
	}
	defer c.close()
	n := c.nodes[0]
	items, reactions := r.cfg.ScaleItems, r.cfg.ScaleReactions
	total := items + reactions
	// op k: a clap for each item first, then reaction j of user j/items on item j%items.
	opAt := func(k int) persist.Op {
		if k < items {
			return persist.Add(itemID(uint64(k)), clapCounter, 1)
		}
		j := k - items
		return persist.React(itemID(uint64(j%items)), userID(uint64(j/items)), reactionKinds[j%2])
	}
	rssBefore, fileBefore, heapBefore := memoryInUse()
	r.progress("%s / loading %d items and %d reactions", scenScale, items, reactions)
	start := time.Now()
	var (
		next     atomic.Int64
		firstErr error
		once     sync.Once
		wg       sync.WaitGroup
	)
	for range 4 {
		wg.Go(func() {
			for ctx.Err() == nil {
				from := int(next.Add(scaleBatch)) - scaleBatch
				if from >= total {
					return
				}
				ops := make([]persist.Op, 0, scaleBatch)
				for k := from; k < min(from+scaleBatch, total); k++ {
					ops = append(ops, opAt(k))
				}
				if _, err := n.peer.Store().Write(ctx, ops...); err != nil {
					once.Do(func() { firstErr = err })
					return
				}
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	took := time.Since(start)
	r.progress("%s / reading every item once", scenScale)
	page := make([]string, 0, 20)
	for i := range items {
		if page = append(page, itemID(uint64(i))); len(page) == cap(page) || i == items-1 {
			if _, err := n.peer.Store().ReadItems(page, userID(uint64(i))); err != nil {
				return err
			}
			page = page[:0]
		}
	}
	model := n.peer.Store().ReadModelStats()
	r.add(&Row{Scenario: scenScale, Case: caseLoad, System: sysCountermesh, Ops: int64(total), Runs: 1,
		OpsPerSec: float64(total) / took.Seconds(),
		Note:      fmt.Sprintf("%s items, %s reactions in %.1f s (store, batches of %d)", formatNum(float64(items)), formatNum(float64(reactions)), took.Seconds(), scaleBatch)})

	rssAfter, fileAfter, heapAfter := memoryInUse()
	perItem := func(before, after int64) float64 { return float64(after-before) / float64(items) }
	resident := &Row{Scenario: scenScale, Case: caseResident, System: sysCountermesh, Runs: 1, Unit: "bytes/item",
		Note: fmt.Sprintf("RSS growth over the open empty store, %s; of it %.0f bytes/item file-backed "+
			"(Badger's memory-mapped files); Go heap %.0f bytes/item; read model holds %s items in %.0f MiB",
			profile, perItem(fileBefore, fileAfter), perItem(heapBefore, heapAfter),
			formatNum(float64(model.Items)), float64(model.Bytes)/(1<<20))}
	if rssAfter > 0 {
		resident.Value = float64(rssAfter-rssBefore) / float64(items)
	} else {
		resident.Value, resident.Note = float64(heapAfter-heapBefore)/float64(items), "Go heap growth (no RSS on this OS)"
	}
	r.add(resident)
	if err := r.readsBeyondBudget(ctx, n.peer.Store(), items); err != nil {
		return err
	}

	r.progress("%s / closing and reopening the peer", scenScale)
	if err := c.stop(n); err != nil {
		return err
	}
	disk, err := diskUsage(n.dataDir)
	if err != nil {
		return err
	}
	r.add(&Row{Scenario: scenScale, Case: caseDisk, System: sysCountermesh, Runs: 1, Unit: "bytes/reaction",
		Value: float64(disk) / float64(max(reactions, 1)),
		Note:  fmt.Sprintf("%.1f MiB allocated in the data directory after close", float64(disk)/(1<<20))})

	start = time.Now()
	if err := c.start(n); err != nil {
		return err
	}
	for n.peer.Ready() != nil {
		if time.Since(start) > time.Minute {
			return fmt.Errorf("peer not ready a minute after reopening: %v", n.peer.Ready())
		}
		if !sleepCtx(ctx, time.Millisecond) {
			return ctx.Err()
		}
	}
	v, err := n.peer.Store().ReadItem(itemID(0), "")
	if err != nil {
		return err
	}
	ready := time.Since(start)
	if want := int64((reactions + items - 1) / items); v.Tallies["like"]+v.Tallies["dislike"] != want || v.Counters[clapCounter] != 1 {
		return fmt.Errorf("after reopening, item 0 reads %v claps and tallies %v; want 1 clap and %d reactions",
			v.Counters[clapCounter], v.Tallies, want)
	}
	r.add(&Row{Scenario: scenScale, Case: caseRestart, System: sysCountermesh, Runs: 1, Unit: "s",
		Value: ready.Seconds(), Note: "open the data directory, join, answer a read"})
	return nil
}

// memoryInUse returns, after a garbage collection, the process' resident set
// (0 where /proc is missing) and the Go heap in use, in bytes.
func memoryInUse() (rss, fileRSS, heap int64) {
	runtime.GC()
	debug.FreeOSMemory()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	if b, err := os.ReadFile("/proc/self/statm"); err == nil {
		if f := strings.Fields(string(b)); len(f) > 2 {
			pages, _ := strconv.ParseInt(f[1], 10, 64)
			shared, _ := strconv.ParseInt(f[2], 10, 64)
			rss, fileRSS = pages*int64(os.Getpagesize()), shared*int64(os.Getpagesize())
		}
	}
	return rss, fileRSS, int64(m.HeapAlloc)
}

// diskUsage returns the bytes allocated to the files under dir (sparse files
// count what they hold, not their length).
func diskUsage(dir string) (int64, error) {
	var total int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			total += st.Blocks * 512
		} else {
			total += info.Size()
		}
		return nil
	})
	return total, err
}

// readsBeyondBudget measures page reads straight from the store (no HTTP) on
// 4 goroutines for a phase's duration, once over a hot set the read model
// holds (the first 10,000 items) and once uniformly over every item, more than
// its budget holds: how reads behave past the budget. Each row gives pages/s
// and the share of items answered from memory.
func (r *runner) readsBeyondBudget(ctx context.Context, s *persist.Store, items int) error {
	for _, phase := range []struct {
		kase string
		span int
	}{{caseHotSet, min(items, 10_000)}, {caseBeyondBudget, items}} {
		r.progress("%s / %s", scenScale, phase.kase)
		before := s.ReadModelStats()
		var pages atomic.Int64
		var wg sync.WaitGroup
		errs := make(chan error, 4)
		stop := time.Now().Add(r.cfg.Duration)
		for g := range 4 {
			wg.Go(func() {
				rng := rand.New(rand.NewPCG(uint64(g), uint64(phase.span)))
				page := make([]string, 20)
				for ctx.Err() == nil && time.Now().Before(stop) {
					for i := range page {
						page[i] = itemID(uint64(rng.IntN(phase.span)))
					}
					if _, err := s.ReadItems(page, userID(rng.Uint64N(1_000_000))); err != nil {
						errs <- err
						return
					}
					pages.Add(1)
				}
			})
		}
		wg.Wait()
		close(errs)
		if err := <-errs; err != nil {
			return err
		}
		after := s.ReadModelStats()
		hits, misses := after.Hits-before.Hits, after.Misses-before.Misses
		r.add(&Row{Scenario: scenScale, Case: phase.kase, System: sysCountermesh, Runs: 1, Ops: pages.Load(),
			OpsPerSec: float64(pages.Load()) / r.cfg.Duration.Seconds(),
			Note: fmt.Sprintf("pages of 20 from the store on 4 goroutines over %s items; %.1f%% from memory, "+
				"model holds %s items", formatNum(float64(phase.span)), 100*float64(hits)/float64(max(hits+misses, 1)),
				formatNum(float64(after.Items)))})
	}
	return nil
}
