package httpapi

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/countermesh/countermesh/persist"
	"github.com/countermesh/countermesh/tests/testkit"
)

// BenchmarkFanOutHTTP10k is the fan-out benchmark of the issue, end to end over
// real HTTP on loopback: 10,000 live subscribers, each on its own HTTP/1.1
// connection (GET /v1/items/{item}/events), on one item of one peer while a
// writer adds 100 claps a second through the API (POST .../counters/claps, one
// every 10 ms, each waiting for its answer). One op is one clap: run it with
// -benchtime=300x for 3 s of claps; ns/op is then the pacing (10 ms), not a cost.
// Target: p99 ≤ 250 ms, RSS ≤ 1 GiB.
//
// The clock starts once every subscriber has its first event. The writer notes
// when each counter value was acknowledged; every later event a subscriber
// receives is one delivery, whose latency is its arrival minus the
// acknowledgement of the claps value it carries — a subscriber that skipped
// intermediate states counts the state it got. An event that beat the writer's
// own answer counts 0 (early tells how many did). Reported:
//   - p50-ms, p99-ms, max-ms: that latency over all deliveries; p99-post-ms the
//     same from the sending of the POST;
//   - p50-change-ms, p99-change-ms: the latency of every clap to every
//     subscriber, from its acknowledgement to the first delivery of a state
//     including it — what a viewer waits for a clap, coalescing included (up to
//     LiveInterval, 100 ms);
//   - deliveries, subs, claps/s (achieved: the writer waits for each answer),
//     cpu-cores (the process's user+system CPU time over the clapping time);
//   - rss-before-MiB (the peer started, no subscriber yet), rss-MiB and hwm-MiB
//     (VmRSS at the end and VmHWM during the run, from /proc/self/status) and
//     heap-MiB (heap in use at the end), and rss-KiB/sub, the RSS growth per
//     subscriber.
//
// The RSS and heap figures include the subscribers' side — 10,000 client
// connections, their buffers and reading goroutines — which lives in this same
// process: they overstate the peer's own memory.
//
// 10,000 subscribers take 20,000 sockets in this process (both ends of each
// connection). The benchmark raises RLIMIT_NOFILE (the hard limit too where it
// may); where that is still too low it serves fewer subscribers and says so in
// its log ("SCALED DOWN"; subs reports how many).
func BenchmarkFanOutHTTP10k(b *testing.B) {
	limit, how := fanOutRaiseFDLimit(2*fanOutSubscribers + fanOutFDReserve)
	b.Logf("RLIMIT_NOFILE %d (%s)", limit, how)
	if load, err := os.ReadFile("/proc/loadavg"); err == nil {
		b.Logf("load average before the run: %s (other processes share the CPUs)", bytes.TrimSpace(load))
	}
	debug.FreeOSMemory() // what an earlier run (-count) left is not counted in this one
	goroutinesBefore := runtime.NumGoroutine()
	hwmReset := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
	p := startFanOutPeer(b, fanOutSubscribers+1000)
	rssBefore, _ := fanOutMemory(b)

	subs := fanOutSubscribers
	if room := (int(limit) - fanOutOpenFDs(b) - fanOutFDReserve) / 2; room < subs {
		if room < 1 {
			b.Fatalf("no file descriptors left for subscribers (RLIMIT_NOFILE %d)", limit)
		}
		b.Logf("SCALED DOWN: %d subscribers instead of %d: RLIMIT_NOFILE is %d (%s) and each subscriber takes 2 descriptors",
			room, fanOutSubscribers, limit, how)
		subs = room
	}

	epoch := time.Now()
	cs := connectFanOut(b, p.addr, subs, epoch)
	testkit.WaitFor(b, fanOutTimeout, "every subscriber's first event", func() bool {
		return cs.greeted.Load()+cs.failed.Load() >= int64(subs)
	})
	cs.check(b)
	rssConnected, _ := fanOutMemory(b)
	b.Logf("%d subscribers connected and greeted in %s; RSS %.0f MiB before them, %.0f MiB with them",
		subs, time.Since(epoch).Round(time.Millisecond), rssBefore, rssConnected)

	w := newFanOutWriter(p.base+"/v1/items/"+fanOutItem+"/counters/claps", epoch)
	b.Cleanup(w.close)
	cpuStart := fanOutCPU(b)
	start := time.Now()
	for b.Loop() {
		time.Sleep(time.Until(start.Add(time.Duration(len(w.acked)) * time.Second / fanOutClapsPerSecond)))
		if err := w.clap(); err != nil {
			b.Fatal(err)
		}
	}
	elapsed := time.Since(start)
	final := int64(len(w.acked))
	testkit.WaitFor(b, fanOutTimeout, "every subscriber to get the last clap", func() bool {
		return cs.caughtUp(final)+cs.failed.Load() >= int64(subs)
	})
	cs.check(b)
	cores := (fanOutCPU(b) - cpuStart).Seconds() / time.Since(start).Seconds()

	r := fanOutResult{subs: subs, claps: final, elapsed: elapsed, cores: cores, hwmReset: hwmReset,
		rssBefore: rssBefore, rssConnected: rssConnected, goroutines: runtime.NumGoroutine()}
	r.rss, r.hwm = fanOutMemory(b)
	runtime.ReadMemStats(&r.mem)
	w.close()
	cs.stopping.Store(true) // the streams end now: not failures
	p.stop()
	cs.close()
	testkit.WaitFor(b, fanOutTimeout, "the benchmark's goroutines to stop", func() bool {
		return runtime.NumGoroutine() <= goroutinesBefore
	})
	r.lat = fanOutLatenciesOf(cs.clients, w)
	r.report(b)
}

