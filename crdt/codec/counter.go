package codec

import (
	"fmt"

	"github.com/countermesh/countermesh/crdt"
)

// minCounterEntry is the fewest bytes a CounterBody entry takes: replica, array
// header, p, n.
const minCounterEntry = 4

// EncodeCounter returns the canonical encoding of c: [Version, CounterBody].
func EncodeCounter(c crdt.PNCounter) []byte {
	e := getEncoder()
	e.header()
	e.counterBody(c)
	return e.finish()
}

// DecodeCounter decodes what EncodeCounter wrote.
func DecodeCounter(b []byte) (crdt.PNCounter, error) {
	return Decode(b, "counter", (*Decoder).counterBody)
}

// counterBody writes { replica: [p, n] } with replicas ascending.
func (e *Encoder) counterBody(c crdt.PNCounter) {
	var buf [16]crdt.ReplicaID
	replicas := c.AppendReplicas(buf[:0])
	e.mapLen(len(replicas))
	for _, r := range replicas {
		pn := c.Entry(r)
		e.Replica(r)
		e.ArrayLen(2)
		e.Uint(pn.P)
		e.Uint(pn.N)
	}
}

// counterBody reads what encoder.counterBody wrote.
func (d *Decoder) counterBody() (crdt.PNCounter, error) {
	var c crdt.PNCounter
	n, err := d.mapLen(minCounterEntry)
	if err != nil {
		return c, err
	}
	var prev crdt.ReplicaID
	for i := range n {
		r, err := d.Replica()
		if err != nil {
			return c, fmt.Errorf("replica: %w", err)
		}
		if i > 0 && r <= prev {
			if r == prev {
				return c, fmt.Errorf("replica %s: duplicate entry", r)
			}
			return c, fmt.Errorf("replica %s: out of order after %s", r, prev)
		}
		prev = r
		if err := d.tuple(2); err != nil {
			return c, fmt.Errorf("replica %s: %w", r, err)
		}
		var pn crdt.PN
		if pn.P, err = d.Uint(); err != nil {
			return c, fmt.Errorf("replica %s: p: %w", r, err)
		}
		if pn.N, err = d.Uint(); err != nil {
			return c, fmt.Errorf("replica %s: n: %w", r, err)
		}
		if pn == (crdt.PN{}) {
			return c, fmt.Errorf("replica %s: entry with p = n = 0", r)
		}
		c.JoinEntry(r, pn)
	}
	return c, nil
}
