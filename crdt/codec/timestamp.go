package codec

import (
	"fmt"
	"math"

	"github.com/countermesh/countermesh/crdt"
)

// EncodeTimestamp returns the canonical encoding of t: [Version, [wall, logical]].
// A negative Wall is written as a negative integer, which decoders refuse.
func EncodeTimestamp(t crdt.Timestamp) []byte {
	e := getEncoder()
	e.header()
	e.ArrayLen(2)
	e.timestamp(t)
	return e.finish()
}

// DecodeTimestamp decodes what EncodeTimestamp wrote.
func DecodeTimestamp(b []byte) (crdt.Timestamp, error) {
	return Decode(b, "timestamp", (*Decoder).timestampBody)
}

// timestamp writes the fields wall, logical (without an array header: registers
// inline them).
func (e *Encoder) timestamp(t crdt.Timestamp) {
	e.int(t.Wall)
	e.Uint(uint64(t.Logical))
}

// timestampBody reads [wall, logical].
func (d *Decoder) timestampBody() (crdt.Timestamp, error) {
	if err := d.tuple(2); err != nil {
		return crdt.Timestamp{}, err
	}
	return d.timestamp()
}

// timestamp reads the fields wall, logical.
func (d *Decoder) timestamp() (crdt.Timestamp, error) {
	wall, err := d.Uint()
	if err != nil {
		return crdt.Timestamp{}, fmt.Errorf("wall: %w", err)
	}
	if wall > math.MaxInt64 {
		return crdt.Timestamp{}, fmt.Errorf("wall: %d overflows int64", wall)
	}
	logical, err := d.Uint()
	if err != nil {
		return crdt.Timestamp{}, fmt.Errorf("logical: %w", err)
	}
	if logical > math.MaxUint32 {
		return crdt.Timestamp{}, fmt.Errorf("logical: %d overflows uint32", logical)
	}
	return crdt.Timestamp{Wall: int64(wall), Logical: uint32(logical)}, nil
}