// fanOutResult is what a run of BenchmarkFanOutHTTP10k measured.
type fanOutResult struct {
	subs                    int
	claps                   int64
	elapsed                 time.Duration // of the clapping
	cores                   float64       // CPU time over the clapping time
	rssBefore, rssConnected float64       // MiB
	rss, hwm                float64       // MiB, at the end
	hwmReset                bool          // hwm is of this run only
	mem                     runtime.MemStats
	goroutines              int
	lat                     fanOutLatencies
}

// report reports r's metrics and logs them in words.
func (r fanOutResult) report(b *testing.B) {
	b.Helper()
	l := r.lat
	if len(l.state) == 0 {
		b.Fatal("no deliveries")
	}
	rate := float64(r.claps) / r.elapsed.Seconds()
	b.ReportMetric(fanOutQuantileMS(l.state, 0.50), "p50-ms")
	b.ReportMetric(fanOutQuantileMS(l.state, 0.99), "p99-ms")
	b.ReportMetric(fanOutQuantileMS(l.state, 1), "max-ms")
	b.ReportMetric(fanOutQuantileMS(l.fromPost, 0.99), "p99-post-ms")
	b.ReportMetric(fanOutQuantileMS(l.change, 0.50), "p50-change-ms")
	b.ReportMetric(fanOutQuantileMS(l.change, 0.99), "p99-change-ms")
	b.ReportMetric(float64(len(l.state)), "deliveries")
	b.ReportMetric(float64(l.early), "early")
	b.ReportMetric(float64(r.subs), "subs")
	b.ReportMetric(rate, "claps/s")
	b.ReportMetric(r.cores, "cpu-cores")
	b.ReportMetric(r.rssBefore, "rss-before-MiB")
	b.ReportMetric(r.rss, "rss-MiB")
	b.ReportMetric(r.hwm, "hwm-MiB")
	b.ReportMetric(float64(r.mem.HeapInuse)/(1<<20), "heap-MiB")
	if r.subs > 0 {
		// Both ends of every connection live here: an upper bound on the peer's
		// own memory per subscriber.
		b.ReportMetric((r.rss-r.rssBefore)*1024/float64(r.subs), "rss-KiB/sub")
	}
	hwmNote := "during this run"
	if !r.hwmReset {
		hwmNote = "since the process started (/proc/self/clear_refs not writable)"
	}
	b.Logf("%d subscribers, %d claps in %s (%.1f/s): %d deliveries (%d early); latency of the state delivered, from its ack: p50 %.1f ms, p99 %.1f ms, max %.1f ms (from its POST: p99 %.1f ms); of each clap to each subscriber: p50 %.1f ms, p99 %.1f ms, max %.1f ms",
		r.subs, r.claps, r.elapsed.Round(time.Millisecond), rate, len(l.state), l.early,
		fanOutQuantileMS(l.state, 0.50), fanOutQuantileMS(l.state, 0.99), fanOutQuantileMS(l.state, 1),
		fanOutQuantileMS(l.fromPost, 0.99),
		fanOutQuantileMS(l.change, 0.50), fanOutQuantileMS(l.change, 0.99), fanOutQuantileMS(l.change, 1))
	b.Logf("process (clients included): %.2f CPU cores busy while clapping; VmRSS %.0f MiB before the subscribers, %.0f MiB connected, %.0f MiB at the end; VmHWM %.0f MiB %s; heap in use %.0f MiB, stacks %.0f MiB; %d goroutines",
		r.cores, r.rssBefore, r.rssConnected, r.rss, r.hwm, hwmNote,
		float64(r.mem.HeapInuse)/(1<<20), float64(r.mem.StackInuse)/(1<<20), r.goroutines)
}

