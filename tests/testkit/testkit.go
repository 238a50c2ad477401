// Package testkit is the project's test support: a poll with a deadline for
// conditions that have no event to wait on, and goroutine-leak checks for
// TestMain and for one test. It is a leaf: it imports the standard library and goleak only, so
// the tests of every layer may use it.
package testkit

import (
	"testing"
	"time"

	"go.uber.org/goleak"
)

// Poll intervals of WaitFor: the first check is immediate, then the interval
// doubles from firstInterval up to maxInterval.
const (
	firstInterval = time.Millisecond
	maxInterval   = 50 * time.Millisecond
)

// WaitFor polls cond until it returns true, with a short interval that grows,
// and fails the test naming what if cond still does not hold after timeout.
// Use it only where there is no event to wait on; cond runs on the calling
// goroutine.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	interval := firstInterval
	for !cond() {
		left := time.Until(deadline)
		if left <= 0 {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		timer := time.NewTimer(min(interval, left))
		<-timer.C
		interval = min(2*interval, maxInterval)
	}
}

// leakIgnores lists goroutines that outlive a test by design; everything else
// still running when a package's tests end is reported as a leak.
var leakIgnores = []goleak.Option{
	// A Badger open that fails leaves these behind (the goroutines of a cache
	// and watermarks it never stops). Stores retry one such failed open after a
	// kill (dgraph-io/badger#2207). A store left open is still reported: its
	// flush, compaction and write goroutines are not ignored.
	goleak.IgnoreTopFunction("github.com/dgraph-io/badger/v4.(*DB).monitorCache"),
	goleak.IgnoreTopFunction("github.com/dgraph-io/badger/v4.(*DB).updateSize"),
	goleak.IgnoreTopFunction("github.com/dgraph-io/badger/v4/y.(*WaterMark).process"),
	goleak.IgnoreTopFunction("github.com/dgraph-io/ristretto/v2.(*Cache[...]).processItems"),
	goleak.IgnoreTopFunction("github.com/dgraph-io/ristretto/v2.(*defaultPolicy[...]).processItems"),
	goleak.IgnoreTopFunction("github.com/dgraph-io/ristretto/v2/z.(*AllocatorPool).freeupAllocators"),
	// Memberlist's Shutdown does not wait for a probe in flight: it ends on
	// its own once the probe's ack times out. A memberlist left running is
	// still reported: its listeners and schedulers are not ignored.
	goleak.IgnoreTopFunction("github.com/hashicorp/memberlist.(*Memberlist).probeNode"),
}

// VerifyNoLeaks runs the tests of m and then fails the run if goroutines are
// left behind, apart from the few that outlive a test by design. Call it from
// TestMain:
//
//	func TestMain(m *testing.M) { testkit.VerifyNoLeaks(m) }
func VerifyNoLeaks(m *testing.M) {
	goleak.VerifyTestMain(m, leakIgnores...)
}

// leakTimeout bounds how long NoLeaks waits for a test's goroutines to end.
const leakTimeout = 5 * time.Second

// NoLeaks fails t if goroutines started since the call still run once t and
// the cleanups it registers after the call are done, after a bounded wait, and
// logs their stacks. Tests calling it must not run in parallel with others.
func NoLeaks(t testing.TB) {
	t.Helper()
	opts := append([]goleak.Option{goleak.IgnoreCurrent()}, leakIgnores...)
	t.Cleanup(func() {
		var leaked error
		defer func() {
			if leaked != nil {
				t.Log(leaked)
			}
		}()
		WaitFor(t, leakTimeout, "the goroutines the test started to end", func() bool {
			leaked = goleak.Find(opts...)
			return leaked == nil
		})
	})
}
