package crdt_test

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/countermesh/countermesh/crdt"
	"pgregory.net/rapid"
)

func TestTimestampOrder(t *testing.T) {
	tests := []struct {
		a, b crdt.Timestamp
		want int
	}{
		{crdt.Timestamp{}, crdt.Timestamp{}, 0},
		{crdt.Timestamp{Wall: 5, Logical: 1}, crdt.Timestamp{Wall: 5, Logical: 1}, 0},
		{crdt.Timestamp{Wall: 4, Logical: math.MaxUint32}, crdt.Timestamp{Wall: 5}, -1},
		{crdt.Timestamp{Wall: 5, Logical: 2}, crdt.Timestamp{Wall: 5, Logical: 1}, 1},
		{crdt.Timestamp{Wall: -1}, crdt.Timestamp{}, -1},
	}
	for _, tc := range tests {
		if got := tc.a.Compare(tc.b); got != tc.want {
			t.Errorf("%v.Compare(%v) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
		if got := tc.b.Compare(tc.a); got != -tc.want {
			t.Errorf("%v.Compare(%v) = %d, want %d", tc.b, tc.a, got, -tc.want)
		}
		if got := tc.a.Before(tc.b); got != (tc.want < 0) {
			t.Errorf("%v.Before(%v) = %v", tc.a, tc.b, got)
		}
	}
	if ts := (crdt.Timestamp{Wall: 12, Logical: 3}); ts.String() != "12.3" || ts.IsZero() {
		t.Errorf("Timestamp{12, 3}: String %q, IsZero %v", ts.String(), ts.IsZero())
	}
	if !(crdt.Timestamp{}).IsZero() {
		t.Error("zero Timestamp: IsZero false")
	}
}

func TestNewClockDefaults(t *testing.T) {
	for _, d := range []time.Duration{0, -time.Second} {
		if got := crdt.NewClock(nil, d).MaxDrift(); got != crdt.DefaultMaxDrift {
			t.Errorf("NewClock(nil, %v).MaxDrift() = %v, want %v", d, got, crdt.DefaultMaxDrift)
		}
	}
	if got := crdt.NewClock(nil, time.Second).MaxDrift(); got != time.Second {
		t.Errorf("MaxDrift() = %v, want 1s", got)
	}
	before := time.Now().UnixMilli()
	got := crdt.NewClock(nil, 0).WallMillis()
	if after := time.Now().UnixMilli(); got < before || got > after {
		t.Errorf("nil wall reads %d, want time.Now in [%d, %d]", got, before, after)
	}
	c := crdt.NewClock(newFakeWall(baseWall).Now, 0)
	if !c.Last().IsZero() {
		t.Errorf("new clock Last() = %v, want zero", c.Last())
	}
}

// TestClockProperties drives a clock with a wall clock that jumps backwards and
// forwards and with remote timestamps near and far ahead, and checks after every
// call that readings strictly increase, order after everything observed, never
// lag the wall clock, and that exactly the drifting timestamps are refused.
func TestClockProperties(t *testing.T) {
	const maxDrift = 2 * time.Second
	rapid.Check(t, func(t *rapid.T) {
		w := newFakeWall(baseWall)
		c := crdt.NewClock(w.Now, maxDrift)
		var floor crdt.Timestamp // the latest reading or accepted observation
		steps := rapid.IntRange(1, 100).Draw(t, "steps")
		for range steps {
			switch rapid.IntRange(0, 2).Draw(t, "op") {
			case 0:
				w.Add(rapid.Int64Range(-5_000, 5_000).Draw(t, "jump"))
			case 1:
				ts := c.Now()
				if !floor.Before(ts) || ts.Wall < w.Millis() || c.Last() != ts {
					t.Fatalf("Now() = %v after %v at wall %d; Last() = %v", ts, floor, w.Millis(), c.Last())
				}
				floor = ts
			case 2:
				remote := crdt.Timestamp{
					Wall:    w.Millis() + rapid.Int64Range(-3_000, 3_000).Draw(t, "offset"),
					Logical: rapid.OneOf(rapid.Uint32Range(0, 3), rapid.Just(uint32(math.MaxUint32))).Draw(t, "logical"),
				}
				floor = checkObserve(t, c, w, remote, floor)
			}
		}
	})
}

// checkObserve observes remote on c and checks the outcome; it returns the new
// floor every later reading must order after.
func checkObserve(t *rapid.T, c *crdt.Clock, w *fakeWall, remote, floor crdt.Timestamp) crdt.Timestamp {
	before := c.Last()
	err := c.Observe(remote)
	drifting := remote.Wall-w.Millis() > c.MaxDrift().Milliseconds()
	switch {
	case drifting && err == nil:
		t.Fatalf("Observe(%v) at wall %d accepted, more than %v ahead", remote, w.Millis(), c.MaxDrift())
	case !drifting && err != nil:
		t.Fatalf("Observe(%v) at wall %d: %v", remote, w.Millis(), err)
	case drifting:
		if !errors.Is(err, crdt.ErrClockDrift) || c.Last() != before {
			t.Fatalf("refused Observe(%v): err %v, Last %v -> %v", remote, err, before, c.Last())
		}
		return floor
	}
	if want := maxTimestamp(before, remote); c.Last() != want {
		t.Fatalf("Observe(%v): Last %v -> %v, want %v", remote, before, c.Last(), want)
	}
	return maxTimestamp(floor, remote)
}

func maxTimestamp(a, b crdt.Timestamp) crdt.Timestamp {
	if a.Before(b) {
		return b
	}
	return a
}

func TestClockNowAfterObserve(t *testing.T) {
	tests := []struct {
		name   string
		remote crdt.Timestamp // relative to the wall clock
	}{
		{"remote behind", crdt.Timestamp{Wall: -10_000, Logical: 7}},
		{"remote same ms", crdt.Timestamp{Wall: 0, Logical: 7}},
		{"remote ahead", crdt.Timestamp{Wall: 30_000, Logical: 7}},
		{"remote at max drift", crdt.Timestamp{Wall: 60_000}},
		{"remote ahead, last logical", crdt.Timestamp{Wall: 1, Logical: math.MaxUint32}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := crdt.NewClock(newFakeWall(baseWall).Now, crdt.DefaultMaxDrift)
			remote := crdt.Timestamp{Wall: baseWall + tc.remote.Wall, Logical: tc.remote.Logical}
			if err := c.Observe(remote); err != nil {
				t.Fatalf("Observe(%v): %v", remote, err)
			}
			if got := c.Now(); !remote.Before(got) {
				t.Errorf("Now() = %v after Observe(%v)", got, remote)
			}
		})
	}
}

func TestClockDriftError(t *testing.T) {
	const maxDrift = 60 * time.Second
	c := crdt.NewClock(newFakeWall(baseWall).Now, maxDrift)
	c.Restore(crdt.Timestamp{Wall: baseWall - 5, Logical: 2})
	last := c.Last()
	remote := crdt.Timestamp{Wall: baseWall + maxDrift.Milliseconds() + 1, Logical: 4}
	err := fmt.Errorf("apply delta: %w", c.Observe(remote))

	var de *crdt.DriftError
	if !errors.As(err, &de) {
		t.Fatalf("Observe(%v) = %v, want a *DriftError", remote, err)
	}
	if !errors.Is(err, crdt.ErrClockDrift) {
		t.Errorf("errors.Is(%v, ErrClockDrift) = false", err)
	}
	want := crdt.DriftError{Remote: remote, LocalWall: baseWall, MaxDrift: maxDrift}
	if *de != want {
		t.Errorf("DriftError = %+v, want %+v", *de, want)
	}
	if got := de.Ahead(); got != maxDrift+time.Millisecond {
		t.Errorf("Ahead() = %v, want %v", got, maxDrift+time.Millisecond)
	}
	if msg := de.Error(); !strings.HasPrefix(msg, "crdt: ") || !strings.Contains(msg, remote.String()) {
		t.Errorf("Error() = %q", msg)
	}
	if c.Last() != last {
		t.Errorf("refused Observe moved Last from %v to %v", last, c.Last())
	}
	if errors.Is(errors.New("other"), crdt.ErrClockDrift) || errors.Is(crdt.ErrOverflow, crdt.ErrClockDrift) {
		t.Error("unrelated errors match ErrClockDrift")
	}
}

// TestClockObserveFarPastIsNotDrift: a timestamp far in the past is not ahead
// of the wall clock and must not be refused as drift, even where remote.Wall-pt
// would wrap around in int64.
func TestClockObserveFarPastIsNotDrift(t *testing.T) {
	c := crdt.NewClock(newFakeWall(baseWall).Now, crdt.DefaultMaxDrift)
	for _, remote := range []crdt.Timestamp{{Wall: -1}, {Wall: math.MinInt64 + baseWall}, {Wall: math.MinInt64}} {
		if err := c.Observe(remote); err != nil {
			t.Errorf("Observe(%v) at wall %d: %v", remote, baseWall, err)
		}
	}
}

func TestClockRestoreNeverBackwards(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		w := newFakeWall(baseWall)
		c := crdt.NewClock(w.Now, time.Second)
		var high crdt.Timestamp
		for _, hw := range rapid.SliceOfN(genTimestamp(), 1, 20).Draw(t, "high-water marks") {
			// Far ahead of the wall clock too: Restore does not check drift.
			hw.Wall += baseWall + rapid.Int64Range(-10_000, 10_000).Draw(t, "offset")
			c.Restore(hw)
			high = maxTimestamp(high, hw)
			if c.Last() != high {
				t.Fatalf("after Restore(%v): Last() = %v, want %v", hw, c.Last(), high)
			}
		}
		if ts := c.Now(); !high.Before(ts) {
			t.Fatalf("Now() = %v after Restore up to %v", ts, high)
		}
	})
}

