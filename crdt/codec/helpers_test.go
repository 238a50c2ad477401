package codec

import (
	"bytes"
	"fmt"
	"math"
	"strings"

	"github.com/countermesh/countermesh/crdt"
	"github.com/vmihailenco/msgpack/v5"
	"pgregory.net/rapid"
)

// Tokens for mp, which writes msgpack by hand, including forms the encoders never
// produce.
type (
	arr int    // an array header of that many elements
	obj int    // a map header of that many entries
	raw []byte // bytes written as they are
)

// mp returns the msgpack encoding of parts, in order: arr and obj headers, ints
// (shortest form, negative as negative integers), uint64s, strings, raw bytes, nil,
// bools and float64s.
func mp(parts ...any) []byte {
	var buf bytes.Buffer
	e := msgpack.NewEncoder(&buf)
	for _, p := range parts {
		var err error
		switch p := p.(type) {
		case arr:
			err = e.EncodeArrayLen(int(p))
		case obj:
			err = e.EncodeMapLen(int(p))
		case int:
			err = e.EncodeInt(int64(p))
		case uint64:
			err = e.EncodeUint(p)
		case string:
			err = e.EncodeString(p)
		case raw:
			buf.Write(p)
		case nil:
			err = e.EncodeNil()
		case bool:
			err = e.EncodeBool(p)
		case float64:
			err = e.EncodeFloat64(p)
		default:
			panic(fmt.Sprintf("mp: unsupported part %T", p))
		}
		if err != nil {
			panic(err)
		}
	}
	return buf.Bytes()
}

// counter returns a counter holding entries, given as replica, p, n triples.
func counter(entries ...uint64) crdt.PNCounter {
	var c crdt.PNCounter
	for i := 0; i+2 < len(entries); i += 3 {
		c.JoinEntry(crdt.ReplicaID(entries[i]), crdt.PN{P: entries[i+1], N: entries[i+2]})
	}
	return c
}

// Fixed values used by the table tests, the examples and the fuzz seeds.
var (
	sampleTS       = crdt.Timestamp{Wall: 1_700_000_000_000, Logical: 3}
	sampleRegister = crdt.Register{Kind: "like", TS: crdt.Timestamp{Wall: 1_700_000_000_000}, Replica: 0x0123456789abcdef}
	sampleCounter  = counter(0x0123456789abcdef, 156, 4, 7, 1, 0, math.MaxUint64, math.MaxUint64, 1)
)

// sampleDelta returns a delta of two items holding counters and registers.
func sampleDelta() crdt.Delta {
	var d crdt.Delta
	d.JoinCounter(crdt.CounterKey{Item: "video:b", Name: "views"}, counter(7, 1000, 0))
	d.JoinCounter(crdt.CounterKey{Item: "video:a", Name: "claps"}, sampleCounter)
	d.JoinCounter(crdt.CounterKey{Item: "video:a", Name: "views"}, counter(7, 12, 0, 9, 3, 0))
	d.JoinRegister(crdt.RegisterKey{Item: "video:a", User: "u2"}, sampleRegister)
	d.JoinRegister(crdt.RegisterKey{Item: "video:a", User: "u1"}, crdt.Register{TS: sampleTS, Replica: 9})
	d.JoinRegister(crdt.RegisterKey{Item: "video:c", User: "u1"}, crdt.Register{Kind: "dislike", TS: sampleTS, Replica: 7})
	d.JoinIdem(crdt.IdemKey{Item: "video:a", Key: "frontend\x00k1"}, sampleIdemRecord())
	d.JoinIdem(crdt.IdemKey{Item: "video:d", Key: "k2"}, crdt.NewIdemRecord(7, crdt.Application{TS: sampleTS, Counter: "views", By: -2}))
	return d
}

// sampleIdemRecord returns a record of a keyed increment applied by two
// replicas, the later one compensated.
func sampleIdemRecord() crdt.IdemRecord {
	rec := crdt.NewIdemRecord(9, crdt.Application{TS: sampleTS, Counter: "claps", By: 3})
	rec.JoinApplication(0x0123456789abcdef, crdt.Application{
		TS: crdt.Timestamp{Wall: sampleTS.Wall + 5}, Counter: "claps", By: 3, Compensated: true,
	})
	return rec
}

// sampleKeySet returns the keys of sampleDelta.
func sampleKeySet() crdt.KeySet {
	var s crdt.KeySet
	s.AddDelta(sampleDelta())
	return s
}

// Generators for rapid. Ids are drawn mostly from small pools so that deltas
// group several keys under one item, and sometimes as arbitrary bytes.

func genID(pool ...string) *rapid.Generator[string] {
	return rapid.OneOf(
		rapid.SampledFrom(pool),
		rapid.StringN(0, 24, MaxStringLen),
		rapid.Map(rapid.SliceOfN(rapid.Byte(), 0, 24), func(b []byte) string { return string(b) }),
		rapid.Just(strings.Repeat("é", MaxStringLen/2)), // exactly MaxStringLen bytes
	)
}

