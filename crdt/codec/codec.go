package codec

import (
	"bytes"
	"errors"
	"fmt"
	"sync"

	"github.com/countermesh/countermesh/crdt"
	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// Version is the format version this package writes, the first element of every
// encoding. Decoders read this version only.
const Version = 1

// MaxStringLen is the longest item id, counter name, user id or reaction kind, in
// bytes, that decoders accept.
const MaxStringLen = 1024

const (
	// maxPooledBuffer is the largest encoding buffer returned to the pool; a larger
	// one, from an unusually big delta, is left to the garbage collector.
	maxPooledBuffer = 4 << 20
	// maxPooledEntries is the largest scratch key slice kept in a pooled value.
	maxPooledEntries = 1 << 16
	// maxInterned and maxInternedLen bound the strings a pooled decoder interns.
	maxInterned    = 256
	maxInternedLen = 64
)

// counterEntry is one counter of a Delta (or one counter key of a KeySet, with a
// zero counter), as sorted for encoding or collected while decoding.
type counterEntry struct {
	key crdt.CounterKey
	c   crdt.PNCounter
}

// registerEntry is one register of a Delta (or one register key of a KeySet, with
// a zero register), as sorted for encoding or collected while decoding.
type registerEntry struct {
	key crdt.RegisterKey
	r   crdt.Register
}

// compareCounterEntries orders counter entries by key: item, then name.
func compareCounterEntries(a, b counterEntry) int { return crdt.CompareCounterKeys(a.key, b.key) }

// compareRegisterEntries orders register entries by key: item, then user.
func compareRegisterEntries(a, b registerEntry) int {
	return crdt.CompareRegisterKeys(a.key, b.key)
}

// clearEntries empties s, dropping the references it holds, and returns it for
// reuse unless it grew beyond maxPooledEntries.
func clearEntries[E any](s []E) []E {
	if cap(s) > maxPooledEntries {
		return nil
	}
	clear(s)
	return s[:0]
}

// Encoder is a msgpack encoder writing into its own buffer, with scratch space to
// sort keys. Encoders are pooled; get one with getEncoder and release it with
// finish (outside this package, Encode lends one to a function). Writes go to a
// bytes.Buffer and cannot fail, so its methods return no error.
type Encoder struct {
	buf       bytes.Buffer
	enc       *msgpack.Encoder
	counters  []counterEntry
	registers []registerEntry
	idem      []idemEntry
}

var encoders = sync.Pool{New: func() any {
	e := new(Encoder)
	e.enc = msgpack.NewEncoder(&e.buf)
	return e
}}

// getEncoder returns an empty encoder from the pool.
func getEncoder() *Encoder {
	e := encoders.Get().(*Encoder)
	e.buf.Reset()
	return e
}

// finish returns a copy of what e wrote and puts e back in the pool.
func (e *Encoder) finish() []byte {
	out := bytes.Clone(e.buf.Bytes())
	e.clearScratch()
	if e.buf.Cap() <= maxPooledBuffer {
		encoders.Put(e)
	}
	return out
}

// clearScratch empties e's scratch entries for reuse.
func (e *Encoder) clearScratch() {
	e.counters = clearEntries(e.counters)
	e.registers = clearEntries(e.registers)
	e.idem = clearEntries(e.idem)
}

// header writes the start of a top-level encoding: [Version, followed by the body.
func (e *Encoder) header() {
	e.ArrayLen(2)
	e.Uint(Version)
}

// The methods below write one msgpack value, or header, in its shortest form.

// ArrayLen writes the header of an array of n elements.
func (e *Encoder) ArrayLen(n int) { _ = e.enc.EncodeArrayLen(n) }

func (e *Encoder) mapLen(n int) { _ = e.enc.EncodeMapLen(n) }

// Uint writes an unsigned integer.
func (e *Encoder) Uint(v uint64) { _ = e.enc.EncodeUint(v) }

func (e *Encoder) int(v int64) { _ = e.enc.EncodeInt(v) }

// String writes a string.
func (e *Encoder) String(s string) { _ = e.enc.EncodeString(s) }

// Replica writes a replica id.
func (e *Encoder) Replica(r crdt.ReplicaID) { e.Uint(uint64(r)) }

// Bin writes binary data.
func (e *Encoder) Bin(b []byte) { _ = e.enc.EncodeBytes(b) }

// Encode returns a top-level encoding, [Version, body], whose body the function
// body writes. It is how packages above this one encode their own values (the
// sync protocol's messages) from the canonical forms of this one.
func Encode(body func(*Encoder)) []byte {
	e := getEncoder()
	e.header()
	body(e)
	return e.finish()
}

// Decoder is a msgpack decoder over one input, accepting only the canonical forms
// this package writes. The one-byte forms (fixint, fixstr, fixarray and fixmap
// headers) are read directly from the input; msgpack's Decoder reads the longer
// ones from the same unbuffered reader. Decoders are pooled; get one with
// getDecoder and release it with putDecoder (outside this package, Decode lends
// one to a function).
type Decoder struct {
	in  []byte       // the whole input
	r   bytes.Reader // reads in; its position is the decoder's
	dec *msgpack.Decoder

	scratch   [MaxStringLen]byte // string bodies are read here first
	interned  map[string]string  // low-cardinality strings: kinds, counter names
	counters  []counterEntry     // collected by the delta and keyset decoders
	registers []registerEntry    // collected by the delta and keyset decoders
	idem      []idemEntry        // collected by the delta and keyset decoders
}

var decoders = sync.Pool{New: func() any {
	d := &Decoder{interned: make(map[string]string)}
	d.dec = msgpack.NewDecoder(&d.r) // a bytes.Reader is read directly, unbuffered
	return d
}}

// getDecoder returns a pooled decoder reading b.
func getDecoder(b []byte) *Decoder {
	d := decoders.Get().(*Decoder)
	d.in = b
	d.r.Reset(b)
	return d
}

// putDecoder releases d to the pool.
func putDecoder(d *Decoder) {
	d.in = nil
	d.r.Reset(nil)
	d.clearScratch()
	decoders.Put(d)
}

// clearScratch empties d's scratch entries, so that a body decoded next
// starts from none.
func (d *Decoder) clearScratch() {
	d.counters = clearEntries(d.counters)
	d.registers = clearEntries(d.registers)
	d.idem = clearEntries(d.idem)
}

// Decode decodes b, a top-level encoding of what (named in errors), whose body
// body reads: it checks the version and that nothing follows the body. An
// unknown version matches ErrVersion; anything else wrong, including an error
// body returns, is wrapped to match ErrMalformed.
func Decode[T any](b []byte, what string, body func(*Decoder) (T, error)) (T, error) {
	var zero T
	d := getDecoder(b)
	defer putDecoder(d)
	if err := d.header(what); err != nil {
		return zero, err
	}
	v, err := body(d)
	if err != nil {
		return zero, malformed(what, err)
	}
	if n := d.r.Len(); n > 0 {
		return zero, malformed(what, fmt.Errorf("%d trailing bytes", n))
	}
	return v, nil
}

// header reads [Version, and leaves d at the body. Its error is classified: it
// matches ErrVersion or ErrMalformed.
func (d *Decoder) header(what string) error {
	if d.r.Len() == 0 {
		return malformed(what, errors.New("empty input"))
	}
	n, err := d.ArrayLen(0) // the version comes first, whatever the length
	if err != nil {
		return malformed(what, err)
	}
	if n == 0 {
		return malformed(what, errors.New("empty array, want [version, body]"))
	}
	v, err := d.Uint()
	if err != nil {
		return malformed(what, fmt.Errorf("version: %w", err))
	}
	if v != Version {
		return versionError(what, v)
	}
	if n != 2 {
		return malformed(what, fmt.Errorf("array of %d elements, want [version, body]", n))
	}
	return nil
}

// peek returns the code of the next value without consuming it.
func (d *Decoder) peek() (byte, error) {
	rest := d.r.Len()
	if rest == 0 {
		return 0, errTruncated
	}
	return d.in[len(d.in)-rest], nil
}

// skipCode consumes the code peek returned, when it is the whole value or header.
func (d *Decoder) skipCode() { _, _ = d.r.ReadByte() }

// Uint reads an unsigned integer in its shortest form.
func (d *Decoder) Uint() (uint64, error) {
	c, err := d.peek()
	switch {
	case err != nil:
		return 0, err
	case c <= msgpcode.PosFixedNumHigh:
		d.skipCode()
		return uint64(c), nil
	case c < msgpcode.Uint8 || c > msgpcode.Uint64:
		return 0, unexpected(c, "an unsigned integer")
	}
	v, err := d.dec.DecodeUint64()
	if err != nil {
		return 0, errTruncated
	}
	if c != uintCode(v) {
		return 0, fmt.Errorf("unsigned integer %d not in its shortest form", v)
	}
	return v, nil
}

// Replica reads a replica id, refusing 0.
func (d *Decoder) Replica() (crdt.ReplicaID, error) {
	v, err := d.Uint()
	if err != nil {
		return 0, err
	}
	if v == 0 {
		return 0, errors.New("zero replica id")
	}
	return crdt.ReplicaID(v), nil
}

// stringBytes reads a string of at most MaxStringLen bytes into d's scratch space
// and returns it, valid until the next read.
func (d *Decoder) stringBytes() ([]byte, error) {
	c, err := d.peek()
	var n int
	switch {
	case err != nil:
		return nil, err
	case msgpcode.IsFixedString(c):
		d.skipCode()
		n = int(c & msgpcode.FixedStrMask)
	case !msgpcode.IsString(c):
		return nil, unexpected(c, "a string")
	default:
		if n, err = d.dec.DecodeBytesLen(); err != nil {
			return nil, errTruncated
		}
		if n > MaxStringLen {
			return nil, fmt.Errorf("string of %d bytes, longer than MaxStringLen (%d)", n, MaxStringLen)
		}
		if c != stringCode(n) {
			return nil, fmt.Errorf("string length %d not in its shortest form", n)
		}
	}
	if n > d.r.Len() {
		return nil, errTruncated
	}
	b := d.scratch[:n]
	_, _ = d.r.Read(b) // cannot fail: n bytes are left
	return b, nil
}

// Name reads a string of at most MaxStringLen bytes expected to repeat, such as a
// reaction kind or a counter name, and interns it.
func (d *Decoder) Name() (string, error) {
	b, err := d.stringBytes()
	if err != nil {
		return "", err
	}
	return d.intern(b), nil
}

// intern returns b as a string, shared with earlier calls for the same bytes.
func (d *Decoder) intern(b []byte) string {
	if s, ok := d.interned[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(s) <= maxInternedLen {
		if len(d.interned) >= maxInterned {
			clear(d.interned)
		}
		d.interned[s] = s
	}
	return s
}

// ArrayLen reads the header of an array whose elements take at least minElem
// bytes each, refusing a length the rest of the input cannot hold (unless minElem
// is 0).
func (d *Decoder) ArrayLen(minElem int) (int, error) {
	c, err := d.peek()
	var n int
	switch {
	case err != nil:
		return 0, err
	case msgpcode.IsFixedArray(c):
		d.skipCode()
		n = int(c & msgpcode.FixedArrayMask)
	case c != msgpcode.Array16 && c != msgpcode.Array32:
		return 0, unexpected(c, "an array")
	default:
		if n, err = d.dec.DecodeArrayLen(); err != nil {
			return 0, errTruncated
		}
		if c != arrayCode(n) {
			return 0, fmt.Errorf("array length %d not in its shortest form", n)
		}
	}
	if rest := d.r.Len(); minElem > 0 && n > rest/minElem {
		return 0, fmt.Errorf("array of %d elements in the %d bytes left", n, rest)
	}
	return n, nil
}

// Bin reads binary data of at most maxLen bytes and returns a copy of it.
func (d *Decoder) Bin(maxLen int) ([]byte, error) {
	c, err := d.peek()
	switch {
	case err != nil:
		return nil, err
	case !msgpcode.IsBin(c):
		return nil, unexpected(c, "binary")
	}
	n, err := d.dec.DecodeBytesLen()
	switch {
	case err != nil:
		return nil, errTruncated
	case c != binCode(n):
		return nil, fmt.Errorf("binary length %d not in its shortest form", n)
	case n > maxLen:
		return nil, fmt.Errorf("binary of %d bytes, more than %d", n, maxLen)
	case n > d.r.Len():
		return nil, errTruncated
	}
	b := make([]byte, n)
	_, _ = d.r.Read(b) // cannot fail: n bytes are left
	return b, nil
}

// tuple reads the header of an array of exactly n elements.
func (d *Decoder) tuple(n int) error {
	got, err := d.ArrayLen(1)
	if err != nil {
		return err
	}
	if got != n {
		return fmt.Errorf("array of %d elements, want %d", got, n)
	}
	return nil
}

// mapLen reads the header of a map whose entries (key and value) take at least
// minEntry bytes each, refusing a length the rest of the input cannot hold.
func (d *Decoder) mapLen(minEntry int) (int, error) {
	c, err := d.peek()
	var n int
	switch {
	case err != nil:
		return 0, err
	case msgpcode.IsFixedMap(c):
		d.skipCode()
		n = int(c & msgpcode.FixedMapMask)
	case c != msgpcode.Map16 && c != msgpcode.Map32:
		return 0, unexpected(c, "a map")
	default:
		if n, err = d.dec.DecodeMapLen(); err != nil {
			return 0, errTruncated
		}
		if c != mapCode(n) {
			return 0, fmt.Errorf("map length %d not in its shortest form", n)
		}
	}
	if rest := d.r.Len(); n > rest/minEntry {
		return 0, fmt.Errorf("map of %d entries in the %d bytes left", n, rest)
	}
	return n, nil
}

// uintCode is the code of the shortest msgpack form of v.
func uintCode(v uint64) byte {
	switch {
	case v <= uint64(msgpcode.PosFixedNumHigh):
		return byte(v)
	case v <= 0xff:
		return msgpcode.Uint8
	case v <= 0xffff:
		return msgpcode.Uint16
	case v <= 0xffffffff:
		return msgpcode.Uint32
	}
	return msgpcode.Uint64
}

// stringCode is the code of the shortest msgpack form of a string of n bytes.
func stringCode(n int) byte {
	switch {
	case n <= int(msgpcode.FixedStrMask):
		return msgpcode.FixedStrLow | byte(n)
	case n <= 0xff:
		return msgpcode.Str8
	case n <= 0xffff:
		return msgpcode.Str16
	}
	return msgpcode.Str32
}

// arrayCode is the code of the shortest msgpack form of an array header of n.
func arrayCode(n int) byte {
	switch {
	case n <= int(msgpcode.FixedArrayMask):
		return msgpcode.FixedArrayLow | byte(n)
	case n <= 0xffff:
		return msgpcode.Array16
	}
	return msgpcode.Array32
}

// mapCode is the code of the shortest msgpack form of a map header of n.
func mapCode(n int) byte {
	switch {
	case n <= int(msgpcode.FixedMapMask):
		return msgpcode.FixedMapLow | byte(n)
	case n <= 0xffff:
		return msgpcode.Map16
	}
	return msgpcode.Map32
}

// binCode is the code of the shortest msgpack form of binary data of n bytes.
func binCode(n int) byte {
	switch {
	case n <= 0xff:
		return msgpcode.Bin8
	case n <= 0xffff:
		return msgpcode.Bin16
	}
	return msgpcode.Bin32
}

// unexpected describes finding a value of code c where want was expected.
func unexpected(c byte, want string) error {
	return fmt.Errorf("found %s, want %s", describe(c), want)
}

// describe names the msgpack type of the value starting with code c.
func describe(c byte) string {
	switch {
	case c <= msgpcode.PosFixedNumHigh, c >= msgpcode.Uint8 && c <= msgpcode.Uint64:
		return "an unsigned integer"
	case c >= msgpcode.NegFixedNumLow:
		return "a negative integer"
	case c >= msgpcode.Int8 && c <= msgpcode.Int64:
		return "a signed integer"
	case msgpcode.IsString(c):
		return "a string"
	case msgpcode.IsFixedArray(c), c == msgpcode.Array16, c == msgpcode.Array32:
		return "an array"
	case msgpcode.IsFixedMap(c), c == msgpcode.Map16, c == msgpcode.Map32:
		return "a map"
	case msgpcode.IsBin(c):
		return "binary"
	case msgpcode.IsExt(c):
		return "an extension"
	case c == msgpcode.Nil:
		return "nil"
	case c == msgpcode.False, c == msgpcode.True:
		return "a boolean"
	case c == msgpcode.Float, c == msgpcode.Double:
		return "a float"
	}
	return fmt.Sprintf("the never-used code 0x%02x", c)
}
