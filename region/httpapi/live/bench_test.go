package live

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkFanOut10k fans one item out to 10,000 subscribers, each read by its
// own goroutine, at the default Interval while the item changes 100 times a
// second; one op is one change. Every state carries its sequence number and
// creation time. The latency of a change, per subscriber, is from its creation
// to the receipt of a state that includes it (itself or a later one, as skipped
// states are folded into later ones): p50-ms, p99-ms and max-ms over all changes
// and subscribers. B/sub is the heap one subscription costs.
func BenchmarkFanOut10k(b *testing.B) {
	const subscribers, perSecond = 10_000, 100
	created := make([]atomic.Int64, b.N+1) // by sequence number, Unix ns
	var state atomic.Pointer[[]byte]
	setState := func(seq int) {
		now := time.Now().UnixNano()
		created[seq].Store(now)
		js := fmt.Appendf(nil, `{"item":"article","seq":%d,"t":%d}`, seq, now)
		state.Store(&js)
	}
	setState(0)
	h := NewHub(Config{
		MaxSubscribers: subscribers,
		Encode:         func(string) ([]byte, error) { return *state.Load(), nil },
		Logger:         quietLogger(),
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var run sync.WaitGroup
	run.Go(func() { _ = h.Run(ctx) })

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	subs := make([]*Subscription, subscribers)
	for i := range subs {
		var err error
		if subs[i], err = h.Subscribe("article"); err != nil {
			b.Fatal(err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	perSub := (float64(after.HeapAlloc) - float64(before.HeapAlloc)) / subscribers

	// Each reader records the latency of every change it learns of.
	var readers sync.WaitGroup
	lat := make([][]time.Duration, subscribers)
	var caughtUp atomic.Int64 // readers that have seen the last change
	for i, s := range subs {
		readers.Go(func() {
			seen := 0
			samples := make([]time.Duration, 0, b.N)
			for frame := range s.C() {
				now := time.Now()
				seq := benchSeq(frame)
				for ; seen < seq; seen++ {
					samples = append(samples, now.Sub(time.Unix(0, created[seen+1].Load())))
				}
				if seq == b.N {
					caughtUp.Add(1)
				}
			}
			lat[i] = samples
		})
	}

	b.ResetTimer()
	start := time.Now()
	for i := 1; i <= b.N; i++ {
		time.Sleep(time.Until(start.Add(time.Duration(i) * time.Second / perSecond)))
		setState(i)
		h.Notify("article")
	}
	deadline := time.Now().Add(10 * time.Second)
	for caughtUp.Load() < subscribers && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	cancel()
	run.Wait()
	readers.Wait()
	if n := caughtUp.Load(); n < subscribers {
		b.Fatalf("%d of %d subscribers got the last state", n, subscribers)
	}

	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	slices.Sort(all)
	ms := func(q float64) float64 {
		return float64(all[min(len(all)-1, int(q*float64(len(all))))]) / float64(time.Millisecond)
	}
	b.ReportMetric(ms(0.50), "p50-ms")
	b.ReportMetric(ms(0.99), "p99-ms")
	b.ReportMetric(ms(1), "max-ms")
	b.ReportMetric(perSub, "B/sub")
}

// benchSeq extracts seq from a benchmark frame.
func benchSeq(frame []byte) int {
	_, after, _ := bytes.Cut(frame, []byte(`"seq":`))
	end := bytes.IndexByte(after, ',')
	seq, err := strconv.Atoi(string(after[:max(end, 0)]))
	if err != nil {
		panic(fmt.Sprintf("bad frame %q", frame))
	}
	return seq
}
