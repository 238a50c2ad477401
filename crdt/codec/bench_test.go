package codec

import (
	"fmt"
	"testing"

	"github.com/countermesh/countermesh/crdt"
)

// benchDelta returns a delta batch of 5·items keys: per item, two counters of
// three replica entries each and three users' registers.
func benchDelta(items int) crdt.Delta {
	replicas := []crdt.ReplicaID{0x9e3779b97f4a7c15, 0x2545f4914f6cdd1d, 0xd6e8feb86659fd93}
	kinds := []string{"like", "dislike", crdt.None}
	var d crdt.Delta
	for i := range items {
		item := fmt.Sprintf("video:%08d", i)
		for n, name := range []string{"claps", "views"} {
			var c crdt.PNCounter
			for k, r := range replicas {
				c.JoinEntry(r, crdt.PN{P: uint64(1000*i + 10*n + k + 1), N: uint64(k)})
			}
			d.JoinCounter(crdt.CounterKey{Item: item, Name: name}, c)
		}
		for u := range 3 {
			d.JoinRegister(crdt.RegisterKey{Item: item, User: fmt.Sprintf("user:%08d", 3*i+u)}, crdt.Register{
				Kind:    kinds[u],
				TS:      crdt.Timestamp{Wall: 1_700_000_000_000 + int64(i), Logical: uint32(u)},
				Replica: replicas[u],
			})
		}
	}
	return d
}

func BenchmarkEncodeDelta1000(b *testing.B) {
	d := benchDelta(200)
	if d.Len() != 1000 {
		b.Fatalf("delta of %d keys, want 1000", d.Len())
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(EncodeDelta(d))))
	for b.Loop() {
		EncodeDelta(d)
	}
}

func BenchmarkDecodeDelta1000(b *testing.B) {
	d := benchDelta(200)
	enc := EncodeDelta(d)
	b.ReportAllocs()
	b.SetBytes(int64(len(enc)))
	for b.Loop() {
		if _, err := DecodeDelta(enc); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeRegister(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		EncodeRegister(sampleRegister)
	}
}

func BenchmarkDecodeRegister(b *testing.B) {
	enc := EncodeRegister(sampleRegister)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeRegister(enc); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeKeySet1000(b *testing.B) {
	var s crdt.KeySet
	s.AddDelta(benchDelta(200))
	b.ReportAllocs()
	for b.Loop() {
		EncodeKeySet(s)
	}
}

func BenchmarkDecodeKeySet1000(b *testing.B) {
	var s crdt.KeySet
	s.AddDelta(benchDelta(200))
	enc := EncodeKeySet(s)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeKeySet(enc); err != nil {
			b.Fatal(err)
		}
	}
}
