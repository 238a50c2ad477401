package wire

import (
	"errors"
	"fmt"
	"slices"

	"github.com/countermesh/countermesh/crdt"
)

const (
	// minItem is the fewest bytes an item of a Delta or KeySet takes: id, array
	// header, two collection headers.
	minItem = 4
	// minCounter is the fewest bytes a counter of an item takes: name, empty map.
	minCounter = 2
	// minItemRegister is the fewest bytes a register of an item takes: user,
	// RegisterBody.
	minItemRegister = 1 + minRegister
)

// EncodeDelta returns the canonical encoding of d:
// [Version, { item: [ { name: CounterBody }, { user: RegisterBody } ] }], items,
// counter names, users and replicas in ascending order. Deltas holding the same
// states have the same encoding, whatever order they were built in.
func EncodeDelta(d crdt.Delta) []byte {
	e := getEncoder()
	e.header()
	e.deltaBody(d)
	return e.finish()
}

// deltaBody writes { item: [ { name: CounterBody }, { user: RegisterBody } ] }.
func (e *encoder) deltaBody(d crdt.Delta) {
	for k, c := range d.Counters {
		e.counters = append(e.counters, counterEntry{key: k, c: c})
	}
	for k, r := range d.Registers {
		e.registers = append(e.registers, registerEntry{key: k, r: r})
	}
	slices.SortFunc(e.counters, compareCounterEntries)
	slices.SortFunc(e.registers, compareRegisterEntries)

	e.mapLen(countItems(e.counters, e.registers))
	for cs, rs := e.counters, e.registers; len(cs) > 0 || len(rs) > 0; {
		item, nc, nr := nextItem(cs, rs)
		e.string(item)
		e.arrayLen(2)
		e.mapLen(nc)
		for _, ce := range cs[:nc] {
			e.string(ce.key.Name)
			e.counterBody(ce.c)
		}
		e.mapLen(nr)
		for _, re := range rs[:nr] {
			e.string(re.key.User)
			e.registerBody(re.r)
		}
		cs, rs = cs[nc:], rs[nr:]
	}
	e.counters = clearEntries(e.counters)
	e.registers = clearEntries(e.registers)
}

// DecodeDelta decodes what EncodeDelta wrote. The counters and registers of the
// Delta it returns share nothing with any other value.
func DecodeDelta(b []byte) (crdt.Delta, error) {
	return decodeTop(b, "delta", (*decoder).deltaBody)
}

// deltaBody reads { item: [ { name: CounterBody }, { user: RegisterBody } ] }.
func (d *decoder) deltaBody() (crdt.Delta, error) {
	n, err := d.mapLen(minItem)
	if err != nil {
		return crdt.Delta{}, err
	}
	var prev string
	for i := range n {
		item, err := d.item(i, prev)
		if err != nil {
			return crdt.Delta{}, err
		}
		prev = item
		if err := d.itemStates(item); err != nil {
			return crdt.Delta{}, fmt.Errorf("item %q: %w", item, err)
		}
	}
	var out crdt.Delta
	if len(d.counters) > 0 {
		out.Counters = make(map[crdt.CounterKey]crdt.PNCounter, len(d.counters))
		for _, ce := range d.counters {
			out.Counters[ce.key] = ce.c
		}
	}
	if len(d.registers) > 0 {
		out.Registers = make(map[crdt.RegisterKey]crdt.Register, len(d.registers))
		for _, re := range d.registers {
			out.Registers[re.key] = re.r
		}
	}
	return out, nil
}

// item reads the id of the i-th item of a Delta or KeySet, which must order after
// prev, the id of the one before.
func (d *decoder) item(i int, prev string) (string, error) {
	b, err := d.stringBytes()
	if err != nil {
		return "", fmt.Errorf("item: %w", err)
	}
	if err := checkOrder(i, b, prev); err != nil {
		return "", fmt.Errorf("item %q: %w", b, err)
	}
	return string(b), nil
}

// checkOrder reports whether key, the i-th key of a collection, orders strictly
// after prev, the key before it.
func checkOrder(i int, key []byte, prev string) error {
	switch {
	case i == 0 || string(key) > prev:
		return nil
	case string(key) == prev:
		return errors.New("duplicate key")
	}
	return fmt.Errorf("out of order after %q", prev)
}

// itemStates reads [ { name: CounterBody }, { user: RegisterBody } ] of item into
// d.counters and d.registers.
func (d *decoder) itemStates(item string) error {
	if err := d.tuple(2); err != nil {
		return err
	}
	nc, err := d.mapLen(minCounter)
	if err != nil {
		return fmt.Errorf("counters: %w", err)
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
		c, err := d.counterBody()
		if err != nil {
			return fmt.Errorf("counter %q: %w", prev, err)
		}
		d.counters = append(d.counters, counterEntry{key: crdt.CounterKey{Item: item, Name: prev}, c: c})
	}
	nr, err := d.mapLen(minItemRegister)
	if err != nil {
		return fmt.Errorf("registers: %w", err)
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
		r, err := d.registerBody()
		if err != nil {
			return fmt.Errorf("register %q: %w", prev, err)
		}
		d.registers = append(d.registers, registerEntry{key: crdt.RegisterKey{Item: item, User: prev}, r: r})
	}
	return nil
}

// countItems returns how many items cs and rs, sorted, hold keys of.
func countItems(cs []counterEntry, rs []registerEntry) int {
	n := 0
	for len(cs) > 0 || len(rs) > 0 {
		_, nc, nr := nextItem(cs, rs)
		cs, rs = cs[nc:], rs[nr:]
		n++
	}
	return n
}

// nextItem returns the first item of cs and rs, sorted and not both empty, and
// how many of the first entries of each belong to it.
func nextItem(cs []counterEntry, rs []registerEntry) (item string, nc, nr int) {
	switch {
	case len(cs) == 0:
		item = rs[0].key.Item
	case len(rs) == 0:
		item = cs[0].key.Item
	default:
		item = min(cs[0].key.Item, rs[0].key.Item)
	}
	for nc < len(cs) && cs[nc].key.Item == item {
		nc++
	}
	for nr < len(rs) && rs[nr].key.Item == item {
		nr++
	}
	return item, nc, nr
}