func TestClockLogicalOverflow(t *testing.T) {
	tests := []struct {
		name string
		wall int64 // wall clock, ms relative to the restored reading
	}{
		{"wall behind", -1_000},
		{"wall equal", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := crdt.NewClock(newFakeWall(baseWall+tc.wall).Now, 0)
			c.Restore(crdt.Timestamp{Wall: baseWall, Logical: math.MaxUint32 - 1})
			if got, want := c.Now(), (crdt.Timestamp{Wall: baseWall, Logical: math.MaxUint32}); got != want {
				t.Fatalf("first Now() = %v, want %v", got, want)
			}
			if got, want := c.Now(), (crdt.Timestamp{Wall: baseWall + 1}); got != want {
				t.Fatalf("Now() after logical %d = %v, want %v", uint32(math.MaxUint32), got, want)
			}
		})
	}
}

// TestClockConcurrentNow takes readings from several goroutines while another
// moves the wall clock back and forth: all readings are distinct, and each
// goroutine sees its own readings increase.
func TestClockConcurrentNow(t *testing.T) {
	const goroutines, readings = 8, 500
	w := newFakeWall(baseWall)
	c := crdt.NewClock(w.Now, 0)
	got := make([][]crdt.Timestamp, goroutines)
	done := make(chan struct{})
	var wg, jumper sync.WaitGroup
	jumper.Go(func() {
		for i := int64(0); ; i++ {
			select {
			case <-done:
				return
			default:
				w.Set(baseWall + i%7 - 3) // backwards every seventh step
			}
		}
	})
	for g := range goroutines {
		wg.Go(func() {
			for range readings {
				got[g] = append(got[g], c.Now())
			}
		})
	}
	wg.Wait()
	close(done)
	jumper.Wait()

	seen := make(map[crdt.Timestamp]int, goroutines*readings)
	for g, ts := range got {
		for i, r := range ts {
			if prev, dup := seen[r]; dup {
				t.Fatalf("reading %v returned to goroutines %d and %d", r, prev, g)
			}
			seen[r] = g
			if i > 0 && !ts[i-1].Before(r) {
				t.Fatalf("goroutine %d: reading %v after %v", g, r, ts[i-1])
			}
		}
	}
}
