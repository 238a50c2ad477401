package live

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/countermesh/countermesh/tests/testkit"
)

// On the real clock too, a subscriber that never reads does not delay the
// others: each of them holds every change within one Interval plus slack. The
// slack is wide for a loaded machine running -race (a subscriber that blocked the
// hub would delay the others for ever, not by seconds); the exact bound is
// checked on the fake clock by TestStalledSubscriberSkipsToLatest.
func TestStalledSubscriberRealClock(t *testing.T) {
	const interval, slack = 20 * time.Millisecond, 10 * time.Second
	st := newStore()
	h := NewHub(Config{Interval: interval, Encode: st.encode, Logger: quietLogger()})
	stopHub := runHub(t, h)

	stalled := subscribe(t, h, "a")
	probe := subscribe(t, h, "a")
	var readers []<-chan []received
	for range 200 {
		readers = append(readers, reader(t, subscribe(t, h, "a")))
	}
	var mu sync.Mutex
	changed := map[int]time.Time{0: time.Now()}
	for v := 1; v <= 30; v++ {
		time.Sleep(interval * 3 / 2)
		st.set("a", v)
		mu.Lock()
		changed[v] = time.Now()
		mu.Unlock()
		h.Notify("a")
	}
	last := -1
	testkit.WaitFor(t, realSlack, "the latest state", func() bool {
		select {
		case b := <-probe.C():
			last = valueOf(t, b)
		default:
		}
		return last == 30
	})
	h.mu.Lock()
	item := h.mu.items["a"]
	h.mu.Unlock()
	item.mu.Lock() // the delivery that reached probe has ended once its lock is free
	item.mu.Unlock()
	if got := string(recvNow(t, stalled)); got != event("a", 30) {
		t.Fatalf("stalled subscriber read %q, want the latest %q", got, event("a", 30))
	}
	stopHub()

	var worst time.Duration
	for _, r := range readers {
		got := readAll(t, r)
		if got[len(got)-1].v != 30 {
			t.Fatalf("reader ended at v=%d, want 30", got[len(got)-1].v)
		}
		// Change v is held once a state ≥ v arrives.
		next := 1
		for _, g := range got {
			for ; next <= g.v; next++ {
				lat := g.at.Sub(changed[next])
				if lat > interval+slack {
					t.Fatalf("change %d reached a reader after %v, want ≤ %v", next, lat, interval+slack)
				}
				worst = max(worst, lat)
			}
		}
	}
	t.Logf("worst latency of a change to one of 200 readers: %v (Interval %v)", worst, interval)
}

// Reports and bounds the heap one subscription costs, with 10,000 on one item.
func TestMemoryPerSubscriber(t *testing.T) {
	const n = 10_000
	st := newStore()
	h := NewHub(Config{Encode: st.encode, Logger: quietLogger()})
	defer runHub(t, h)()
	subscribe(t, h, "a").Close() // the item's first frame, outside the measure

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	subs := make([]*Subscription, n)
	for i := range subs {
		subs[i] = subscribe(t, h, "article")
	}
	testkit.WaitFor(t, realSlack, "every subscriber to get the article", func() bool {
		for _, s := range subs {
			if len(s.C()) != 1 {
				return false
			}
		}
		return true
	})
	runtime.GC()
	runtime.ReadMemStats(&after)
	per := (float64(after.HeapAlloc) - float64(before.HeapAlloc)) / n
	t.Logf("heap per subscriber with %d on one item: %.0f B (including the %d B of the slice of subscription pointers)", n, per, cap(subs)*8/n)
	if per > 512 {
		t.Fatalf("%.0f B per subscriber, want ≤ 512", per)
	}
	runtime.KeepAlive(subs)
}

// Run and its subscribers leave no goroutine behind.
func TestNoGoroutineLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	st := newStore()
	h := NewHub(Config{Interval: time.Millisecond, Encode: st.encode, Logger: quietLogger()})
	stopHub := runHub(t, h)
	var readers []<-chan []received
	for i := range 100 {
		readers = append(readers, reader(t, subscribe(t, h, fmt.Sprint(i%7))))
	}
	for i := range 50 {
		h.Notify(fmt.Sprint(i % 7))
		time.Sleep(time.Millisecond)
	}
	stopHub()
	for _, r := range readers {
		readAll(t, r)
	}
	testkit.WaitFor(t, realSlack, "the hub's goroutines to end", func() bool { return runtime.NumGoroutine() <= before })
}

// Subscribe, Close, Notify and reads race with Run (for the race detector), and
// everything ends released.
func TestConcurrentUse(t *testing.T) {
	st := newStore()
	h := NewHub(Config{Interval: time.Millisecond, MaxSubscribers: 50, Encode: st.encode, Logger: quietLogger()})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	stopHub := runHub(t, h)
	items := []string{"a", "b", "c", "d"}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for v := 0; ctx.Err() == nil; v++ {
				item := items[rand.IntN(len(items))]
				st.set(item, v)
				h.Notify(item, "nobody")
			}
		})
	}
	for range 16 {
		wg.Go(func() {
			for ctx.Err() == nil {
				s, err := h.Subscribe(items[rand.IntN(len(items))])
				if err != nil {
					continue // ErrTooManySubscribers: others hold every slot
				}
				for range rand.IntN(4) {
					select {
					case b := <-s.C():
						valueOf(t, b)
					case <-time.After(50 * time.Millisecond):
					}
				}
				s.Close()
				if rand.IntN(2) == 0 {
					s.Close()
				}
			}
		})
	}
	wgWithin(t, &wg, realSlack, "the goroutines ending after 300 ms of concurrent use")
	if n := h.Subscribers(); n != 0 {
		t.Fatalf("Subscribers() = %d after every Close", n)
	}
	stopHub()
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.mu.items) != 0 {
		t.Fatalf("%d items left after every Close", len(h.mu.items))
	}
}
