package exchange

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/countermesh/countermesh/crdt"
	"github.com/countermesh/countermesh/crdt/codec"
)

// MessageType says what a sync message is. Every message travels as
// [Version, [type, fields...]], Version being codec.Version, and its fields in
// the canonical forms of package codec; a receiver refuses an unknown version or
// type.
type MessageType uint8

// The messages of the sync protocol (DESIGN.md §3).
const (
	// MsgHello opens a stream: [1, mesh, replica]. The first message on every
	// stream, from both sides.
	MsgHello MessageType = 1
	// MsgBatch carries the current state of the keys the sender changed up to
	// sequence Seq: [2, seq, DeltaBody].
	MsgBatch MessageType = 2
	// MsgAck says the receiver durably applied the batch up to Seq: [3, seq]. When
	// it could not apply some keys of it yet (timestamps beyond its max clock
	// drift) it names them, and only them: [3, seq, KeySetBody], KeySetBody being
	// { item: [ [ name ], [ user ] (, [ key ]) ] } as in a KeySet, never empty. The sender
	// keeps offering those keys until they are taken. A build that predates the
	// refused keys refuses such an ack as malformed, with a reason.
	MsgAck MessageType = 3
	// MsgNack says the receiver could not apply the batch up to Seq yet, and why
	// (a clock beyond max drift, a full disk): [4, seq, reason]. The sender keeps
	// the data and offers it again later.
	MsgNack MessageType = 4
	// MsgDigest starts an anti-entropy round with the sender's bucket digest, taken
	// when its last committed sequence was Seq: [5, seq, bin].
	MsgDigest MessageType = 5
	// MsgBuckets answers a digest with the buckets that differ: [6, [bucket...]].
	MsgBuckets MessageType = 6
	// MsgStates carries the states of keys in differing buckets: [7, DeltaBody].
	MsgStates MessageType = 7
	// MsgStatesEnd ends a run of MsgStates: [8].
	MsgStatesEnd MessageType = 8
)

// String names the type for logs.
func (t MessageType) String() string {
	switch t {
	case MsgHello:
		return "hello"
	case MsgBatch:
		return "batch"
	case MsgAck:
		return "ack"
	case MsgNack:
		return "nack"
	case MsgDigest:
		return "digest"
	case MsgBuckets:
		return "buckets"
	case MsgStates:
		return "states"
	case MsgStatesEnd:
		return "states-end"
	}
	return fmt.Sprintf("type-%d", uint8(t))
}

// MaxDigestLen is the most digest entries a MsgDigest may carry.
const MaxDigestLen = 1 << 16

// Message is one sync message; which fields are used depends on Type.
type Message struct {
	Type    MessageType
	Mesh    string         // Hello
	Replica crdt.ReplicaID // Hello
	Seq     uint64         // Batch, Ack, Nack, Digest
	Delta   crdt.Delta     // Batch, States
	Refused crdt.KeySet    // Ack: keys of the batch not applied yet; often empty
	Reason  string         // Nack
	Digest  []uint64       // Digest
	Buckets []int          // Buckets: ascending, distinct, each below MaxDigestLen
}

// EncodeMessage returns the encoding of m.
func EncodeMessage(m Message) []byte {
	return codec.Encode(func(e *codec.Encoder) {
		switch m.Type {
		case MsgHello:
			e.ArrayLen(3)
			e.Uint(uint64(m.Type))
			e.String(m.Mesh)
			e.Replica(m.Replica)
		case MsgBatch:
			e.ArrayLen(3)
			e.Uint(uint64(m.Type))
			e.Uint(m.Seq)
			e.DeltaBody(m.Delta)
		case MsgAck:
			refused := m.Refused.Len() > 0
			e.ArrayLen(2 + boolToInt(refused))
			e.Uint(uint64(m.Type))
			e.Uint(m.Seq)
			if refused {
				e.KeySetBody(m.Refused)
			}
		case MsgNack:
			e.ArrayLen(3)
			e.Uint(uint64(m.Type))
			e.Uint(m.Seq)
			e.String(m.Reason)
		case MsgDigest:
			e.ArrayLen(3)
			e.Uint(uint64(m.Type))
			e.Uint(m.Seq)
			b := make([]byte, 0, 8*len(m.Digest))
			for _, v := range m.Digest {
				b = binary.LittleEndian.AppendUint64(b, v)
			}
			e.Bin(b)
		case MsgBuckets:
			e.ArrayLen(2)
			e.Uint(uint64(m.Type))
			e.ArrayLen(len(m.Buckets))
			for _, b := range m.Buckets {
				e.Uint(uint64(b))
			}
		case MsgStates:
			e.ArrayLen(2)
			e.Uint(uint64(m.Type))
			e.DeltaBody(m.Delta)
		default:
			e.ArrayLen(1)
			e.Uint(uint64(m.Type))
		}
	})
}

