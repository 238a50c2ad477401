package exchange

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/countermesh/countermesh/crdt"
	"github.com/countermesh/countermesh/crdt/codec"
	"pgregory.net/rapid"
)

func sampleMessages() []Message {
	var d crdt.Delta
	var c crdt.PNCounter
	c.JoinEntry(3, crdt.PN{P: 10, N: 2})
	d.JoinCounter(crdt.CounterKey{Item: "video:a", Name: "claps"}, c)
	d.JoinRegister(crdt.RegisterKey{Item: "video:a", User: "u1"},
		crdt.Register{Kind: "like", TS: crdt.Timestamp{Wall: 1_700_000_000_000, Logical: 4}, Replica: 3})
	return []Message{
		{Type: MsgHello, Mesh: "demo", Replica: 0xdeadbeef},
		{Type: MsgBatch, Seq: 42, Delta: d},
		{Type: MsgBatch, Seq: 43},
		{Type: MsgAck, Seq: 42},
		{Type: MsgAck, Seq: 43, Refused: sampleRefused()},
		{Type: MsgNack, Seq: 42, Reason: "clock drift: 90s ahead"},
		{Type: MsgDigest, Seq: 7, Digest: []uint64{1, 0, 1 << 63, 99}},
		{Type: MsgDigest, Seq: 7, Digest: []uint64{}},
		{Type: MsgBuckets, Buckets: []int{0, 5, 4095}},
		{Type: MsgBuckets, Buckets: []int{}},
		{Type: MsgStates, Delta: d},
		{Type: MsgStatesEnd},
	}
}

func TestMessageRoundTrip(t *testing.T) {
	for _, m := range sampleMessages() {
		got, err := DecodeMessage(EncodeMessage(m))
		if err != nil {
			t.Errorf("%s: %v", m.Type, err)
			continue
		}
		if !messagesEqual(got, m) {
			t.Errorf("%s: round trip gave %+v, want %+v", m.Type, got, m)
		}
	}
}

// sampleRefused is a set of refused keys over two items, one of them a counter.
func sampleRefused() crdt.KeySet {
	var s crdt.KeySet
	s.AddRegister(crdt.RegisterKey{Item: "video:a", User: "u1"})
	s.AddRegister(crdt.RegisterKey{Item: "video:a", User: "u2"})
	s.AddRegister(crdt.RegisterKey{Item: "video:b", User: "u1"})
	s.AddCounter(crdt.CounterKey{Item: "video:b", Name: "claps"})
	return s
}

// messagesEqual compares messages, deltas and key sets by value and empty slices
// as nil.
func messagesEqual(a, b Message) bool {
	if !a.Delta.Equal(b.Delta) || !a.Refused.Equal(b.Refused) ||
		len(a.Digest) != len(b.Digest) || len(a.Buckets) != len(b.Buckets) {
		return false
	}
	a.Delta, b.Delta = crdt.Delta{}, crdt.Delta{}
	a.Refused, b.Refused = crdt.KeySet{}, crdt.KeySet{}
	if len(a.Digest) == 0 {
		a.Digest, b.Digest = nil, nil
	}
	if len(a.Buckets) == 0 {
		a.Buckets, b.Buckets = nil, nil
	}
	return reflect.DeepEqual(a, b)
}

// messageRejections are messages DecodeMessage refuses, with the error each
// matches and a part of its text. Their bytes are msgpack: 0x9n an array of n
// elements, 0x8n a map of n entries, 0xa1 a string of one byte.
var messageRejections = []struct {
	name string
	in   []byte
	want error
	msg  string
}{
	{"unknown version", []byte{0x92, 0x02, 0x91, 0x03}, codec.ErrVersion, "version 2"},
	{"unknown type", []byte{0x92, 0x01, 0x91, 0x63}, codec.ErrMalformed, "unknown message type 99"},
	{"wrong field count", []byte{0x92, 0x01, 0x92, 0x04, 0x01}, codec.ErrMalformed, "nack: 2 fields, want 3"},
	{"ack too short", []byte{0x92, 0x01, 0x91, 0x03}, codec.ErrMalformed, "ack: 1 fields, want 2 to 3"},
	{"ack too long", []byte{0x92, 1, 0x94, 3, 42, 0x81, 0xa1, 'a', 0x92, 0x90, 0x91, 0xa1, 'u', 0}, codec.ErrMalformed, "ack: 4 fields, want 2 to 3"},
	{"ack refusing nothing", []byte{0x92, 1, 0x93, 3, 42, 0x80}, codec.ErrMalformed, "ack: refused: no key"},
	{"ack refused keys not a map", []byte{0x92, 1, 0x93, 3, 42, 0x90}, codec.ErrMalformed, "ack: refused: found an array, want a map"},
	{"ack refused item without keys", []byte{0x92, 1, 0x93, 3, 42, 0x81, 0xa1, 'a', 0x92, 0x90, 0x90}, codec.ErrMalformed, "no key"},
	{"ack refused items out of order", []byte{0x92, 1, 0x93, 3, 42, 0x82, 0xa1, 'b', 0x92, 0x90, 0x91, 0xa1, 'u', 0xa1, 'a', 0x92, 0x90, 0x91, 0xa1, 'u'}, codec.ErrMalformed, "out of order"},
	{"ack refused keys truncated", []byte{0x92, 1, 0x93, 3, 42, 0x81, 0xa1, 'a', 0x92, 0x90, 0x92, 0xa1, 'u'}, codec.ErrMalformed, "ack: refused"},
	{"hello replica 0", []byte{0x92, 0x01, 0x93, 0x01, 0xa1, 'm', 0x00}, codec.ErrMalformed, "zero replica id"},
	{"digest not a multiple of 8", []byte{0x92, 0x01, 0x93, 0x05, 0x00, 0xc4, 0x03, 1, 2, 3}, codec.ErrMalformed, "multiple of 8"},
	{"digest as a string", []byte{0x92, 0x01, 0x93, 0x05, 0x00, 0xa8, 1, 2, 3, 4, 5, 6, 7, 8}, codec.ErrMalformed, "digest: found a string, want binary"},
	{"digest length not shortest", []byte{0x92, 0x01, 0x93, 0x05, 0x00, 0xc5, 0x00, 0x08, 1, 2, 3, 4, 5, 6, 7, 8}, codec.ErrMalformed, "not in its shortest form"},
	{"digest longer than input", []byte{0x92, 0x01, 0x93, 0x05, 0x00, 0xc4, 0x08, 1, 2}, codec.ErrMalformed, "digest"},
	{"buckets out of order", []byte{0x92, 0x01, 0x92, 0x06, 0x92, 0x05, 0x02}, codec.ErrMalformed, "out of range or order"},
	{"trailing bytes", append(EncodeMessage(Message{Type: MsgStatesEnd}), 0), codec.ErrMalformed, "trailing"},
}