const (
	fanOutSubscribers     = 10_000
	fanOutClapsPerSecond  = 100
	fanOutItem            = "video:fanout"
	fanOutFDReserve       = 64          // descriptors left for the store, the writer and the runtime
	fanOutTimeout         = time.Minute // bounds each wait of the benchmark
	fanOutLineBufferBytes = 1024        // a subscriber's buffers, small to weigh little in RSS: an event's data line must fit
)

// fanOutPeer is one peer alone — the test backend over a real store — with its
// API served on loopback and its background work running.
type fanOutPeer struct {
	addr string       // host:port of the API
	base string       // http://addr
	srv  *http.Server // serves the API
	stop func()       // ends Run, shuts srv down, closes the store; safe twice
}

// startFanOutPeer starts a peer whose API accepts maxSubs live subscribers and
// does not rate-limit (the subscribers come from a few loopback addresses).
func startFanOutPeer(b testing.TB, maxSubs int) *fanOutPeer {
	b.Helper()
	opts := persist.SmallOptions(b.TempDir())
	opts.Logger = quietLogger()
	store, err := persist.Open(opts)
	if err != nil {
		b.Fatal(err)
	}
	be := storeBackend{Backend: newPeer(store.Replica()), store: store}
	s, err := New(Config{Backend: be, Logger: quietLogger(), RateLimit: -1, MaxSubscribers: maxSubs})
	if err != nil {
		store.Close()
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		store.Close()
		b.Fatal(err)
	}
	p := &fanOutPeer{addr: ln.Addr().String(), srv: s.HTTPServer(ln.Addr().String())}
	p.base = "http://" + p.addr

	ctx, cancel := context.WithCancel(context.Background())
	var run, serve sync.WaitGroup
	var runErr, serveErr error
	run.Go(func() { runErr = s.Run(ctx) })
	serve.Go(func() { serveErr = p.srv.Serve(ln) })
	p.stop = sync.OnceFunc(func() {
		// Run first: it ends the live streams, which would hold Shutdown.
		cancel()
		run.Wait()
		if runErr != nil {
			b.Errorf("Run: %v", runErr)
		}
		sctx, scancel := context.WithTimeout(context.Background(), fanOutTimeout)
		defer scancel()
		if err := p.srv.Shutdown(sctx); err != nil {
			b.Errorf("shut the HTTP server down: %v", err)
			p.srv.Close()
		}
		serve.Wait()
		if !errors.Is(serveErr, http.ErrServerClosed) {
			b.Errorf("Serve: %v", serveErr)
		}
		if err := store.Close(); err != nil {
			b.Errorf("close store: %v", err)
		}
	})
	b.Cleanup(p.stop)
	return p
}

// fanOutClients are the live subscribers, each a raw connection with a
// hand-written GET, read by its own goroutine.
type fanOutClients struct {
	clients  []*fanOutClient
	readers  sync.WaitGroup
	greeted  atomic.Int64 // subscribers that got their first event
	failed   atomic.Int64 // subscribers whose stream failed before close
	stopping atomic.Bool  // close was called: errors are expected
	mu       sync.Mutex
	firstErr error  // guarded by mu
	close    func() // closes every connection and waits for the readers; safe twice
}

// fanOutClient is one live subscriber.
type fanOutClient struct {
	conn net.Conn
	last atomic.Int64 // claps of the latest event; -1 before the first

	// Owned by the reader goroutine until it returned.
	got []fanOutDelivery
}

// fanOutDelivery is one event a subscriber received.
type fanOutDelivery struct {
	claps int64
	at    time.Duration // arrival, since the benchmark's epoch
}

// fanOutPerAddress is how many subscribers share one loopback source address.
// Ten thousand readers are ten thousand browsers, not one address: each group
// dials from its own 127.0.0.x, so the peer's cap on live streams per client
// address (MaxStreamsPerAddress, 256) stays as users run it.
const fanOutPerAddress = 200

