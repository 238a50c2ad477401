package codec

import (
	"errors"
	"fmt"

	"github.com/countermesh/countermesh/crdt"
)

// EncodeKeySet returns the canonical encoding of s:
// [Version, { item: [ [ name ], [ user ] ] }], items, counter names and users in
// ascending order; an item with keyed increments has a third element, [ key ].
func EncodeKeySet(s crdt.KeySet) []byte {
	e := getEncoder()
	e.header()
	e.KeySetBody(s)
	return e.finish()
}

// KeySetBody writes s as the body of a KeySet: { item: [ [ name ], [ user ]
// (, [ key ]) ] }.
func (e *Encoder) KeySetBody(s crdt.KeySet) {
	for k := range s.Counters {
		e.counters = append(e.counters, counterEntry{key: k})
	}
	for k := range s.Registers {
		e.registers = append(e.registers, registerEntry{key: k})
	}
	for k := range s.Idem {
		e.idem = append(e.idem, idemEntry{key: k})
	}
	e.sortEntries()
	e.mapLen(e.countItems())
	e.eachItem(func(item string, cs []counterEntry, rs []registerEntry, is []idemEntry) {
		e.String(item)
		e.ArrayLen(itemTupleLen(is))
		e.ArrayLen(len(cs))
		for _, ce := range cs {
			e.String(ce.key.Name)
		}
		e.ArrayLen(len(rs))
		for _, re := range rs {
			e.String(re.key.User)
		}
		if len(is) > 0 {
			e.ArrayLen(len(is))
			for _, ie := range is {
				e.String(ie.key.Key)
			}
		}
	})
	e.clearScratch()
}

// DecodeKeySet decodes what EncodeKeySet wrote.
func DecodeKeySet(b []byte) (crdt.KeySet, error) {
	return Decode(b, "keyset", (*Decoder).KeySetBody)
}

// KeySetBody reads { item: [ [ name ], [ user ] (, [ key ]) ] }.
func (d *Decoder) KeySetBody() (crdt.KeySet, error) {
	d.clearScratch()
	if err := d.eachItem(d.itemKeys); err != nil {
		return crdt.KeySet{}, err
	}
	var out crdt.KeySet
	for _, ce := range d.counters {
		out.AddCounter(ce.key)
	}
	for _, re := range d.registers {
		out.AddRegister(re.key)
	}
	for _, ie := range d.idem {
		out.AddIdem(ie.key)
	}
	return out, nil
}

// itemKeys reads [ [ name ], [ user ] (, [ key ]) ] of item into d.counters,
// d.registers and d.idem.
func (d *Decoder) itemKeys(item string) error {
	tuple, err := d.itemTuple()
	if err != nil {
		return err
	}
	names, err := d.sortedStrings("counter", "name", true)
	if err != nil {
		return err
	}
	for _, name := range names {
		d.counters = append(d.counters, counterEntry{key: crdt.CounterKey{Item: item, Name: name}})
	}
	users, err := d.sortedStrings("register", "user", false)
	if err != nil {
		return err
	}
	for _, user := range users {
		d.registers = append(d.registers, registerEntry{key: crdt.RegisterKey{Item: item, User: user}})
	}
	var keys []string
	if tuple == 3 {
		if keys, err = d.sortedStrings("idempotency", "key", false); err != nil {
			return err
		}
		if len(keys) == 0 {
			return errors.New("idempotency keys: empty, but present")
		}
		for _, key := range keys {
			d.idem = append(d.idem, idemEntry{key: crdt.IdemKey{Item: item, Key: key}})
		}
	}
	if len(names) == 0 && len(users) == 0 && len(keys) == 0 {
		return errors.New("no key")
	}
	return nil
}

// sortedStrings reads [ string ] whose strings are strictly ascending: the
// noun's (counter's, register's) field (name, user) of each key, named so in
// errors; intern asks for interned strings (low-cardinality names).
func (d *Decoder) sortedStrings(noun, field string, intern bool) ([]string, error) {
	what := noun + " " + field
	n, err := d.ArrayLen(1)
	if err != nil {
		return nil, fmt.Errorf("%ss: %w", what, err)
	}
	out := make([]string, 0, n)
	prev := ""
	for i := range n {
		b, err := d.stringBytes()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		if err := checkOrder(i, b, prev); err != nil {
			return nil, fmt.Errorf("%s %q: %w", noun, b, err)
		}
		if intern {
			prev = d.intern(b)
		} else {
			prev = string(b)
		}
		out = append(out, prev)
	}
	return out, nil
}