var (
	genItem = genID("video:a", "video:b", "post:1", "", "x")
	genName = genID("claps", "views", "shares")
	genUser = genID("u1", "u2", "u3", "user:0123456789")
	genKind = rapid.OneOf(rapid.SampledFrom([]string{"like", "dislike", crdt.None}), genID("wow"))

	genReplica = rapid.Custom(func(t *rapid.T) crdt.ReplicaID {
		return crdt.ReplicaID(rapid.OneOf(
			rapid.Uint64Range(1, 5),
			rapid.Uint64Min(1),
			rapid.Just(uint64(math.MaxUint64)),
		).Draw(t, "replica"))
	})

	genPN = rapid.Custom(func(t *rapid.T) crdt.PN {
		pn := crdt.PN{P: rapid.Uint64().Draw(t, "p"), N: rapid.Uint64().Draw(t, "n")}
		if pn == (crdt.PN{}) {
			pn.P = 1
		}
		return pn
	})

	genCounter = rapid.Custom(func(t *rapid.T) crdt.PNCounter {
		var c crdt.PNCounter
		for range rapid.IntRange(0, 5).Draw(t, "entries") {
			c.JoinEntry(genReplica.Draw(t, "replica"), genPN.Draw(t, "pn"))
		}
		return c
	})

	genTimestamp = rapid.Custom(func(t *rapid.T) crdt.Timestamp {
		return crdt.Timestamp{
			Wall:    rapid.OneOf(rapid.Int64Range(0, 5), rapid.Int64Min(0), rapid.Just(int64(math.MaxInt64))).Draw(t, "wall"),
			Logical: rapid.Uint32().Draw(t, "logical"),
		}
	})

	// genRegister draws the zero register or one a replica could have written.
	genRegister = rapid.Custom(func(t *rapid.T) crdt.Register {
		if rapid.IntRange(0, 9).Draw(t, "zero") == 0 {
			return crdt.Register{}
		}
		ts := genTimestamp.Draw(t, "ts")
		if ts.Wall == 0 {
			ts.Wall = 1
		}
		return crdt.Register{Kind: genKind.Draw(t, "kind"), TS: ts, Replica: genReplica.Draw(t, "replica")}
	})

	// genIdemRecord draws a record replicas could have written: at least one
	// application, each with a positive wall, a counter and a non-zero amount.
	genIdemRecord = rapid.Custom(func(t *rapid.T) crdt.IdemRecord {
		var rec crdt.IdemRecord
		for range rapid.IntRange(1, 4).Draw(t, "applications") {
			ts := genTimestamp.Draw(t, "ts")
			if ts.Wall == 0 {
				ts.Wall = 1
			}
			by := rapid.OneOf(rapid.Int64Range(-3, 3), rapid.Just(int64(math.MinInt64)), rapid.Just(int64(math.MaxInt64))).Draw(t, "by")
			if by == 0 {
				by = 1
			}
			name := genName.Draw(t, "counter")
			if name == "" {
				name = "claps"
			}
			rec.JoinApplication(genReplica.Draw(t, "replica"), crdt.Application{
				TS: ts, Counter: name, By: by, Compensated: rapid.Bool().Draw(t, "compensated"),
			})
		}
		return rec
	})

	genIdemKey = rapid.Custom(func(t *rapid.T) crdt.IdemKey {
		return crdt.IdemKey{Item: genItem.Draw(t, "item"), Key: genID("k1", "frontend\x00k2").Draw(t, "key")}
	})

	genCounterKey = rapid.Custom(func(t *rapid.T) crdt.CounterKey {
		return crdt.CounterKey{Item: genItem.Draw(t, "item"), Name: genName.Draw(t, "name")}
	})

	genRegisterKey = rapid.Custom(func(t *rapid.T) crdt.RegisterKey {
		return crdt.RegisterKey{Item: genItem.Draw(t, "item"), User: genUser.Draw(t, "user")}
	})

	genDelta = rapid.Custom(func(t *rapid.T) crdt.Delta {
		var d crdt.Delta
		for range rapid.IntRange(0, 20).Draw(t, "counters") {
			d.JoinCounter(genCounterKey.Draw(t, "key"), genCounter.Draw(t, "counter"))
		}
		for range rapid.IntRange(0, 20).Draw(t, "registers") {
			d.JoinRegister(genRegisterKey.Draw(t, "key"), genRegister.Draw(t, "register"))
		}
		for range rapid.IntRange(0, 5).Draw(t, "records") {
			d.JoinIdem(genIdemKey.Draw(t, "key"), genIdemRecord.Draw(t, "record"))
		}
		return d
	})

	genKeySet = rapid.Custom(func(t *rapid.T) crdt.KeySet {
		var s crdt.KeySet
		for range rapid.IntRange(0, 20).Draw(t, "counters") {
			s.AddCounter(genCounterKey.Draw(t, "key"))
		}
		for range rapid.IntRange(0, 20).Draw(t, "registers") {
			s.AddRegister(genRegisterKey.Draw(t, "key"))
		}
		for range rapid.IntRange(0, 5).Draw(t, "records") {
			s.AddIdem(genIdemKey.Draw(t, "key"))
		}
		return s
	})
)

// fataler is what the checks need of a *testing.T or a *rapid.T.
type fataler interface {
	Helper()
	Fatalf(format string, args ...any)
}

// checkCanonical fails t unless b, an encoding of v, decodes to a value equal to v
// and re-encodes to b.
func checkCanonical[T any](t fataler, b []byte, v T, dec func([]byte) (T, error), enc func(T) []byte, eq func(a, b T) bool) {
	t.Helper()
	got, err := dec(b)
	if err != nil {
		t.Fatalf("decode %x: %v", b, err)
	}
	if !eq(got, v) {
		t.Fatalf("decode %x = %+v, want %+v", b, got, v)
	}
	if again := enc(got); !bytes.Equal(again, b) {
		t.Fatalf("re-encoding differs:\n got %x\nwant %x", again, b)
	}
}

func equalCounter(a, b crdt.PNCounter) bool   { return a.Equal(b) }
func equalRegister(a, b crdt.Register) bool   { return a == b }
func equalTimestamp(a, b crdt.Timestamp) bool { return a == b }
func equalUint(a, b uint64) bool              { return a == b }
func equalDelta(a, b crdt.Delta) bool         { return a.Equal(b) }
func equalKeySet(a, b crdt.KeySet) bool       { return a.Equal(b) }
