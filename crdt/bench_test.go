package crdt_test

import (
	"fmt"
	"testing"

	"github.com/countermesh/countermesh/crdt"
)

// benchDelta1000 builds a delta batch of 1,000 keys: 200 items, each with two
// counters of three replica entries and three reaction registers.
func benchDelta1000(replicaBase crdt.ReplicaID) crdt.Delta {
	var d crdt.Delta
	for i := range 200 {
		item := fmt.Sprintf("video:%04d", i)
		for _, name := range []string{"claps", "views"} {
			var c crdt.PNCounter
			for r := range crdt.ReplicaID(3) {
				c.JoinEntry(replicaBase+r, crdt.PN{P: uint64(i) * 10, N: uint64(r)})
			}
			d.JoinCounter(crdt.CounterKey{Item: item, Name: name}, c)
		}
		for u := range 3 {
			d.JoinRegister(crdt.RegisterKey{Item: item, User: fmt.Sprintf("user-%d", u)},
				crdt.Register{Kind: "like", TS: crdt.Timestamp{Wall: 1_700_000_000_000 + int64(i)}, Replica: replicaBase})
		}
	}
	return d
}

// BenchmarkDeltaJoin1000 joins two overlapping 1,000-key delta batches, as a
// sender coalescing a hot batch does.
func BenchmarkDeltaJoin1000(b *testing.B) {
	x, y := benchDelta1000(1), benchDelta1000(2)
	b.ReportAllocs()
	for b.Loop() {
		d := x.Clone()
		d.Join(y)
	}
}

// BenchmarkStateApply1000 applies a 1,000-key delta to a replica's state that
// already holds an older version of every key.
func BenchmarkStateApply1000(b *testing.B) {
	old, d := benchDelta1000(1), benchDelta1000(2)
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		s := crdt.NewState(9)
		s.Apply(old)
		b.StartTimer()
		s.Apply(d)
	}
}
