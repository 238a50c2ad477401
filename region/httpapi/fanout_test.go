package httpapi

import (
	"testing"
	"time"

	"github.com/countermesh/countermesh/tests/testkit"
)

// TestFanOutHarnessDeliversEveryClap runs the harness of BenchmarkFanOutHTTP10k
// at a small scale, where CI runs it: a change that breaks the benchmark — a
// cap its subscribers run into, an answer it no longer reads — fails here
// rather than only when someone measures. 600 subscribers from three loopback
// addresses follow one item while 20 claps are added one at a time; every
// subscriber must get the last.
func TestFanOutHarnessDeliversEveryClap(t *testing.T) {
	const subs, claps = 3 * fanOutPerAddress, 20
	p := startFanOutPeer(t, subs+10)
	epoch := time.Now()
	cs := connectFanOut(t, p.addr, subs, epoch)
	testkit.WaitFor(t, fanOutTimeout, "every subscriber's first event", func() bool {
		return cs.greeted.Load()+cs.failed.Load() >= subs
	})
	cs.check(t)
	w := newFanOutWriter(p.base+"/v1/items/"+fanOutItem+"/counters/claps", epoch)
	defer w.close()
	for range claps {
		if err := w.clap(); err != nil {
			t.Fatal(err)
		}
	}
	testkit.WaitFor(t, fanOutTimeout, "every subscriber to get the last clap", func() bool {
		return cs.caughtUp(claps)+cs.failed.Load() >= subs
	})
	cs.check(t)
	cs.stopping.Store(true) // the streams end now: not failures
	p.stop()
	cs.close()
}
