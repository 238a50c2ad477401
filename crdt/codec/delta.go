package codec

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
// counter names, users and replicas in ascending order; an item with keyed
// increments has a third element, { key: IdemBody }. Deltas holding the same
// states have the same encoding, whatever order they were built in.
func EncodeDelta(d crdt.Delta) []byte {
	e := getEncoder()
	e.header()
	e.DeltaBody(d)
	return e.finish()
}

// DeltaBody writes { item: [ { name: CounterBody }, { user: RegisterBody } (, { key: IdemBody }) ] }.
func (e *Encoder) DeltaBody(d crdt.Delta) {
	for k, c := range d.Counters {
		e.counters = append(e.counters, counterEntry{key: k, c: c})
	}
	for k, r := range d.Registers {
		e.registers = append(e.registers, registerEntry{key: k, r: r})
	}
	for k, rec := range d.Idem {
		e.idem = append(e.idem, idemEntry{key: k, rec: rec})
	}
	e.sortEntries()
	e.mapLen(e.countItems())
	e.eachItem(func(item string, cs []counterEntry, rs []registerEntry, is []idemEntry) {
		e.String(item)
		e.ArrayLen(itemTupleLen(is))
		e.mapLen(len(cs))
		for _, ce := range cs {
			e.String(ce.key.Name)
			e.counterBody(ce.c)
		}
		e.mapLen(len(rs))
		for _, re := range rs {
			e.String(re.key.User)
			e.registerBody(re.r)
		}
		if len(is) > 0 {
			e.mapLen(len(is))
			for _, ie := range is {
				e.String(ie.key.Key)
				e.idemBody(ie.rec)
			}
		}
	})
	e.clearScratch()
}

// DecodeDelta decodes what EncodeDelta wrote. The counters, registers and records
// of the Delta it returns share nothing with any other value.
func DecodeDelta(b []byte) (crdt.Delta, error) {
	return Decode(b, "delta", (*Decoder).DeltaBody)
}

// DeltaBody reads { item: [ { name: CounterBody }, { user: RegisterBody } (, { key: IdemBody }) ] }.
func (d *Decoder) DeltaBody() (crdt.Delta, error) {
	d.clearScratch()
	if err := d.eachItem(d.itemStates); err != nil {
		return crdt.Delta{}, err
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
	if len(d.idem) > 0 {
		out.Idem = make(map[crdt.IdemKey]crdt.IdemRecord, len(d.idem))
		for _, ie := range d.idem {
			out.Idem[ie.key] = ie.rec
		}
	}
	return out, nil
}

// eachItem reads the items of a Delta or KeySet: { item: ... }, calling body for
// each item's value in turn, with the items in strictly ascending order.
func (d *Decoder) eachItem(body func(item string) error) error {
	n, err := d.mapLen(minItem)
	if err != nil {
		return err
	}
	var prev string
	for i := range n {
		item, err := d.item(i, prev)
		if err != nil {
			return err
		}
		prev = item
		if err := body(item); err != nil {
			return fmt.Errorf("item %q: %w", item, err)
		}
	}
	return nil
}

// item reads the id of the i-th item of a Delta or KeySet, which must order after
// prev, the id of the one before.
func (d *Decoder) item(i int, prev string) (string, error) {
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

// itemTuple reads the header of an item's tuple, [counters, registers] or
// [counters, registers, keyed increments], and returns its length.
func (d *Decoder) itemTuple() (int, error) {
	n, err := d.ArrayLen(1)
	if err != nil {
		return 0, err
	}
	if n != 2 && n != 3 {
		return 0, fmt.Errorf("array of %d elements, want 2 or 3", n)
	}
	return n, nil
}

// itemStates reads [ { name: CounterBody }, { user: RegisterBody } (, { key: IdemBody }) ]
// of item into d.counters, d.registers and d.idem.
func (d *Decoder) itemStates(item string) error {
	tuple, err := d.itemTuple()
	if err != nil {
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
	ni := 0
	if tuple == 3 {
		if ni, err = d.mapLen(minIdemEntry); err != nil {
			return fmt.Errorf("keyed increments: %w", err)
		}
		if ni == 0 {
			return errors.New("keyed increments: empty, but present")
		}
		prev = ""
		for i := range ni {
			b, err := d.stringBytes()
			if err != nil {
				return fmt.Errorf("idempotency key: %w", err)
			}
			if err := checkOrder(i, b, prev); err != nil {
				return fmt.Errorf("idempotency key %q: %w", b, err)
			}
			prev = string(b)
			rec, err := d.idemBody()
			if err != nil {
				return fmt.Errorf("idempotency key %q: %w", prev, err)
			}
			d.idem = append(d.idem, idemEntry{key: crdt.IdemKey{Item: item, Key: prev}, rec: rec})
		}
	}
	if nc == 0 && nr == 0 && ni == 0 {
		return errors.New("no key")
	}
	return nil
}

// itemTupleLen is the length of an item's tuple: 3 when it has keyed increments.
func itemTupleLen(is []idemEntry) int {
	if len(is) > 0 {
		return 3
	}
	return 2
}

// sortEntries sorts the scratch entries by key, grouping them by item.
func (e *Encoder) sortEntries() {
	slices.SortFunc(e.counters, compareCounterEntries)
	slices.SortFunc(e.registers, compareRegisterEntries)
	slices.SortFunc(e.idem, compareIdemEntries)
}

// countItems returns how many items the sorted scratch entries hold keys of.
func (e *Encoder) countItems() int {
	n := 0
	e.eachItem(func(string, []counterEntry, []registerEntry, []idemEntry) { n++ })
	return n
}

// eachItem calls fn for every item of the sorted scratch entries, in ascending
// order, with the item's entries of each kind.
func (e *Encoder) eachItem(fn func(item string, cs []counterEntry, rs []registerEntry, is []idemEntry)) {
	cs, rs, is := e.counters, e.registers, e.idem
	for len(cs) > 0 || len(rs) > 0 || len(is) > 0 {
		var item string
		first := true
		pick := func(k string) {
			if first || k < item {
				item, first = k, false
			}
		}
		if len(cs) > 0 {
			pick(cs[0].key.Item)
		}
		if len(rs) > 0 {
			pick(rs[0].key.Item)
		}
		if len(is) > 0 {
			pick(is[0].key.Item)
		}
		nc, nr, ni := 0, 0, 0
		for nc < len(cs) && cs[nc].key.Item == item {
			nc++
		}
		for nr < len(rs) && rs[nr].key.Item == item {
			nr++
		}
		for ni < len(is) && is[ni].key.Item == item {
			ni++
		}
		fn(item, cs[:nc], rs[:nr], is[:ni])
		cs, rs, is = cs[nc:], rs[nr:], is[ni:]
	}
}
