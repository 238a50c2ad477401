package codec

import (
	"errors"
	"fmt"

	"github.com/countermesh/countermesh/crdt"
)

// minRegister is the fewest bytes a RegisterBody takes: array header, kind, wall,
// logical, replica.
const minRegister = 5

// EncodeRegister returns the canonical encoding of r:
// [Version, [kind, wall, logical, replica]]. A register of reaction "like" written
// now by a random replica id takes 27 bytes.
func EncodeRegister(r crdt.Register) []byte {
	e := getEncoder()
	e.header()
	e.registerBody(r)
	return e.finish()
}

// DecodeRegister decodes what EncodeRegister wrote.
func DecodeRegister(b []byte) (crdt.Register, error) {
	return Decode(b, "register", (*Decoder).registerBody)
}

// registerBody writes [kind, wall, logical, replica].
func (e *Encoder) registerBody(r crdt.Register) {
	e.ArrayLen(4)
	e.String(r.Kind)
	e.timestamp(r.TS)
	e.Replica(r.Replica)
}

// registerBody reads what encoder.registerBody wrote and checks that a replica
// could have written it: the zero register, or a timestamp with a positive wall
// and a non-zero replica.
func (d *Decoder) registerBody() (crdt.Register, error) {
	var r crdt.Register
	if err := d.tuple(4); err != nil {
		return r, err
	}
	var err error
	if r.Kind, err = d.Name(); err != nil {
		return r, fmt.Errorf("kind: %w", err)
	}
	if r.TS, err = d.timestamp(); err != nil {
		return r, err
	}
	v, err := d.Uint()
	if err != nil {
		return r, fmt.Errorf("replica: %w", err)
	}
	r.Replica = crdt.ReplicaID(v)
	switch {
	case r.TS.IsZero() && r.Replica != 0:
		return r, fmt.Errorf("replica: %s on a register with a zero timestamp", r.Replica)
	case r.TS.IsZero() && r.Kind != crdt.None:
		return r, fmt.Errorf("kind: %q on a register with a zero timestamp", r.Kind)
	case r.TS.IsZero():
		return r, nil
	case r.Replica == 0:
		return r, errors.New("replica: zero replica id on a register with a timestamp")
	case r.TS.Wall == 0:
		return r, fmt.Errorf("wall: zero on a register written by replica %s", r.Replica)
	}
	return r, nil
}
