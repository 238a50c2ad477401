package crdt_test

import (
	"math"
	"sync/atomic"
	"time"

	"github.com/countermesh/countermesh/crdt"
	"pgregory.net/rapid"
)

// Small domains, so that generated values collide: the same replica, the same
// timestamp, the same user on the same item.
var (
	testReplicas = []crdt.ReplicaID{1, 2, 3}
	testKinds    = []string{crdt.None, "like", "dislike"}
	testItems    = []string{"video:a", "video:b"}
	testUsers    = []string{"ann", "bob", "cy"}
	testNames    = []string{"claps", "views"}
)

// baseWall is a plausible wall clock reading, in ms since the Unix epoch.
const baseWall int64 = 1_700_000_000_000

// fakeWall is a settable wall clock, safe for concurrent use.
type fakeWall struct{ ms atomic.Int64 }

func newFakeWall(ms int64) *fakeWall {
	w := &fakeWall{}
	w.ms.Store(ms)
	return w
}

func (w *fakeWall) Now() time.Time { return time.UnixMilli(w.ms.Load()) }
func (w *fakeWall) Set(ms int64)   { w.ms.Store(ms) }
func (w *fakeWall) Add(ms int64)   { w.ms.Add(ms) }
func (w *fakeWall) Millis() int64  { return w.ms.Load() }

func genReplica() *rapid.Generator[crdt.ReplicaID] { return rapid.SampledFrom(testReplicas) }

func genTimestamp() *rapid.Generator[crdt.Timestamp] {
	return rapid.Custom(func(t *rapid.T) crdt.Timestamp {
		return crdt.Timestamp{
			Wall:    rapid.Int64Range(0, 2).Draw(t, "wall"),
			Logical: rapid.Uint32Range(0, 2).Draw(t, "logical"),
		}
	})
}

func genRegister() *rapid.Generator[crdt.Register] {
	return rapid.Custom(func(t *rapid.T) crdt.Register {
		return crdt.Register{
			Kind:    rapid.SampledFrom(testKinds).Draw(t, "kind"),
			TS:      genTimestamp().Draw(t, "ts"),
			Replica: genReplica().Draw(t, "replica"),
		}
	})
}

// genTotal draws a grow-only total: mostly tiny, sometimes the largest there is.
func genTotal() *rapid.Generator[uint64] {
	return rapid.OneOf(rapid.Uint64Range(0, 3), rapid.Just(uint64(math.MaxUint64)))
}

func genPN() *rapid.Generator[crdt.PN] {
	return rapid.Custom(func(t *rapid.T) crdt.PN {
		return crdt.PN{P: genTotal().Draw(t, "p"), N: genTotal().Draw(t, "n")}
	})
}

func genCounter() *rapid.Generator[crdt.PNCounter] {
	return rapid.Custom(func(t *rapid.T) crdt.PNCounter {
		entries := rapid.MapOfN(genReplica(), genPN(), 0, len(testReplicas)).Draw(t, "entries")
		return counterOf(entries)
	})
}

// counterOf builds a counter holding entries.
func counterOf(entries map[crdt.ReplicaID]crdt.PN) crdt.PNCounter {
	var c crdt.PNCounter
	for r, pn := range entries {
		c.JoinEntry(r, pn)
	}
	return c
}

func genCounterKey() *rapid.Generator[crdt.CounterKey] {
	return rapid.Custom(func(t *rapid.T) crdt.CounterKey {
		return crdt.CounterKey{
			Item: rapid.SampledFrom(testItems).Draw(t, "item"),
			Name: rapid.SampledFrom(testNames).Draw(t, "name"),
		}
	})
}

func genRegisterKey() *rapid.Generator[crdt.RegisterKey] {
	return rapid.Custom(func(t *rapid.T) crdt.RegisterKey {
		return crdt.RegisterKey{
			Item: rapid.SampledFrom(testItems).Draw(t, "item"),
			User: rapid.SampledFrom(testUsers).Draw(t, "user"),
		}
	})
}

func genDelta() *rapid.Generator[crdt.Delta] {
	return rapid.Custom(func(t *rapid.T) crdt.Delta {
		var d crdt.Delta
		for k, c := range rapid.MapOfN(genCounterKey(), genCounter(), 0, 4).Draw(t, "counters") {
			d.JoinCounter(k, c)
		}
		for k, r := range rapid.MapOfN(genRegisterKey(), genRegister(), 0, 4).Draw(t, "registers") {
			d.JoinRegister(k, r)
		}
		return d
	})
}

func genKeySet() *rapid.Generator[crdt.KeySet] {
	return rapid.Custom(func(t *rapid.T) crdt.KeySet {
		var s crdt.KeySet
		for _, k := range rapid.SliceOfN(genCounterKey(), 0, 4).Draw(t, "counters") {
			s.AddCounter(k)
		}
		for _, k := range rapid.SliceOfN(genRegisterKey(), 0, 4).Draw(t, "registers") {
			s.AddRegister(k)
		}
		return s
	})
}

// itemTallies returns the maintained tallies of item in s (nil when s does not
// know the item).
func itemTallies(s *crdt.State, item string) crdt.Tallies {
	if it := s.Item(item); it != nil {
		return it.Tallies
	}
	return nil
}

// itemRegisters returns the registers of item in s (nil when s does not know it).
func itemRegisters(s *crdt.State, item string) map[string]crdt.Register {
	if it := s.Item(item); it != nil {
		return it.Registers
	}
	return nil
}

// itemValue returns the value of counter name of item in s.
func itemValue(s *crdt.State, item, name string) int64 {
	if it := s.Item(item); it != nil {
		return it.Value(name)
	}
	return 0
}

// tb is the part of testing.TB and *rapid.T the checks below need.
type tb interface {
	Helper()
	Fatalf(format string, args ...any)
}

// checkExact asserts invariant 2 on every test item of s: the maintained tallies
// equal the number of registers per kind.
func checkExact(t tb, who string, s *crdt.State) {
	t.Helper()
	for _, item := range testItems {
		got, want := itemTallies(s, item), crdt.TalliesOf(itemRegisters(s, item))
		if !got.Equal(want) {
			t.Fatalf("%s: item %s: tallies %v, registers count %v (registers %v)",
				who, item, got, want, itemRegisters(s, item))
		}
	}
}

// checkSameState asserts that a and b hold the same counters, registers and
// tallies.
func checkSameState(t tb, a, b *crdt.State) {
	t.Helper()
	if fa, fb := a.Full(), b.Full(); !fa.Equal(fb) {
		t.Fatalf("replicas %v and %v differ:\n%v\n%v", a.Replica(), b.Replica(), fa, fb)
	}
	for _, item := range testItems {
		if x, y := itemTallies(a, item), itemTallies(b, item); !x.Equal(y) {
			t.Fatalf("item %s: tallies on %v = %v, on %v = %v", item, a.Replica(), x, b.Replica(), y)
		}
	}
}

// laterWrite reports whether register a was written after b in the register
// order (timestamp, then replica), computed without Register.Wins.
func laterWrite(a, b crdt.Register) bool {
	if a.TS.Wall != b.TS.Wall {
		return a.TS.Wall > b.TS.Wall
	}
	if a.TS.Logical != b.TS.Logical {
		return a.TS.Logical > b.TS.Logical
	}
	return a.Replica > b.Replica
}
