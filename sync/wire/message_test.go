package wire

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/countermesh/countermesh/crdt"
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

// messagesEqual compares messages, deltas by value and empty slices as nil.
func messagesEqual(a, b Message) bool {
	if !a.Delta.Equal(b.Delta) || len(a.Digest) != len(b.Digest) || len(a.Buckets) != len(b.Buckets) {
		return false
	}
	a.Delta, b.Delta = crdt.Delta{}, crdt.Delta{}
	if len(a.Digest) == 0 {
		a.Digest, b.Digest = nil, nil
	}
	if len(a.Buckets) == 0 {
		a.Buckets, b.Buckets = nil, nil
	}
	return reflect.DeepEqual(a, b)
}

func TestMessageRejections(t *testing.T) {
	cases := []struct {
		name string
		in   []byte
		want error
		msg  string
	}{
		{"unknown version", []byte{0x92, 0x02, 0x91, 0x03}, ErrVersion, "version 2"},
		{"unknown type", []byte{0x92, 0x01, 0x91, 0x63}, ErrMalformed, "unknown message type 99"},
		{"wrong field count", []byte{0x92, 0x01, 0x91, 0x03}, ErrMalformed, "ack: 1 fields, want 2"},
		{"hello replica 0", []byte{0x92, 0x01, 0x93, 0x01, 0xa1, 'm', 0x00}, ErrMalformed, "zero replica id"},
		{"digest not a multiple of 8", []byte{0x92, 0x01, 0x93, 0x05, 0x00, 0xc4, 0x03, 1, 2, 3}, ErrMalformed, "multiple of 8"},
		{"digest longer than input", []byte{0x92, 0x01, 0x93, 0x05, 0x00, 0xc4, 0x08, 1, 2}, ErrMalformed, "digest"},
		{"buckets out of order", []byte{0x92, 0x01, 0x92, 0x06, 0x92, 0x05, 0x02}, ErrMalformed, "out of range or order"},
		{"trailing bytes", append(EncodeMessage(Message{Type: MsgStatesEnd}), 0), ErrMalformed, "trailing"},
	}
	for _, c := range cases {
		_, err := DecodeMessage(c.in)
		if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: err = %v, want %v containing %q", c.name, err, c.want, c.msg)
		}
	}
}

func FuzzDecodeMessage(f *testing.F) {
	for _, m := range sampleMessages() {
		f.Add(EncodeMessage(m))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeMessage(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrVersion) {
				t.Fatalf("unclassified error: %v", err)
			}
			return
		}
		again, err := DecodeMessage(EncodeMessage(m))
		if err != nil || !messagesEqual(again, m) {
			t.Fatalf("re-encoding %+v: %+v, %v", m, again, err)
		}
	})
}
