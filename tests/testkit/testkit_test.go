package testkit

import (
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestMain(m *testing.M) { VerifyNoLeaks(m) }

func TestWaitForReturnsOnceCondHolds(t *testing.T) {
	var calls atomic.Int32
	WaitFor(t, 5*time.Second, "the third call", func() bool { return calls.Add(1) >= 3 })
	if got := calls.Load(); got != 3 {
		t.Errorf("cond called %d times, want 3", got)
	}
}

// recorder is a testing.TB whose Fatalf records the message and ends the
// goroutine, as the real one does.
type recorder struct {
	testing.TB
	msg string
}

func (r *recorder) Helper() {}

func (r *recorder) Fatalf(format string, args ...any) {
	r.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func TestWaitForFailsWithWhatAfterTimeout(t *testing.T) {
	r := &recorder{TB: t}
	done := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(done)
		WaitFor(r, 20*time.Millisecond, "the impossible", func() bool { return false })
	}()
	<-done
	if !strings.Contains(r.msg, "the impossible") {
		t.Errorf("failure %q does not name what was awaited", r.msg)
	}
	if took := time.Since(start); took < 20*time.Millisecond {
		t.Errorf("gave up after %s, before the timeout", took)
	}
}

func TestNoLeaksWaitsForTheTestsGoroutines(t *testing.T) {
	stop := make(chan struct{})
	done := make(chan struct{})
	t.Run("ends its goroutine in a cleanup", func(t *testing.T) {
		NoLeaks(t)
		go func() {
			defer close(done)
			<-stop
		}()
		t.Cleanup(func() { close(stop) })
	})
	<-done
}

func TestNoLeaksReportsALeftGoroutine(t *testing.T) {
	stop := make(chan struct{})
	defer close(stop)
	r := &recorder{TB: t}
	done := make(chan struct{})
	var cleanup func()
	r2 := &cleanupRecorder{recorder: r, cleanup: &cleanup}
	NoLeaks(r2)
	go func() { <-stop }()
	go func() {
		defer close(done)
		cleanup()
	}()
	<-done
	if !strings.Contains(r.msg, "goroutines the test started") {
		t.Errorf("failure %q does not say goroutines were left", r.msg)
	}
}

// cleanupRecorder is a recorder that keeps the cleanup registered with it for
// the test to run, and drops what is logged.
type cleanupRecorder struct {
	*recorder
	cleanup *func()
}

func (r *cleanupRecorder) Cleanup(f func()) { *r.cleanup = f }
func (r *cleanupRecorder) Log(...any)       {}
