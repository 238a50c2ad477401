package codec

import (
	"errors"
	"slices"
	"testing"

	"github.com/countermesh/countermesh/crdt"
)

// fuzzDecoder fuzzes dec, the decoder called name in errors, from seeds and the
// rejection table: it must not panic, must classify every error, and whatever it
// accepts must be canonical: it re-encodes to the same bytes, which decode to an
// equal value.
func fuzzDecoder[T any](f *testing.F, name string, seeds [][]byte, dec func([]byte) (T, error), enc func(T) []byte, eq func(a, b T) bool) {
	for _, s := range seeds {
		f.Add(s)
	}
	for _, r := range allRejections() {
		if r.decoder == name {
			f.Add(r.in)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := dec(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrVersion) {
				t.Fatalf("decode %x: unclassified error %v", b, err)
			}
			return
		}
		checkCanonical(t, b, v, dec, enc, eq)
	})
}

func FuzzDecodeDelta(f *testing.F) {
	seeds := [][]byte{
		EncodeDelta(crdt.Delta{}),
		EncodeDelta(sampleDelta()),
		EncodeDelta(benchDelta(20)),
		EncodeDelta(crdt.Delta{Counters: map[crdt.CounterKey]crdt.PNCounter{{Item: "a", Name: "claps"}: {}}}),
	}
	fuzzDecoder(f, "delta", seeds, DecodeDelta, EncodeDelta, equalDelta)
}

func FuzzDecodeIdemRecord(f *testing.F) {
	seeds := [][]byte{EncodeIdemRecord(sampleIdemRecord())}
	fuzzDecoder(f, "idem", seeds, DecodeIdemRecord, EncodeIdemRecord, func(a, b crdt.IdemRecord) bool { return a.Equal(b) })
}

func FuzzDecodeKeySet(f *testing.F) {
	var ks crdt.KeySet
	ks.AddDelta(benchDelta(20))
	seeds := [][]byte{EncodeKeySet(crdt.KeySet{}), EncodeKeySet(sampleKeySet()), EncodeKeySet(ks)}
	fuzzDecoder(f, "keyset", seeds, DecodeKeySet, EncodeKeySet, equalKeySet)
}

func FuzzDecodeRegister(f *testing.F) {
	seeds := [][]byte{
		EncodeRegister(crdt.Register{}),
		EncodeRegister(sampleRegister),
		EncodeRegister(crdt.Register{TS: sampleTS, Replica: 1}),
		EncodeRegister(crdt.Register{Kind: "dislike", TS: crdt.Timestamp{Wall: 1, Logical: 1 << 31}, Replica: 300}),
	}
	fuzzDecoder(f, "register", seeds, DecodeRegister, EncodeRegister, equalRegister)
}

func FuzzDecodeCounter(f *testing.F) {
	seeds := [][]byte{
		EncodeCounter(crdt.PNCounter{}),
		EncodeCounter(sampleCounter),
		EncodeCounter(counter(1, 1, 0, 2, 0, 1, 300, 70000, 1<<33)),
	}
	fuzzDecoder(f, "counter", seeds, DecodeCounter, EncodeCounter, equalCounter)
}

func FuzzDecodeTimestamp(f *testing.F) {
	seeds := [][]byte{
		EncodeTimestamp(crdt.Timestamp{}),
		EncodeTimestamp(sampleTS),
		EncodeTimestamp(crdt.Timestamp{Wall: 1 << 62, Logical: 1 << 31}),
	}
	fuzzDecoder(f, "timestamp", seeds, DecodeTimestamp, EncodeTimestamp, equalTimestamp)
}

func FuzzDecodeUint(f *testing.F) {
	seeds := [][]byte{EncodeUint(0), EncodeUint(200), EncodeUint(1 << 40)}
	fuzzDecoder(f, "uint", seeds, DecodeUint, EncodeUint, equalUint)
}

func FuzzDecodeNames(f *testing.F) {
	seeds := [][]byte{EncodeNames(nil), EncodeNames([]string{"like", "dislike"}), EncodeNames([]string{"claps", "views", ""})}
	fuzzDecoder(f, "names", seeds, DecodeNames, EncodeNames, slices.Equal[[]string])
}
