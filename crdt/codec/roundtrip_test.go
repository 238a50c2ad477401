package codec

import (
	"encoding/hex"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/countermesh/countermesh/crdt"
	"pgregory.net/rapid"
)

func TestCounterRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    crdt.PNCounter
	}{
		{"zero", crdt.PNCounter{}},
		{"one entry", counter(1, 1, 0)},
		{"only decrements", counter(1, 0, 5)},
		{"extremes", counter(math.MaxUint64, math.MaxUint64, math.MaxUint64, 1, math.MaxUint64, 0)},
		{"sample", sampleCounter},
		{"many", func() crdt.PNCounter {
			var c crdt.PNCounter
			for r := range uint64(300) { // a map16 header
				c.JoinEntry(crdt.ReplicaID(r*r+1), crdt.PN{P: r, N: 1})
			}
			return c
		}()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkCanonical(t, EncodeCounter(tc.c), tc.c, DecodeCounter, EncodeCounter, equalCounter)
		})
	}
}

func TestRegisterRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		r    crdt.Register
	}{
		{"zero", crdt.Register{}},
		{"sample", sampleRegister},
		{"cleared", crdt.Register{TS: sampleTS, Replica: 1}},
		{"extremes", crdt.Register{Kind: strings.Repeat("k", MaxStringLen), TS: crdt.Timestamp{Wall: math.MaxInt64, Logical: math.MaxUint32}, Replica: math.MaxUint64}},
		{"smallest", crdt.Register{Kind: "a", TS: crdt.Timestamp{Wall: 1}, Replica: 1}},
		{"non-utf8 kind", crdt.Register{Kind: "\xff\x00", TS: sampleTS, Replica: 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkCanonical(t, EncodeRegister(tc.r), tc.r, DecodeRegister, EncodeRegister, equalRegister)
		})
	}
}

func TestTimestampRoundTrip(t *testing.T) {
	for _, ts := range []crdt.Timestamp{{}, sampleTS, {Logical: 1}, {Wall: math.MaxInt64, Logical: math.MaxUint32}} {
		checkCanonical(t, EncodeTimestamp(ts), ts, DecodeTimestamp, EncodeTimestamp, equalTimestamp)
	}
}

func TestUintRoundTrip(t *testing.T) {
	for _, v := range []uint64{0, 1, 127, 128, 255, 256, 65535, 65536, math.MaxUint32, math.MaxUint32 + 1, math.MaxUint64} {
		checkCanonical(t, EncodeUint(v), v, DecodeUint, EncodeUint, equalUint)
	}
}

func TestDeltaRoundTrip(t *testing.T) {
	many := func() crdt.Delta {
		var d crdt.Delta
		for i := range 40 { // map16 headers for items and registers
			item := strings.Repeat("i", i)
			d.JoinCounter(crdt.CounterKey{Item: item, Name: "claps"}, counter(1, uint64(i)+1, 0))
			for u := range 20 {
				d.JoinRegister(crdt.RegisterKey{Item: item, User: strings.Repeat("u", u+i)}, sampleRegister)
			}
		}
		return d
	}
	for _, tc := range []struct {
		name string
		d    crdt.Delta
	}{
		{"zero", crdt.Delta{}},
		{"empty maps", crdt.Delta{Counters: map[crdt.CounterKey]crdt.PNCounter{}, Registers: map[crdt.RegisterKey]crdt.Register{}}},
		{"sample", sampleDelta()},
		{"empty counter and zero register", crdt.Delta{
			Counters:  map[crdt.CounterKey]crdt.PNCounter{{Item: "a", Name: "claps"}: {}},
			Registers: map[crdt.RegisterKey]crdt.Register{{Item: "a", User: "u"}: {}},
		}},
		{"empty strings", crdt.Delta{
			Counters:  map[crdt.CounterKey]crdt.PNCounter{{}: counter(1, 1, 0)},
			Registers: map[crdt.RegisterKey]crdt.Register{{}: sampleRegister},
		}},
		{"longest ids", crdt.Delta{
			Registers: map[crdt.RegisterKey]crdt.Register{{Item: strings.Repeat("i", MaxStringLen), User: strings.Repeat("u", MaxStringLen)}: sampleRegister},
		}},
		{"many", many()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkCanonical(t, EncodeDelta(tc.d), tc.d, DecodeDelta, EncodeDelta, equalDelta)
		})
	}
}

func TestKeySetRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    crdt.KeySet
	}{
		{"zero", crdt.KeySet{}},
		{"sample", sampleKeySet()},
		{"counters only", crdt.KeySet{Counters: map[crdt.CounterKey]struct{}{{Item: "a", Name: "x"}: {}, {Item: "a", Name: "y"}: {}}}},
		{"registers only", crdt.KeySet{Registers: map[crdt.RegisterKey]struct{}{{Item: "b", User: "u"}: {}, {Item: "a", User: "u"}: {}}}},
		{"empty strings", crdt.KeySet{Counters: map[crdt.CounterKey]struct{}{{}: {}}, Registers: map[crdt.RegisterKey]struct{}{{}: {}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkCanonical(t, EncodeKeySet(tc.s), tc.s, DecodeKeySet, EncodeKeySet, equalKeySet)
		})
	}
}

// TestGolden pins the format: if one of these changes, Version must change too.
func TestGolden(t *testing.T) {
	var ks crdt.KeySet
	ks.AddCounter(crdt.CounterKey{Item: "b", Name: "claps"})
	ks.AddRegister(crdt.RegisterKey{Item: "a", User: "u1"})
	ks.AddRegister(crdt.RegisterKey{Item: "b", User: "u0"})
	for _, tc := range []struct {
		name string
		got  []byte
		want string
	}{
		{"uint", EncodeUint(300), "9201cd012c"},
		{"timestamp", EncodeTimestamp(sampleTS), "920192cf0000018bcfe5680003"},
		{"zero register", EncodeRegister(crdt.Register{}), "920194a0000000"},
		// [1, ["like", 1700000000000, 0, 0x0123456789abcdef]]
		{"register", EncodeRegister(sampleRegister), "920194a46c696b65cf0000018bcfe5680000cf0123456789abcdef"},
		// [1, {7: [1000, 0], 9: [3, 0]}]
		{"counter", EncodeCounter(counter(9, 3, 0, 7, 1000, 0)), "9201820792cd03e80009920300"},
		// [1, {"a": [{}, {"u1": ["", 5, 0, 2]}], "b": [{"claps": {7: [1, 0]}}, {}]}]
		{"delta", EncodeDelta(crdt.Delta{
			Counters:  map[crdt.CounterKey]crdt.PNCounter{{Item: "b", Name: "claps"}: counter(7, 1, 0)},
			Registers: map[crdt.RegisterKey]crdt.Register{{Item: "a", User: "u1"}: {TS: crdt.Timestamp{Wall: 5}, Replica: 2}},
		}), "920182a1619280" + "81a2753194a0050002" + "a1629281a5636c617073810792010080"},
		// [1, {"a": [[], ["u1"]], "b": [["claps"], ["u0"]]}]
		{"keyset", EncodeKeySet(ks), "920182a161929091a27531a1629291a5636c61707391a27530"},
	} {
		if got := hex.EncodeToString(tc.got); got != tc.want {
			t.Errorf("%s: encoding\n got %s\nwant %s", tc.name, got, tc.want)
		}
	}
	if n := len(EncodeRegister(sampleRegister)); n > 32 {
		t.Errorf("register of kind like takes %d bytes, want at most 32", n)
	}
}

func TestRoundTripProperties(t *testing.T) {
	t.Run("counter", rapid.MakeCheck(func(t *rapid.T) {
		c := genCounter.Draw(t, "counter")
		checkCanonical(t, EncodeCounter(c), c, DecodeCounter, EncodeCounter, equalCounter)
	}))
	t.Run("register", rapid.MakeCheck(func(t *rapid.T) {
		r := genRegister.Draw(t, "register")
		checkCanonical(t, EncodeRegister(r), r, DecodeRegister, EncodeRegister, equalRegister)
	}))
	t.Run("timestamp", rapid.MakeCheck(func(t *rapid.T) {
		ts := genTimestamp.Draw(t, "ts")
		checkCanonical(t, EncodeTimestamp(ts), ts, DecodeTimestamp, EncodeTimestamp, equalTimestamp)
	}))
	t.Run("uint", rapid.MakeCheck(func(t *rapid.T) {
		v := rapid.Uint64().Draw(t, "v")
		checkCanonical(t, EncodeUint(v), v, DecodeUint, EncodeUint, equalUint)
	}))
	t.Run("delta", rapid.MakeCheck(func(t *rapid.T) {
		d := genDelta.Draw(t, "delta")
		checkCanonical(t, EncodeDelta(d), d, DecodeDelta, EncodeDelta, equalDelta)
	}))
	t.Run("keyset", rapid.MakeCheck(func(t *rapid.T) {
		s := genKeySet.Draw(t, "keyset")
		checkCanonical(t, EncodeKeySet(s), s, DecodeKeySet, EncodeKeySet, equalKeySet)
	}))
}

func TestNamesRoundTrip(t *testing.T) {
	for _, names := range [][]string{nil, {"like"}, {"views", "claps", "views", ""}} {
		got, err := DecodeNames(EncodeNames(names))
		want := slices.Compact(slices.Sorted(slices.Values(names)))
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("round trip of %q: %q, %v; want %q", names, got, err, want)
		}
	}
}
