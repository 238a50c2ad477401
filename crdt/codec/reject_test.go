package codec

import (
	"errors"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// decodeFuncs runs each decoder of the package, by the name it uses in errors.
var decodeFuncs = map[string]func([]byte) error{
	"counter":   func(b []byte) error { _, err := DecodeCounter(b); return err },
	"register":  func(b []byte) error { _, err := DecodeRegister(b); return err },
	"timestamp": func(b []byte) error { _, err := DecodeTimestamp(b); return err },
	"uint":      func(b []byte) error { _, err := DecodeUint(b); return err },
	"delta":     func(b []byte) error { _, err := DecodeDelta(b); return err },
	"keyset":    func(b []byte) error { _, err := DecodeKeySet(b); return err },
	"idem":      func(b []byte) error { _, err := DecodeIdemRecord(b); return err },
	"names":     func(b []byte) error { _, err := DecodeNames(b); return err },
}

// rejection is an input a decoder must refuse, with the error it must match and
// a part of the message naming the field.
type rejection struct {
	name    string
	decoder string // key of decodeFuncs
	in      []byte
	want    error  // ErrMalformed or ErrVersion
	msg     string // found in the message after "<decoder>: "
}

var long = strings.Repeat("x", MaxStringLen+1)

// rejections lists inputs every decoder must refuse. Inputs common to all the
// decoders are added by allRejections.
var rejections = []rejection{
	// counter
	{"replica 0", "counter", mp(arr(2), 1, obj(1), 0, arr(2), 1, 0), ErrMalformed, "replica: zero replica id"},
	{"duplicate replica", "counter", mp(arr(2), 1, obj(2), 5, arr(2), 1, 0, 5, arr(2), 2, 0), ErrMalformed, "replica 0000000000000005: duplicate entry"},
	{"replicas out of order", "counter", mp(arr(2), 1, obj(2), 6, arr(2), 1, 0, 5, arr(2), 2, 0), ErrMalformed, "replica 0000000000000005: out of order after 0000000000000006"},
	{"zero entry", "counter", mp(arr(2), 1, obj(1), 5, arr(2), 0, 0), ErrMalformed, "replica 0000000000000005: entry with p = n = 0"},
	{"entry arity", "counter", mp(arr(2), 1, obj(1), 5, arr(3), 1, 0, 0), ErrMalformed, "replica 0000000000000005: array of 3 elements, want 2"},
	{"negative p", "counter", mp(arr(2), 1, obj(1), 5, arr(2), -1, 0), ErrMalformed, "replica 0000000000000005: p: found a negative integer, want an unsigned integer"},
	{"string n", "counter", mp(arr(2), 1, obj(1), 5, arr(2), 1, "0"), ErrMalformed, "replica 0000000000000005: n: found a string, want an unsigned integer"},
	{"float n", "counter", mp(arr(2), 1, obj(1), 5, arr(2), 1, 1.5), ErrMalformed, "n: found a float"},
	{"string replica", "counter", mp(arr(2), 1, obj(1), "5", arr(2), 1, 0), ErrMalformed, "replica: found a string"},
	{"replica not shortest", "counter", mp(arr(2), 1, obj(1), raw{0xcf, 0, 0, 0, 0, 0, 0, 0, 5}, arr(2), 1, 0), ErrMalformed, "replica: unsigned integer 5 not in its shortest form"},
	{"p as signed", "counter", mp(arr(2), 1, obj(1), 5, arr(2), raw{0xd0, 0x01}, 0), ErrMalformed, "p: found a signed integer"},
	{"map not shortest", "counter", mp(arr(2), 1, raw{0xde, 0, 1}, 5, arr(2), 1, 0), ErrMalformed, "map length 1 not in its shortest form"},
	{"map beyond input", "counter", mp(arr(2), 1, raw{0xdf, 0xff, 0xff, 0xff, 0xff}, 5, arr(2), 1, 0), ErrMalformed, "map of 4294967295 entries in the 4 bytes left"},
	{"nil body", "counter", mp(arr(2), 1, nil), ErrMalformed, "found nil, want a map"},
	{"array body", "counter", mp(arr(2), 1, arr(0)), ErrMalformed, "found an array, want a map"},
	{"entries beyond input", "counter", mp(arr(2), 1, obj(1), 5, arr(2), 1), ErrMalformed, "map of 1 entries in the 3 bytes left"},
	{"truncated entry", "counter", mp(arr(2), 1, obj(1), 5, arr(2), raw{0xcd, 1}), ErrMalformed, "replica 0000000000000005: p: unexpected end of input"},

	// register
	{"arity", "register", mp(arr(2), 1, arr(3), "like", 1, 0), ErrMalformed, "array of 3 elements, want 4"},
	{"kind too long", "register", mp(arr(2), 1, arr(4), long, 5, 0, 7), ErrMalformed, "kind: string of 1025 bytes, longer than MaxStringLen (1024)"},
	{"binary kind", "register", mp(arr(2), 1, arr(4), raw{0xc4, 1, 'x'}, 5, 0, 7), ErrMalformed, "kind: found binary, want a string"},
	{"kind not shortest", "register", mp(arr(2), 1, arr(4), raw{0xd9, 4, 'l', 'i', 'k', 'e'}, 5, 0, 7), ErrMalformed, "kind: string length 4 not in its shortest form"},
	{"fields beyond input", "register", mp(arr(2), 1, arr(4), raw{0xa8, 'l', 'i'}), ErrMalformed, "array of 4 elements in the 3 bytes left"},
	{"kind truncated", "register", mp(arr(2), 1, arr(4), raw{0xa8, 'l', 'i', 'k', 'e'}), ErrMalformed, "kind: unexpected end of input"},
	{"kind beyond input", "register", mp(arr(2), 1, arr(4), raw{0xda, 0x03, 0xff, 'l', 'i'}), ErrMalformed, "kind: unexpected end of input"},
	{"zero timestamp with replica", "register", mp(arr(2), 1, arr(4), "", 0, 0, 7), ErrMalformed, "replica: 0000000000000007 on a register with a zero timestamp"},
	{"zero timestamp with kind", "register", mp(arr(2), 1, arr(4), "like", 0, 0, 0), ErrMalformed, `kind: "like" on a register with a zero timestamp`},
	{"timestamp without replica", "register", mp(arr(2), 1, arr(4), "like", 5, 0, 0), ErrMalformed, "replica: zero replica id on a register with a timestamp"},
	{"wall zero", "register", mp(arr(2), 1, arr(4), "like", 0, 3, 7), ErrMalformed, "wall: zero on a register written by replica 0000000000000007"},
	{"wall negative", "register", mp(arr(2), 1, arr(4), "like", -5, 0, 7), ErrMalformed, "wall: found a negative integer, want an unsigned integer"},
	{"wall overflow", "register", mp(arr(2), 1, arr(4), "like", uint64(1<<63), 0, 7), ErrMalformed, "wall: 9223372036854775808 overflows int64"},
	{"logical overflow", "register", mp(arr(2), 1, arr(4), "like", 5, uint64(1<<32), 7), ErrMalformed, "logical: 4294967296 overflows uint32"},
	{"float replica", "register", mp(arr(2), 1, arr(4), "like", 5, 0, 7.0), ErrMalformed, "replica: found a float"},
	{"bool logical", "register", mp(arr(2), 1, arr(4), "like", 5, true, 7), ErrMalformed, "logical: found a boolean"},
	{"extension", "register", mp(arr(2), 1, arr(4), raw{0xd4, 1, 1}, 5, 0, 7), ErrMalformed, "kind: found an extension"},
	{"never-used code", "register", mp(arr(2), 1, arr(4), raw{0xc1}, 5, 0, 7), ErrMalformed, "kind: found the never-used code 0xc1"},

	// timestamp
	{"arity", "timestamp", mp(arr(2), 1, arr(3), 5, 0, 0), ErrMalformed, "array of 3 elements, want 2"},
	{"not an array", "timestamp", mp(arr(2), 1, 5), ErrMalformed, "found an unsigned integer, want an array"},
	{"wall negative", "timestamp", mp(arr(2), 1, arr(2), -1, 0), ErrMalformed, "wall: found a negative integer"},
	{"wall overflow", "timestamp", mp(arr(2), 1, arr(2), uint64(1<<63), 0), ErrMalformed, "wall: 9223372036854775808 overflows int64"},
	{"logical overflow", "timestamp", mp(arr(2), 1, arr(2), 5, uint64(1<<32)), ErrMalformed, "logical: 4294967296 overflows uint32"},
	{"logical string", "timestamp", mp(arr(2), 1, arr(2), 5, "0"), ErrMalformed, "logical: found a string"},

	// uint
	{"string", "uint", mp(arr(2), 1, "7"), ErrMalformed, "found a string, want an unsigned integer"},
	{"negative", "uint", mp(arr(2), 1, -7), ErrMalformed, "found a negative integer"},
	{"signed", "uint", mp(arr(2), 1, raw{0xd0, 5}), ErrMalformed, "found a signed integer"},
	{"not shortest", "uint", mp(arr(2), 1, raw{0xcd, 0, 200}), ErrMalformed, "unsigned integer 200 not in its shortest form"},
	{"truncated", "uint", mp(arr(2), 1, raw{0xcf, 0, 0}), ErrMalformed, "unexpected end of input"},

	// delta
	{"duplicate item", "delta", mp(arr(2), 1, obj(2), "a", arr(2), obj(1), "claps", obj(0), obj(0), "a", arr(2), obj(1), "views", obj(0), obj(0)), ErrMalformed, `item "a": duplicate key`},
	{"items out of order", "delta", mp(arr(2), 1, obj(2), "b", arr(2), obj(1), "claps", obj(0), obj(0), "a", arr(2), obj(1), "claps", obj(0), obj(0)), ErrMalformed, `item "a": out of order after "b"`},
	{"empty item", "delta", mp(arr(2), 1, obj(1), "a", arr(2), obj(0), obj(0)), ErrMalformed, `item "a": no key`},
	{"item arity", "delta", mp(arr(2), 1, obj(1), "a", arr(4), obj(1), "claps", obj(0), obj(0), obj(0), obj(0)), ErrMalformed, `item "a": array of 4 elements, want 2 or 3`},
	{"empty keyed increments", "delta", mp(arr(2), 1, obj(1), "a", arr(3), obj(1), "claps", obj(0), obj(0), obj(0)), ErrMalformed, `item "a": keyed increments: empty, but present`},
	{"record without application", "delta", mp(arr(2), 1, obj(1), "a", arr(3), obj(0), obj(0), obj(1), "k", obj(0)), ErrMalformed, `item "a": keyed increments: map of 1 entries`},
	{"application of zero", "delta", mp(arr(2), 1, obj(1), "a", arr(3), obj(0), obj(0), obj(1), "k", obj(1), 5, arr(6), 7, 0, "claps", 0, 0, 0), ErrMalformed, `idempotency key "k": replica 0000000000000005: magnitude: zero amount`},
	{"application bad sign", "delta", mp(arr(2), 1, obj(1), "a", arr(3), obj(0), obj(0), obj(1), "k", obj(1), 5, arr(6), 7, 0, "claps", 2, 1, 0), ErrMalformed, `replica 0000000000000005: sign: 2, want 0 or 1`},
	{"application bad flag", "delta", mp(arr(2), 1, obj(1), "a", arr(3), obj(0), obj(0), obj(1), "k", obj(1), 5, arr(6), 7, 0, "claps", 0, 1, 2), ErrMalformed, `replica 0000000000000005: compensated: 2, want 0 or 1`},
	{"application no counter", "delta", mp(arr(2), 1, obj(1), "a", arr(3), obj(0), obj(0), obj(1), "k", obj(1), 5, arr(6), 7, 0, "", 0, 1, 0), ErrMalformed, `replica 0000000000000005: counter: empty name`},
	{"application zero wall", "delta", mp(arr(2), 1, obj(1), "a", arr(3), obj(0), obj(0), obj(1), "k", obj(1), 5, arr(6), 0, 0, "claps", 0, 1, 0), ErrMalformed, `replica 0000000000000005: wall: zero`},
	{"application overflow", "delta", mp(arr(2), 1, obj(1), "a", arr(3), obj(0), obj(0), obj(1), "k", obj(1), 5, arr(6), 7, 0, "claps", 0, uint64(1<<63), 0), ErrMalformed, `magnitude: 9223372036854775808 overflows int64`},
	{"item too long", "delta", mp(arr(2), 1, obj(1), long, arr(2), obj(1), "claps", obj(0), obj(0)), ErrMalformed, "item: string of 1025 bytes, longer than MaxStringLen"},
	{"item not a string", "delta", mp(arr(2), 1, obj(1), 7, arr(2), obj(1), "claps", obj(0), obj(0)), ErrMalformed, "item: found an unsigned integer, want a string"},
	{"counters not a map", "delta", mp(arr(2), 1, obj(1), "a", arr(2), arr(0), obj(0)), ErrMalformed, `item "a": counters: found an array, want a map`},
	{"registers not a map", "delta", mp(arr(2), 1, obj(1), "a", arr(2), obj(0), arr(0)), ErrMalformed, `item "a": registers: found an array, want a map`},
	{"duplicate counter", "delta", mp(arr(2), 1, obj(1), "a", arr(2), obj(2), "claps", obj(0), "claps", obj(0), obj(0)), ErrMalformed, `item "a": counter "claps": duplicate key`},
	{"counters out of order", "delta", mp(arr(2), 1, obj(1), "a", arr(2), obj(2), "views", obj(0), "claps", obj(0), obj(0)), ErrMalformed, `item "a": counter "claps": out of order after "views"`},
	{"counter name too long", "delta", mp(arr(2), 1, obj(1), "a", arr(2), obj(1), long, obj(0), obj(0)), ErrMalformed, `item "a": counter name: string of 1025 bytes`},
	{"counter replica 0", "delta", mp(arr(2), 1, obj(1), "a", arr(2), obj(1), "claps", obj(1), 0, arr(2), 1, 0, obj(0)), ErrMalformed, `item "a": counter "claps": replica: zero replica id`},
	{"duplicate replica", "delta", mp(arr(2), 1, obj(1), "a", arr(2), obj(1), "claps", obj(2), 3, arr(2), 1, 0, 3, arr(2), 1, 0, obj(0)), ErrMalformed, `item "a": counter "claps": replica 0000000000000003: duplicate entry`},
	{"duplicate user", "delta", mp(arr(2), 1, obj(1), "a", arr(2), obj(0), obj(2), "u1", arr(4), "", 0, 0, 0, "u1", arr(4), "", 0, 0, 0), ErrMalformed, `item "a": register "u1": duplicate key`},
	{"users out of order", "delta", mp(arr(2), 1, obj(1), "a", arr(2), obj(0), obj(2), "u2", arr(4), "", 0, 0, 0, "u1", arr(4), "", 0, 0, 0), ErrMalformed, `item "a": register "u1": out of order after "u2"`},
	{"user too long", "delta", mp(arr(2), 1, obj(1), "a", arr(2), obj(0), obj(1), long, arr(4), "", 0, 0, 0), ErrMalformed, `item "a": register user: string of 1025 bytes`},
	{"register replica 0", "delta", mp(arr(2), 1, obj(1), "a", arr(2), obj(0), obj(1), "u1", arr(4), "like", 5, 0, 0), ErrMalformed, `item "a": register "u1": replica: zero replica id`},
	{"register kind too long", "delta", mp(arr(2), 1, obj(1), "a", arr(2), obj(0), obj(1), "u1", arr(4), long, 5, 0, 7), ErrMalformed, `item "a": register "u1": kind: string of 1025 bytes`},
	{"registers beyond input", "delta", mp(arr(2), 1, obj(1), "a", arr(2), obj(0), raw{0xde, 0xff, 0xff}, "u1"), ErrMalformed, `item "a": registers: map of 65535 entries in the 3 bytes left`},
	{"items beyond input", "delta", mp(arr(2), 1, raw{0xde, 0xff, 0xff}, "a"), ErrMalformed, "map of 65535 entries in the 2 bytes left"},

	// names
	{"duplicate name", "names", mp(arr(2), 1, arr(2), "like", "like"), ErrMalformed, `name "like": duplicate key`},
	{"names out of order", "names", mp(arr(2), 1, arr(2), "like", "dislike"), ErrMalformed, `name "dislike": out of order after "like"`},
	{"name not a string", "names", mp(arr(2), 1, arr(1), 7), ErrMalformed, "name 0: "},
	{"name too long", "names", mp(arr(2), 1, arr(1), long), ErrMalformed, "name 0: "},
	// keyset
	{"duplicate item", "keyset", mp(arr(2), 1, obj(2), "a", arr(2), arr(1), "claps", arr(0), "a", arr(2), arr(0), arr(1), "u1"), ErrMalformed, `item "a": duplicate key`},
	{"items out of order", "keyset", mp(arr(2), 1, obj(2), "b", arr(2), arr(1), "claps", arr(0), "a", arr(2), arr(0), arr(1), "u1"), ErrMalformed, `item "a": out of order after "b"`},
	{"empty item", "keyset", mp(arr(2), 1, obj(1), "a", arr(2), arr(0), arr(0)), ErrMalformed, `item "a": no key`},
	{"names not an array", "keyset", mp(arr(2), 1, obj(1), "a", arr(2), obj(0), arr(0)), ErrMalformed, `item "a": counter names: found a map, want an array`},
	{"users not an array", "keyset", mp(arr(2), 1, obj(1), "a", arr(2), arr(0), obj(0)), ErrMalformed, `item "a": register users: found a map, want an array`},
	{"duplicate name", "keyset", mp(arr(2), 1, obj(1), "a", arr(2), arr(2), "claps", "claps", arr(0)), ErrMalformed, `item "a": counter "claps": duplicate key`},
	{"duplicate user", "keyset", mp(arr(2), 1, obj(1), "a", arr(2), arr(0), arr(2), "u1", "u1"), ErrMalformed, `item "a": register "u1": duplicate key`},
	{"users out of order", "keyset", mp(arr(2), 1, obj(1), "a", arr(2), arr(0), arr(2), "u2", "u1"), ErrMalformed, `item "a": register "u1": out of order after "u2"`},
	{"empty keys", "keyset", mp(arr(2), 1, obj(1), "a", arr(3), arr(1), "claps", arr(0), arr(0)), ErrMalformed, `item "a": idempotency keys: empty, but present`},
	{"keys out of order", "keyset", mp(arr(2), 1, obj(1), "a", arr(3), arr(0), arr(0), arr(2), "k2", "k1"), ErrMalformed, `item "a": idempotency "k1": out of order after "k2"`},
	{"user too long", "keyset", mp(arr(2), 1, obj(1), "a", arr(2), arr(0), arr(1), long), ErrMalformed, `item "a": register user: string of 1025 bytes`},
	{"user not a string", "keyset", mp(arr(2), 1, obj(1), "a", arr(2), arr(0), arr(1), 5), ErrMalformed, `item "a": register user: found an unsigned integer, want a string`},
	{"names beyond input", "keyset", mp(arr(2), 1, obj(1), "a", arr(2), raw{0xdd, 0, 1, 0, 0}, arr(0)), ErrMalformed, `item "a": counter names: array of 65536 elements in the 1 bytes left`},
}

// valid returns a valid encoding for each decoder.
func valid() map[string][]byte {
	return map[string][]byte{
		"counter":   EncodeCounter(sampleCounter),
		"register":  EncodeRegister(sampleRegister),
		"timestamp": EncodeTimestamp(sampleTS),
		"uint":      EncodeUint(1 << 40),
		"delta":     EncodeDelta(sampleDelta()),
		"keyset":    EncodeKeySet(sampleKeySet()),
		"names":     EncodeNames([]string{"like", "dislike"}),
	}
}

// allRejections returns rejections plus, for each decoder, the cases of the
// top-level frame.
func allRejections() []rejection {
	all := slices.Clone(rejections)
	for name, good := range valid() {
		body := good[2:] // after the fixarray header and version 1
		all = append(all,
			rejection{"empty input", name, nil, ErrMalformed, "empty input"},
			rejection{"not an array", name, mp(obj(0)), ErrMalformed, "found a map, want an array"},
			rejection{"string", name, mp("hello"), ErrMalformed, "found a string, want an array"},
			rejection{"empty array", name, mp(arr(0)), ErrMalformed, "empty array, want [version, body]"},
			rejection{"version 0", name, append(mp(arr(2), 0), body...), ErrVersion, "version 0, this build reads version 1"},
			rejection{"version 2", name, append(mp(arr(2), 2), body...), ErrVersion, "version 2, this build reads version 1"},
			rejection{"version 2 of another shape", name, mp(arr(3), 2, "future"), ErrVersion, "version 2"},
			rejection{"version 2, truncated", name, mp(arr(9), 2), ErrVersion, "version 2"},
			rejection{"huge version", name, mp(arr(2), uint64(1<<63)), ErrVersion, "version 9223372036854775808"},
			rejection{"version not a uint", name, mp(arr(2), "1"), ErrMalformed, "version: found a string, want an unsigned integer"},
			rejection{"version not shortest", name, append(mp(arr(2), raw{0xcc, 1}), body...), ErrMalformed, "version: unsigned integer 1 not in its shortest form"},
			rejection{"version only", name, mp(arr(1), 1), ErrMalformed, "array of 1 elements, want [version, body]"},
			rejection{"extra element", name, append(append(mp(arr(3), 1), body...), 0), ErrMalformed, "array of 3 elements, want [version, body]"},
			rejection{"trailing byte", name, append(slices.Clone(good), 0), ErrMalformed, "1 trailing bytes"},
			rejection{"trailing value", name, append(slices.Clone(good), good...), ErrMalformed, "trailing bytes"},
			rejection{"truncated", name, good[:len(good)-1], ErrMalformed, "unexpected end of input"},
			rejection{"header only", name, good[:2], ErrMalformed, "unexpected end of input"},
			rejection{"array beyond input", name, mp(raw{0xdd, 0xff, 0xff, 0xff, 0xff}, 1), ErrMalformed, "array of 4294967295 elements, want [version, body]"},
		)
	}
	return all
}

func TestRejections(t *testing.T) {
	for _, tc := range allRejections() {
		t.Run(tc.decoder+"/"+tc.name, func(t *testing.T) {
			err := decodeFuncs[tc.decoder](tc.in)
			if err == nil {
				t.Fatalf("decode %x: no error, want %v", tc.in, tc.want)
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("decode %x: %v, want an error matching %v", tc.in, err, tc.want)
			}
			other := ErrMalformed
			if tc.want == ErrMalformed {
				other = ErrVersion
			}
			if errors.Is(err, other) {
				t.Fatalf("decode %x: %v also matches %v", tc.in, err, other)
			}
			prefix := tc.want.Error() + ": " + tc.decoder + ": "
			if msg := err.Error(); !strings.HasPrefix(msg, prefix) || !strings.Contains(msg[len(prefix):], tc.msg) {
				t.Fatalf("decode %x: error %q, want %q followed by %q", tc.in, msg, prefix, tc.msg)
			}
		})
	}
}

// TestDecodeBoundedAllocation checks that lengths claimed by a short input do not
// make a decoder allocate in proportion to them.
func TestDecodeBoundedAllocation(t *testing.T) {
	huge := raw{0xdf, 0xff, 0xff, 0xff, 0xff} // a map of 2^32-1 entries
	for _, tc := range []struct {
		decoder string
		in      []byte
	}{
		{"counter", mp(arr(2), 1, huge, 1, arr(2), 1, 0)},
		{"delta", mp(arr(2), 1, huge, "a", arr(2), obj(0), obj(0))},
		{"delta", mp(arr(2), 1, obj(1), "a", arr(2), obj(0), huge, "u", arr(4), "", 0, 0, 0)},
		{"keyset", mp(arr(2), 1, obj(1), "a", arr(2), raw{0xdd, 0xff, 0xff, 0xff, 0xff}, "claps")},
		{"register", mp(arr(2), 1, arr(4), raw{0xdb, 0xff, 0xff, 0xff, 0xff}, "like")},
		{"uint", mp(raw{0xdd, 0xff, 0xff, 0xff, 0xff}, 1)},
	} {
		dec := decodeFuncs[tc.decoder]
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		const runs = 100
		for range runs {
			if err := dec(tc.in); !errors.Is(err, ErrMalformed) {
				t.Fatalf("%s: decode %x: %v, want ErrMalformed", tc.decoder, tc.in, err)
			}
		}
		runtime.ReadMemStats(&after)
		if perRun := (after.TotalAlloc - before.TotalAlloc) / runs; perRun > 16<<10 {
			t.Errorf("%s: decode %x allocates %d bytes per run", tc.decoder, tc.in, perRun)
		}
	}
}
