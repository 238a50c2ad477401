package codec

import (
	"errors"
	"fmt"
	"math"

	"github.com/countermesh/countermesh/crdt"
)

// minIdemEntry is the fewest bytes a keyed increment of an item takes in a Delta:
// key, a map header, then one application of at least minApplication bytes.
const minIdemEntry = 2 + minApplication

// minApplication is the fewest bytes an ApplicationBody entry takes: replica,
// array header, wall, logical, counter, sign, magnitude, compensated.
const minApplication = 8

// idemEntry is one keyed-increment record of a Delta (or one key of a KeySet,
// with an empty record), as sorted for encoding or collected while decoding.
type idemEntry struct {
	key crdt.IdemKey
	rec crdt.IdemRecord
}

// compareIdemEntries orders keyed-increment entries by key: item, then key.
func compareIdemEntries(a, b idemEntry) int { return crdt.CompareIdemKeys(a.key, b.key) }

// idemBody writes { replica: [wall, logical, counter, sign, magnitude, compensated] },
// replicas ascending; the amount is sign (0 for +, 1 for −) and magnitude, and
// compensated is 0 or 1.
func (e *Encoder) idemBody(rec crdt.IdemRecord) {
	replicas := rec.Replicas()
	e.mapLen(len(replicas))
	for _, r := range replicas {
		a, _ := rec.Application(r)
		e.Replica(r)
		e.ArrayLen(6)
		e.timestamp(a.TS)
		e.String(a.Counter)
		var sign, mag uint64
		if a.By < 0 {
			sign, mag = 1, uint64(-(a.By+1))+1
		} else {
			mag = uint64(a.By)
		}
		e.Uint(sign)
		e.Uint(mag)
		var comp uint64
		if a.Compensated {
			comp = 1
		}
		e.Uint(comp)
	}
}

// idemBody reads what encoder.idemBody wrote and checks that replicas could have
// written it: a non-empty record, positive walls, a non-empty counter name and a
// non-zero amount that fits an int64.
func (d *Decoder) idemBody() (crdt.IdemRecord, error) {
	var rec crdt.IdemRecord
	n, err := d.mapLen(minApplication)
	if err != nil {
		return rec, err
	}
	if n == 0 {
		return rec, errors.New("no application")
	}
	var prev crdt.ReplicaID
	for i := range n {
		r, err := d.Replica()
		if err != nil {
			return rec, fmt.Errorf("replica: %w", err)
		}
		if i > 0 && r <= prev {
			if r == prev {
				return rec, fmt.Errorf("replica %s: duplicate application", r)
			}
			return rec, fmt.Errorf("replica %s: out of order after %s", r, prev)
		}
		prev = r
		a, err := d.application()
		if err != nil {
			return rec, fmt.Errorf("replica %s: %w", r, err)
		}
		rec.JoinApplication(r, a)
	}
	return rec, nil
}

// application reads [wall, logical, counter, sign, magnitude, compensated].
func (d *Decoder) application() (crdt.Application, error) {
	var a crdt.Application
	if err := d.tuple(6); err != nil {
		return a, err
	}
	var err error
	if a.TS, err = d.timestamp(); err != nil {
		return a, err
	}
	if a.TS.Wall == 0 {
		return a, errors.New("wall: zero")
	}
	if a.Counter, err = d.Name(); err != nil {
		return a, fmt.Errorf("counter: %w", err)
	}
	if a.Counter == "" {
		return a, errors.New("counter: empty name")
	}
	sign, err := d.Uint()
	if err != nil {
		return a, fmt.Errorf("sign: %w", err)
	}
	mag, err := d.Uint()
	if err != nil {
		return a, fmt.Errorf("magnitude: %w", err)
	}
	switch {
	case mag == 0:
		return a, errors.New("magnitude: zero amount")
	case sign == 0 && mag <= math.MaxInt64:
		a.By = int64(mag)
	case sign == 1 && mag <= 1<<63:
		a.By = -int64(mag-1) - 1
	case sign > 1:
		return a, fmt.Errorf("sign: %d, want 0 or 1", sign)
	default:
		return a, fmt.Errorf("magnitude: %d overflows int64", mag)
	}
	comp, err := d.Uint()
	if err != nil {
		return a, fmt.Errorf("compensated: %w", err)
	}
	if comp > 1 {
		return a, fmt.Errorf("compensated: %d, want 0 or 1", comp)
	}
	a.Compensated = comp == 1
	return a, nil
}

// EncodeIdemRecord returns the canonical encoding of rec: [Version, IdemBody].
func EncodeIdemRecord(rec crdt.IdemRecord) []byte {
	e := getEncoder()
	e.header()
	e.idemBody(rec)
	return e.finish()
}

// DecodeIdemRecord decodes what EncodeIdemRecord wrote.
func DecodeIdemRecord(b []byte) (crdt.IdemRecord, error) {
	return Decode(b, "idempotency record", (*Decoder).idemBody)
}
