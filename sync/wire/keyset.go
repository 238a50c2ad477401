package wire

import (
	"errors"
	"fmt"
	"slices"

	"github.com/countermesh/countermesh/crdt"
)

// EncodeKeySet returns the canonical encoding of s:
// [Version, { item: [ [ name ], [ user ] ] }], items, counter names and users in
// ascending order.
func EncodeKeySet(s crdt.KeySet) []byte {
	e := getEncoder()
	for k := range s.Counters {
		e.counters = append(e.counters, counterEntry{key: k})
	}
	for k := range s.Registers {
		e.registers = append(e.registers, registerEntry{key: k})
	}
	slices.SortFunc(e.counters, compareCounterEntries)
	slices.SortFunc(e.registers, compareRegisterEntries)

	e.header()
	e.mapLen(countItems(e.counters, e.registers))
	for cs, rs := e.counters, e.registers; len(cs) > 0 || len(rs) > 0; {
		item, nc, nr := nextItem(cs, rs)
		e.string(item)
		e.arrayLen(2)
		e.arrayLen(nc)
		for _, ce := range cs[:nc] {
			e.string(ce.key.Name)
		}
		e.arrayLen(nr)
		for _, re := range rs[:nr] {
			e.string(re.key.User)
		}
		cs, rs = cs[nc:], rs[nr:]
	}
	return e.finish()
}

// DecodeKeySet decodes what EncodeKeySet wrote.
func DecodeKeySet(b []byte) (crdt.KeySet, error) {
	return decodeTop(b, "keyset", (*decoder).keySetBody)
}

// keySetBody reads { item: [ [ name ], [ user ] ] }.
func (d *decoder) keySetBody() (crdt.KeySet, error) {
	n, err := d.mapLen(minItem)
	if err != nil {
		return crdt.KeySet{}, err
	}
	var prev string
	for i := range n {
		item, err := d.item(i, prev)
		if err != nil {
			return crdt.KeySet{}, err
		}
		prev = item
		if err := d.itemKeys(item); err != nil {
			return crdt.KeySet{}, fmt.Errorf("item %q: %w", item, err)
		}
	}
	var out crdt.KeySet
	if len(d.counters) > 0 {
		out.Counters = make(map[crdt.CounterKey]struct{}, len(d.counters))
		for _, ce := range d.counters {
			out.Counters[ce.key] = struct{}{}
		}
	}
	if len(d.registers) > 0 {
		out.Registers = make(map[crdt.RegisterKey]struct{}, len(d.registers))
		for _, re := range d.registers {
			out.Registers[re.key] = struct{}{}
		}
	}
	return out, nil
}

// itemKeys reads [ [ name ], [ user ] ] of item into d.counters and d.registers.
func (d *decoder) itemKeys(item string) error {
	if err := d.tuple(2); err != nil {
		return err
	}
	nc, err := d.arrayLen(1)
	if err != nil {
		return fmt.Errorf("counter names: %w", err)
	}
	var prev string
	for i := range nc {
		b, err := d.stringBytes()
		if err != nil {
			return fmt.Errorf("counter name: %w", err)
		}
		if err := checkOrder(i, b, prev); err != nil {
			return fmt.Errorf("counter %q: %w", b, err)
		}
		prev = d.intern(b)
		d.counters = append(d.counters, counterEntry{key: crdt.CounterKey{Item: item, Name: prev}})
	}
	nr, err := d.arrayLen(1)
	if err != nil {
		return fmt.Errorf("register users: %w", err)
	}
	if nc == 0 && nr == 0 {
		return errors.New("no counter and no register")
	}
	prev = ""
	for i := range nr {
		b, err := d.stringBytes()
		if err != nil {
			return fmt.Errorf("register user: %w", err)
		}
		if err := checkOrder(i, b, prev); err != nil {
			return fmt.Errorf("register %q: %w", b, err)
		}
		prev = string(b)
		d.registers = append(d.registers, registerEntry{key: crdt.RegisterKey{Item: item, User: prev}})
	}
	return nil
}