// connectFanOut connects n subscribers to the live stream of fanOutItem on the
// API at addr, one after the other, fanOutPerAddress to a source address, and
// starts their readers.
func connectFanOut(b testing.TB, addr string, n int, epoch time.Time) *fanOutClients {
	b.Helper()
	cs := &fanOutClients{clients: make([]*fanOutClient, 0, n)}
	cs.close = sync.OnceFunc(func() {
		cs.stopping.Store(true)
		for _, c := range cs.clients {
			c.conn.Close()
		}
		cs.readers.Wait()
	})
	b.Cleanup(cs.close)
	req := []byte("GET /v1/items/" + fanOutItem + "/events HTTP/1.1\r\nHost: " + addr +
		"\r\nAccept: text/event-stream\r\n\r\n")
	for i := range n {
		from := &net.TCPAddr{IP: net.IPv4(127, 0, byte(1+i/fanOutPerAddress/250), byte(2+i/fanOutPerAddress%250))}
		d := net.Dialer{Timeout: fanOutTimeout, LocalAddr: from}
		conn, err := d.Dial("tcp", addr)
		if err != nil {
			b.Fatalf("subscriber %d of %d: %v", i+1, n, err)
		}
		c := &fanOutClient{conn: conn}
		c.last.Store(-1)
		cs.clients = append(cs.clients, c)
		if _, err := conn.Write(req); err != nil {
			b.Fatalf("subscriber %d of %d: send GET: %v", i+1, n, err)
		}
		cs.readers.Go(func() { cs.read(c, epoch) })
	}
	return cs
}

// read reads c's stream until it ends, noting every event.
func (cs *fanOutClients) read(c *fanOutClient, epoch time.Time) {
	defer c.conn.Close() // also ends the response body, never closed on its own
	resp, err := http.ReadResponse(bufio.NewReaderSize(c.conn, fanOutLineBufferBytes), nil)
	if err != nil {
		cs.fail(fmt.Errorf("read response: %w", err))
		return
	}
	if resp.StatusCode != http.StatusOK {
		cs.fail(fmt.Errorf("live stream answered %s", resp.Status))
		return
	}
	body := bufio.NewReaderSize(resp.Body, fanOutLineBufferBytes)
	for {
		line, err := body.ReadSlice('\n')
		if err != nil {
			cs.fail(fmt.Errorf("read stream: %w", err))
			return
		}
		data, ok := bytes.CutPrefix(line, []byte("data: "))
		if !ok {
			continue // "event: item", a blank line or a heartbeat
		}
		at := time.Since(epoch)
		claps, err := fanOutClaps(data)
		if err != nil {
			cs.fail(err)
			return
		}
		c.got = append(c.got, fanOutDelivery{claps: claps, at: at})
		if c.last.Swap(claps) < 0 {
			cs.greeted.Add(1)
		}
	}
}

// fail notes a subscriber's failure, unless the subscribers are being closed.
func (cs *fanOutClients) fail(err error) {
	if cs.stopping.Load() {
		return
	}
	cs.failed.Add(1)
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.firstErr == nil {
		cs.firstErr = err
	}
}

// check fails the benchmark (or test) if a subscriber failed.
func (cs *fanOutClients) check(b testing.TB) {
	b.Helper()
	if n := cs.failed.Load(); n > 0 {
		cs.mu.Lock()
		defer cs.mu.Unlock()
		b.Fatalf("%d of %d subscribers failed; the first: %v", n, len(cs.clients), cs.firstErr)
	}
}

// caughtUp counts the subscribers whose latest event carries at least claps.
func (cs *fanOutClients) caughtUp(claps int64) int64 {
	var n int64
	for _, c := range cs.clients {
		if c.last.Load() >= claps {
			n++
		}
	}
	return n
}

// fanOutClaps returns the claps counter of an Item's JSON, 0 when it has none.
// A byte scan, not a JSON decoder: 10,000 subscribers parse in this process.
func fanOutClaps(data []byte) (int64, error) {
	_, after, found := bytes.Cut(data, []byte(`"claps":`))
	if !found {
		return 0, nil
	}
	n := 0
	for n < len(after) && after[n] >= '0' && after[n] <= '9' {
		n++
	}
	claps, err := strconv.ParseInt(string(after[:n]), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("claps of event %q: %w", data, err)
	}
	return claps, nil
}

// fanOutWriter adds one clap at a time through the API and notes, by claps
// value, when it sent each POST and when the answer acknowledged it.
type fanOutWriter struct {
	url         string
	epoch       time.Time
	tr          *http.Transport
	client      *http.Client
	sent, acked []time.Duration // since epoch; index claps-1
}

func newFanOutWriter(url string, epoch time.Time) *fanOutWriter {
	tr := &http.Transport{MaxIdleConnsPerHost: 1}
	return &fanOutWriter{url: url, epoch: epoch, tr: tr, client: &http.Client{Transport: tr, Timeout: fanOutTimeout}}
}