// DecodeMessage decodes what EncodeMessage wrote. An unknown version matches
// codec.ErrVersion; anything else wrong, including an unknown type,
// codec.ErrMalformed.
func DecodeMessage(b []byte) (Message, error) {
	return codec.Decode(b, "message", decodeMessage)
}

// fieldsOf gives the number of array elements of each message type, and
// optionalFields how many more trailing ones it may carry.
var (
	fieldsOf = map[MessageType]int{
		MsgHello: 3, MsgBatch: 3, MsgAck: 2, MsgNack: 3, MsgDigest: 3, MsgBuckets: 2, MsgStates: 2, MsgStatesEnd: 1,
	}
	optionalFields = map[MessageType]int{MsgAck: 1}
)

// decodeMessage reads the body of a message.
func decodeMessage(d *codec.Decoder) (Message, error) {
	var m Message
	n, err := d.ArrayLen(1)
	if err != nil {
		return m, err
	}
	if n == 0 {
		return m, errors.New("empty message")
	}
	t, err := d.Uint()
	if err != nil {
		return m, fmt.Errorf("type: %w", err)
	}
	m.Type = MessageType(t)
	want, ok := fieldsOf[m.Type]
	if !ok || t > 255 {
		return m, fmt.Errorf("unknown message type %d", t)
	}
	if n < want || n > want+optionalFields[m.Type] {
		if opt := optionalFields[m.Type]; opt > 0 {
			return m, fmt.Errorf("%s: %d fields, want %d to %d", m.Type, n, want, want+opt)
		}
		return m, fmt.Errorf("%s: %d fields, want %d", m.Type, n, want)
	}
	switch m.Type {
	case MsgHello:
		if m.Mesh, err = d.Name(); err != nil {
			return m, fmt.Errorf("hello: mesh: %w", err)
		}
		if m.Replica, err = d.Replica(); err != nil {
			return m, fmt.Errorf("hello: replica: %w", err)
		}
	case MsgBatch:
		if m.Seq, err = d.Uint(); err != nil {
			return m, fmt.Errorf("batch: seq: %w", err)
		}
		if m.Delta, err = d.DeltaBody(); err != nil {
			return m, fmt.Errorf("batch: %w", err)
		}
	case MsgAck:
		if m.Seq, err = d.Uint(); err != nil {
			return m, fmt.Errorf("ack: seq: %w", err)
		}
		if n > want {
			err = decodeRefused(d, &m)
		}
	case MsgNack:
		if m.Seq, err = d.Uint(); err != nil {
			return m, fmt.Errorf("nack: seq: %w", err)
		}
		if m.Reason, err = d.Name(); err != nil {
			return m, fmt.Errorf("nack: reason: %w", err)
		}
	case MsgDigest:
		err = decodeDigest(d, &m)
	case MsgBuckets:
		err = decodeBuckets(d, &m)
	case MsgStates:
		if m.Delta, err = d.DeltaBody(); err != nil {
			return m, fmt.Errorf("states: %w", err)
		}
	}
	return m, err
}

// decodeDigest reads the sequence and digest of a MsgDigest.
func decodeDigest(d *codec.Decoder, m *Message) error {
	var err error
	if m.Seq, err = d.Uint(); err != nil {
		return fmt.Errorf("digest: seq: %w", err)
	}
	b, err := d.Bin(8 * MaxDigestLen)
	if err != nil {
		return fmt.Errorf("digest: %w", err)
	}
	if len(b)%8 != 0 {
		return fmt.Errorf("digest: %d bytes, want a multiple of 8 up to %d", len(b), 8*MaxDigestLen)
	}
	m.Digest = make([]uint64, len(b)/8)
	for i := range m.Digest {
		m.Digest[i] = binary.LittleEndian.Uint64(b[8*i:])
	}
	return nil
}

// decodeBuckets reads the buckets of a MsgBuckets.
func decodeBuckets(d *codec.Decoder, m *Message) error {
	n, err := d.ArrayLen(1)
	if err != nil {
		return fmt.Errorf("buckets: %w", err)
	}
	m.Buckets = make([]int, 0, n)
	for i := range n {
		v, err := d.Uint()
		if err != nil {
			return fmt.Errorf("buckets: %d: %w", i, err)
		}
		if v >= MaxDigestLen || (i > 0 && int(v) <= m.Buckets[i-1]) {
			return fmt.Errorf("buckets: %d: %d out of range or order", i, v)
		}
		m.Buckets = append(m.Buckets, int(v))
	}
	return nil
}

// decodeRefused reads the refused keys of an ack, which are never empty: an ack that
// refuses nothing leaves the field out.
func decodeRefused(d *codec.Decoder, m *Message) error {
	var err error
	if m.Refused, err = d.KeySetBody(); err != nil {
		return fmt.Errorf("ack: refused: %w", err)
	}
	if m.Refused.Len() == 0 {
		return errors.New("ack: refused: no key (an ack refusing nothing has 2 fields)")
	}
	return nil
}

func boolToInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