func TestMessageRejections(t *testing.T) {
	for _, c := range messageRejections {
		_, err := DecodeMessage(c.in)
		if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: err = %v, want %v containing %q", c.name, err, c.want, c.msg)
		}
	}
}

// TestAckRefusedKeysEncoding pins the bytes of an ack that refuses keys: the key
// set's body follows the sequence, as in a KeySet encoding.
func TestAckRefusedKeysEncoding(t *testing.T) {
	var s crdt.KeySet
	s.AddRegister(crdt.RegisterKey{Item: "a", User: "u"})
	s.AddCounter(crdt.CounterKey{Item: "a", Name: "c"})
	got := EncodeMessage(Message{Type: MsgAck, Seq: 42, Refused: s})
	want := []byte{0x92, 1, 0x93, 3, 42, 0x81, 0xa1, 'a', 0x92, 0x91, 0xa1, 'c', 0x91, 0xa1, 'u'}
	if !bytes.Equal(got, want) {
		t.Errorf("ack refusing a/c and a/u encodes to %x, want %x", got, want)
	}
	if got := EncodeMessage(Message{Type: MsgAck, Seq: 42, Refused: crdt.KeySet{}}); !bytes.Equal(got, []byte{0x92, 1, 0x92, 3, 42}) {
		t.Errorf("ack refusing nothing encodes to %x, want [1, [3, 42]]", got)
	}
}

// TestAckRefusedKeysRoundTrip checks random refused key sets: the ack decodes to
// the same sequence and keys and re-encodes to the same bytes.
func TestAckRefusedKeysRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		keys := genKeySet.Draw(t, "keys")
		seq := rapid.Uint64().Draw(t, "seq")
		b := EncodeMessage(Message{Type: MsgAck, Seq: seq, Refused: keys})
		m, err := DecodeMessage(b)
		if err != nil {
			t.Fatalf("decode %x: %v", b, err)
		}
		if m.Type != MsgAck || m.Seq != seq || !m.Refused.Equal(keys) {
			t.Fatalf("got %+v, want ack %d refusing %v", m, seq, keys)
		}
		if again := EncodeMessage(m); !bytes.Equal(again, b) {
			t.Fatalf("re-encoded to %x, want %x", again, b)
		}
	})
}

func FuzzDecodeMessage(f *testing.F) {
	for _, m := range sampleMessages() {
		f.Add(EncodeMessage(m))
	}
	for _, r := range messageRejections {
		f.Add(r.in)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeMessage(b)
		if err != nil {
			if !errors.Is(err, codec.ErrMalformed) && !errors.Is(err, codec.ErrVersion) {
				t.Fatalf("unclassified error: %v", err)
			}
			return
		}
		enc := EncodeMessage(m)
		if !bytes.Equal(enc, b) {
			t.Fatalf("accepted %x, which re-encodes to %x", b, enc)
		}
		again, err := DecodeMessage(enc)
		if err != nil || !messagesEqual(again, m) {
			t.Fatalf("re-encoding %+v: %+v, %v", m, again, err)
		}
	})
}

// genKeySet draws key sets of up to 30 counter and register keys over a few items.
var genKeySet = rapid.Custom(func(t *rapid.T) crdt.KeySet {
	var s crdt.KeySet
	for range rapid.IntRange(0, 30).Draw(t, "keys") {
		item := rapid.SampledFrom([]string{"a", "b", "video:1"}).Draw(t, "item")
		id := rapid.StringN(1, 8, -1).Draw(t, "id")
		if rapid.Bool().Draw(t, "counter") {
			s.AddCounter(crdt.CounterKey{Item: item, Name: id})
		} else {
			s.AddRegister(crdt.RegisterKey{Item: item, User: id})
		}
	}
	return s
})
