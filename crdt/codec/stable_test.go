package codec

import (
	"bytes"
	"slices"
	"sync"
	"testing"

	"github.com/countermesh/countermesh/crdt"
	"github.com/vmihailenco/msgpack/v5"
	"pgregory.net/rapid"
)

// deltaOp is one join into a delta: a counter entry or a register.
type deltaOp struct {
	counter bool
	ck      crdt.CounterKey
	replica crdt.ReplicaID
	pn      crdt.PN
	rk      crdt.RegisterKey
	reg     crdt.Register
}

var genDeltaOp = rapid.Custom(func(t *rapid.T) deltaOp {
	if rapid.Bool().Draw(t, "counter") {
		return deltaOp{counter: true, ck: genCounterKey.Draw(t, "key"), replica: genReplica.Draw(t, "replica"), pn: genPN.Draw(t, "pn")}
	}
	return deltaOp{rk: genRegisterKey.Draw(t, "key"), reg: genRegister.Draw(t, "register")}
})

// build joins ops, in order, into a delta and a key set.
func build(ops []deltaOp) (crdt.Delta, crdt.KeySet) {
	var d crdt.Delta
	var s crdt.KeySet
	for _, op := range ops {
		if op.counter {
			var c crdt.PNCounter
			c.JoinEntry(op.replica, op.pn)
			d.JoinCounter(op.ck, c)
			s.AddCounter(op.ck)
		} else {
			d.JoinRegister(op.rk, op.reg)
			s.AddRegister(op.rk)
		}
	}
	return d, s
}

// TestByteStability checks that the same delta (and key set) built by joins in any
// order encodes to the same bytes, with each item once.
func TestByteStability(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		ops := rapid.SliceOfN(genDeltaOp, 0, 40).Draw(t, "ops")
		d1, s1 := build(ops)
		d2, s2 := build(rapid.Permutation(ops).Draw(t, "permuted"))
		reversed := slices.Clone(ops)
		slices.Reverse(reversed)
		d3, s3 := build(reversed)
		if !d1.Equal(d2) || !d1.Equal(d3) {
			t.Fatalf("the joins do not commute: %+v, %+v, %+v", d1, d2, d3)
		}
		b1, b2, b3 := EncodeDelta(d1), EncodeDelta(d2), EncodeDelta(d3)
		if !bytes.Equal(b1, b2) || !bytes.Equal(b1, b3) {
			t.Fatalf("equal deltas encode differently:\n%x\n%x\n%x", b1, b2, b3)
		}
		k1, k2, k3 := EncodeKeySet(s1), EncodeKeySet(s2), EncodeKeySet(s3)
		if !bytes.Equal(k1, k2) || !bytes.Equal(k1, k3) {
			t.Fatalf("equal key sets encode differently:\n%x\n%x\n%x", k1, k2, k3)
		}
		if n := itemCount(t, b1); n != len(d1.Items()) {
			t.Fatalf("delta encodes %d items, want %d (one per item)", n, len(d1.Items()))
		}
		if n, want := itemCount(t, k1), keySetItems(s1); n != want {
			t.Fatalf("key set encodes %d items, want %d (one per item)", n, want)
		}
	})
}

// keySetItems counts the distinct items of s.
func keySetItems(s crdt.KeySet) int {
	items := map[string]bool{}
	for k := range s.Counters {
		items[k.Item] = true
	}
	for k := range s.Registers {
		items[k.Item] = true
	}
	return len(items)
}

// itemCount returns the number of entries of the item map of b, a Delta or KeySet
// encoding, read with plain msgpack.
func itemCount(t *rapid.T, b []byte) int {
	dec := msgpack.NewDecoder(bytes.NewReader(b))
	if n, err := dec.DecodeArrayLen(); err != nil || n != 2 {
		t.Fatalf("top level: %d elements, %v", n, err)
	}
	if v, err := dec.DecodeUint64(); err != nil || v != Version {
		t.Fatalf("version %d, %v", v, err)
	}
	n, err := dec.DecodeMapLen()
	if err != nil {
		t.Fatalf("items: %v", err)
	}
	return n
}

// TestEncodeConcurrent checks that pooled encoders and decoders are not shared
// between goroutines (run with -race).
func TestEncodeConcurrent(t *testing.T) {
	d := sampleDelta()
	want := EncodeDelta(d)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 200 {
				b := EncodeDelta(d)
				if !bytes.Equal(b, want) {
					t.Errorf("concurrent encoding differs")
					return
				}
				got, err := DecodeDelta(b)
				if err != nil || !got.Equal(d) {
					t.Errorf("concurrent decoding: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
}