// clap adds one clap and waits for its answer.
func (w *fanOutWriter) clap() error {
	sent := time.Since(w.epoch)
	resp, err := w.client.Post(w.url, "application/json", strings.NewReader(`{"by":1}`))
	if err != nil {
		return fmt.Errorf("clap: %w", err)
	}
	defer resp.Body.Close()
	var it Item
	err = json.NewDecoder(resp.Body).Decode(&it)
	acked := time.Since(w.epoch)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("clap: status %s", resp.Status)
	}
	if err != nil {
		return fmt.Errorf("clap: decode answer: %w", err)
	}
	if want := int64(len(w.acked)) + 1; it.Counters["claps"] != want {
		return fmt.Errorf("clap answered %d claps, want %d: another writer?", it.Counters["claps"], want)
	}
	w.sent = append(w.sent, sent)
	w.acked = append(w.acked, acked)
	return nil
}

func (w *fanOutWriter) close() { w.tr.CloseIdleConnections() }

// fanOutLatencies are the latencies of a run, each sorted.
type fanOutLatencies struct {
	state    []time.Duration // per delivery, from the acknowledgement of the claps value it carries
	fromPost []time.Duration // per delivery, from the sending of the POST of that value
	change   []time.Duration // per clap and subscriber, from its acknowledgement to the first delivery including it
	early    int             // deliveries that arrived before their value's acknowledgement: counted 0
}

// fanOutLatenciesOf computes the latencies of the claps w acknowledged as the
// clients received them.
func fanOutLatenciesOf(clients []*fanOutClient, w *fanOutWriter) fanOutLatencies {
	var l fanOutLatencies
	since := func(v int64, at time.Duration) time.Duration { return max(0, at-w.acked[v-1]) }
	for _, c := range clients {
		seen := int64(0) // the state before the clock started has no clap
		for _, d := range c.got {
			if d.claps < 1 || d.claps > int64(len(w.acked)) {
				continue // the state before the clock started
			}
			if d.at < w.acked[d.claps-1] {
				l.early++
			}
			l.state = append(l.state, since(d.claps, d.at))
			l.fromPost = append(l.fromPost, d.at-w.sent[d.claps-1])
			for ; seen < d.claps; seen++ {
				l.change = append(l.change, since(seen+1, d.at))
			}
		}
	}
	slices.Sort(l.state)
	slices.Sort(l.fromPost)
	slices.Sort(l.change)
	return l
}

// fanOutQuantileMS returns the q-quantile of sorted durations in milliseconds.
func fanOutQuantileMS(sorted []time.Duration, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := min(len(sorted)-1, int(q*float64(len(sorted))))
	return float64(sorted[i]) / float64(time.Millisecond)
}

// fanOutRaiseFDLimit raises the soft RLIMIT_NOFILE to want — raising the hard
// limit too where the process may (CAP_SYS_RESOURCE) — or else to the hard
// limit, and returns the soft limit in force and how it was reached.
func fanOutRaiseFDLimit(want uint64) (uint64, string) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Sprintf("getrlimit: %v", err)
	}
	if lim.Cur >= want {
		return lim.Cur, "already enough"
	}
	if lim.Max < want {
		raised := syscall.Rlimit{Cur: want, Max: want}
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised); err == nil {
			return want, fmt.Sprintf("hard limit raised from %d", lim.Max)
		}
	}
	if lim.Cur < lim.Max {
		raised := syscall.Rlimit{Cur: lim.Max, Max: lim.Max}
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised); err != nil {
			return lim.Cur, fmt.Sprintf("soft limit not raised: %v", err)
		}
	}
	return lim.Max, "soft limit at the hard limit, which this process may not raise"
}

// fanOutCPU returns the user and system CPU time the process used so far.
func fanOutCPU(b *testing.B) time.Duration {
	b.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// fanOutOpenFDs counts the process's open file descriptors.
func fanOutOpenFDs(b *testing.B) int {
	b.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		b.Fatal(err)
	}
	return len(fds)
}

// fanOutMemory returns the process's VmRSS and VmHWM in MiB.
func fanOutMemory(b *testing.B) (rss, hwm float64) {
	b.Helper()
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Fatal(err)
	}
	for line := range strings.Lines(string(status)) {
		name, value, _ := strings.Cut(line, ":")
		kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 64)
		switch {
		case name != "VmRSS" && name != "VmHWM":
			continue
		case err != nil:
			b.Fatalf("/proc/self/status %s: %v", name, err)
		case name == "VmRSS":
			rss = kb / 1024
		default:
			hwm = kb / 1024
		}
	}
	return rss, hwm
}
