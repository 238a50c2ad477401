package persist

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"

	"github.com/countermesh/countermesh/crdt"
	"github.com/countermesh/countermesh/crdt/codec"
	"github.com/countermesh/countermesh/crdt/digest"
)

// getValue calls decode with the value at key, or does nothing if there is none.
func getValue(txn *badger.Txn, key []byte, decode func([]byte) error) error {
	item, err := txn.Get(key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("persist: read %q: %w", key, translate(err))
	}
	if err := item.Value(decode); err != nil {
		return corrupt(key, err)
	}
	return nil
}

// getUint reads a codec uint at key (zero when absent).
func getUint(txn *badger.Txn, key []byte) (v uint64, err error) {
	err = getValue(txn, key, func(b []byte) (err error) { v, err = codec.DecodeUint(b); return })
	return v, err
}

// view runs fn in a read-only transaction.
func (s *Store) view(fn func(txn *badger.Txn) error) error {
	return translate(s.db.View(fn))
}

// scanPrefix calls fn with the key and value of every entry under prefix,
// fetching values ahead: for scans over many keys.
func scanPrefix(txn *badger.Txn, prefix []byte, fn func(key, value []byte) error) error {
	return scan(txn, prefix, true, fn)
}

// scanItem calls fn with the key and value of every entry under one item's
// prefix: a handful of keys, where fetching ahead costs more than it saves.
func scanItem(txn *badger.Txn, prefix []byte, fn func(key, value []byte) error) error {
	return scan(txn, prefix, false, fn)
}

func scan(txn *badger.Txn, prefix []byte, prefetch bool, fn func(key, value []byte) error) error {
	opts := badger.DefaultIteratorOptions
	opts.Prefix = prefix
	opts.PrefetchValues = prefetch
	it := txn.NewIterator(opts)
	defer it.Close()
	for it.Seek(prefix); it.ValidForPrefix(prefix); it.Next() {
		item := it.Item()
		key := item.Key()
		if err := item.Value(func(v []byte) error { return fn(key, v) }); err != nil {
			return corrupt(bytes.Clone(key), err)
		}
	}
	return nil
}

// Counter returns the counter name of item (empty when never written).
func (s *Store) Counter(item, name string) (c crdt.PNCounter, err error) {
	err = s.view(func(txn *badger.Txn) error {
		return getValue(txn, counterKey(crdt.CounterKey{Item: item, Name: name}),
			func(v []byte) (err error) { c, err = codec.DecodeCounter(v); return })
	})
	return c, err
}

// Register returns user's reaction register on item (zero when never written).
func (s *Store) Register(item, user string) (r crdt.Register, err error) {
	err = s.view(func(txn *badger.Txn) error {
		return getValue(txn, registerKey(crdt.RegisterKey{Item: item, User: user}),
			func(v []byte) (err error) { r, err = codec.DecodeRegister(v); return })
	})
	return r, err
}

// ItemView is what a reader sees of one item: counter values, tallies, and
// optionally one user's register.
type ItemView struct {
	Counters map[string]int64
	Tallies  crdt.Tallies
	User     crdt.Register // the asked-for user's register; zero if none or not asked
}

// ReadItem returns item's counters and tallies, and user's register when user is
// not empty, as ReadItems does.
func (s *Store) ReadItem(item, user string) (ItemView, error) {
	v, err := s.ReadItems([]string{item}, user)
	if err != nil {
		return ItemView{}, err
	}
	return v[0], nil
}

// ReadItems reads a page of items, with user's register on each when user is
// not empty, into views of their own (see ReadItemsInto).
func (s *Store) ReadItems(items []string, user string) ([]ItemView, error) {
	views := make([]ItemView, len(items))
	if err := s.ReadItemsInto(items, user, views); err != nil {
		return nil, err
	}
	return views, nil
}

// ReadItemsInto reads a page of items into views, one per item, with user's
// register on each when user is not empty. The maps views hold are cleared and
// filled again, so a caller reading page after page allocates none: they must
// not be in use elsewhere, and the store keeps no reference to them. On an
// error, views hold nothing of use.
//
// Every item reflects every commit published before the call (see the commit
// feed, feed.go): an item's counters and tallies are read together from one
// commit. The items held by the read model are read from memory, from one
// commit; those the item filter rules out are answered zero without a disk
// read; the others, and those whose user's register the model does not know
// and the reaction filter cannot rule out, from one Badger snapshot, which may
// hold later commits. A user's register is read with the item's counters and
// tallies, so the two agree.
func (s *Store) ReadItemsInto(items []string, user string, views []ItemView) error {
	if len(views) != len(items) {
		return fmt.Errorf("persist: %d views for %d items", len(views), len(items))
	}
	for i := range views {
		views[i].reset()
	}
	missing, unknown, gen, taken := s.model.readAt(items, user, views)
	s.reactions.noteChecked(len(unknown)) // the model asked test; these go to disk
	var keep []kept
	var sealed uint64 // batches sealed when the snapshot below was open
	defer func() { s.model.keepAll(keep, gen, sealed) }()
	// Ruled out by the item filter: never written, so no counter and no
	// tally; not kept, as the model keeps only items that exist. The user may
	// still hold a register (a reaction set to none has no tally), unless the
	// reaction filter rules it out too. Users it rules out are not kept
	// either: asking the filter again costs less than the room most readers
	// would take.
	toRead := missing[:0]
	for _, i := range missing {
		if s.items.mayHave(items[i]) {
			toRead = append(toRead, i)
			continue
		}
		if user != "" && s.reactions.mayHave(crdt.RegisterKey{Item: items[i], User: user}) {
			unknown = append(unknown, i)
		}
	}
	missing = toRead
	if len(missing) == 0 && len(unknown) == 0 {
		return nil
	}
	// The snapshot opens after the model's generation was read: it holds every
	// commit the model had, so what it reads may be kept (readModel.keepAll).
	return s.view(func(txn *badger.Txn) error {
		sealed = s.model.sealed.Load()
		// The snapshot may hold a batch the model had not taken, and so not
		// published: the reaction filter does not know its registers yet.
		ahead := sealed > taken
		for _, i := range missing {
			v := &views[i]
			if err := s.readItem(txn, items[i], v); err != nil {
				return err
			}
			known := "" // the user whose register was read, if any
			// Then only the snapshot, whose tallies were just read, can rule
			// the user's register out.
			if user != "" && (ahead || s.reactions.mayHave(crdt.RegisterKey{Item: items[i], User: user})) {
				var err error
				if v.User, err = readRegister(txn, items[i], user); err != nil {
					return err
				}
				known = user
			}
			keep = append(keep, kept{item: items[i], view: v, user: known})
		}
		// Then the whole item comes from the snapshot, not only the
		// register: the user's reaction must agree with the tallies beside it.
		for _, i := range unknown {
			v := &views[i]
			if ahead {
				v.reset()
				if err := s.readItem(txn, items[i], v); err != nil {
					return err
				}
			}
			var err error
			if v.User, err = readRegister(txn, items[i], user); err != nil {
				return err
			}
			keep = append(keep, kept{item: items[i], user: user, reg: v.User})
		}
		return nil
	})
}

// reset empties v for a read, keeping its maps (cleared) or making them.
func (v *ItemView) reset() {
	if v.Counters == nil {
		v.Counters = map[string]int64{}
	} else {
		clear(v.Counters)
	}
	if v.Tallies == nil {
		v.Tallies = crdt.Tallies{}
	} else {
		clear(v.Tallies)
	}
	v.User = crdt.Register{}
}

// readRegister reads user's register on item from txn (zero when none).
func readRegister(txn *badger.Txn, item, user string) (r crdt.Register, err error) {
	err = getValue(txn, registerKey(crdt.RegisterKey{Item: item, User: user}),
		func(b []byte) (err error) { r, err = codec.DecodeRegister(b); return })
	return r, err
}

// readItem reads an item's counters and tallies from Badger into v's (empty)
// maps, by point reads of every name the store knows, or by scanning the
// item's keys when it knows too many.
func (s *Store) readItem(txn *badger.Txn, item string, v *ItemView) error {
	counters, kinds := s.names.lists()
	decodeCounter := func(name string, val []byte) error {
		c, err := codec.DecodeCounter(val)
		v.Counters[name] = c.Value()
		return err
	}
	decodeTallyOf := func(kind string, val []byte) (err error) {
		v.Tallies[kind], err = decodeTally(val)
		return err
	}
	for _, part := range []struct {
		prefix byte
		names  []string
		decode func(name string, val []byte) error
	}{{prefixCounter, counters, decodeCounter}, {prefixTally, kinds, decodeTallyOf}} {
		var err error
		if len(part.names) <= maxPointNames {
			key := itemPrefix(part.prefix, item)
			n := len(key)
			for _, name := range part.names {
				key = append(key[:n], name...)
				if err = getValue(txn, key, func(val []byte) error { return part.decode(name, val) }); err != nil {
					break
				}
			}
		} else {
			err = scanItem(txn, itemPrefix(part.prefix, item), func(key, val []byte) error {
				_, name, err := splitItemKey(key)
				if err != nil {
					return err
				}
				return part.decode(name, val)
			})
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// State returns the current states of the given keys as one delta, read from one
// snapshot: what a sender ships for keys changed since a peer's acknowledgement.
// Keys never written are left out.
func (s *Store) State(keys crdt.KeySet) (crdt.Delta, error) {
	var d crdt.Delta
	err := s.view(func(txn *badger.Txn) error {
		for k := range keys.Counters {
			err := getValue(txn, counterKey(k), func(v []byte) error {
				c, err := codec.DecodeCounter(v)
				d.JoinCounter(k, c)
				return err
			})
			if err != nil {
				return err
			}
		}
		for k := range keys.Registers {
			err := getValue(txn, registerKey(k), func(v []byte) error {
				r, err := codec.DecodeRegister(v)
				d.JoinRegister(k, r)
				return err
			})
			if err != nil {
				return err
			}
		}
		for k := range keys.Idem {
			err := getValue(txn, itemKey(prefixKeyed, k.Item, k.Key), func(v []byte) error {
				rec, err := codec.DecodeIdemRecord(v)
				d.JoinIdem(k, rec)
				return err
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	return d, err
}

// Snapshot calls fn with the whole replicated state of the store, item by item in
// key order, as deltas of at most batchKeys keys, from one consistent snapshot.
// Anti-entropy and tests use it.
func (s *Store) Snapshot(batchKeys int, fn func(crdt.Delta) error) error {
	return s.view(func(txn *badger.Txn) error {
		c := &chunker{max: batchKeys, fn: fn}
		if err := c.scan(txn, []byte{prefixCounter}, []byte{prefixRegister}, []byte{prefixKeyed}); err != nil {
			return err
		}
		return c.flush()
	})
}

// chunker gathers stored states into deltas of at most max keys and hands each
// to fn.
type chunker struct {
	d   crdt.Delta
	max int
	fn  func(crdt.Delta) error
}

func (c *chunker) flush() error {
	if c.d.Len() == 0 {
		return nil
	}
	out := c.d
	c.d = crdt.Delta{}
	return c.fn(out)
}

func (c *chunker) flushIfFull() error {
	if c.d.Len() >= c.max {
		return c.flush()
	}
	return nil
}

// scan adds every counter under counters, every register under registers and
// every record of a keyed increment under keyed.
func (c *chunker) scan(txn *badger.Txn, counters, registers, keyed []byte) error {
	err := scanPrefix(txn, counters, func(key, val []byte) error {
		item, name, err := splitItemKey(key)
		if err != nil {
			return err
		}
		v, err := codec.DecodeCounter(val)
		if err != nil {
			return err
		}
		c.d.JoinCounter(crdt.CounterKey{Item: item, Name: name}, v)
		return c.flushIfFull()
	})
	if err != nil {
		return err
	}
	err = scanPrefix(txn, registers, func(key, val []byte) error {
		item, user, err := splitItemKey(key)
		if err != nil {
			return err
		}
		r, err := codec.DecodeRegister(val)
		if err != nil {
			return err
		}
		c.d.JoinRegister(crdt.RegisterKey{Item: item, User: user}, r)
		return c.flushIfFull()
	})
	if err != nil {
		return err
	}
	return scanPrefix(txn, keyed, func(key, val []byte) error {
		item, k, err := splitItemKey(key)
		if err != nil {
			return err
		}
		rec, err := codec.DecodeIdemRecord(val)
		if err != nil {
			return err
		}
		c.d.JoinIdem(crdt.IdemKey{Item: item, Key: k}, rec)
		return c.flushIfFull()
	})
}

// CheckTallies verifies invariant 2 of the design over the whole store, from one
// snapshot: every stored tally equals the number of registers of its kind on its
// item. It returns an error naming the first few mismatches.
func (s *Store) CheckTallies() error {
	return s.view(func(txn *badger.Txn) error {
		counted := map[tallyRef]int64{}
		err := scanPrefix(txn, []byte{prefixRegister}, func(key, val []byte) error {
			item, _, err := splitItemKey(key)
			if err != nil {
				return err
			}
			r, err := codec.DecodeRegister(val)
			if err == nil && r.Kind != crdt.None {
				counted[tallyRef{item, r.Kind}]++
			}
			return err
		})
		if err != nil {
			return err
		}
		var bad []string
		err = scanPrefix(txn, []byte{prefixTally}, func(key, val []byte) error {
			item, kind, err := splitItemKey(key)
			if err != nil {
				return err
			}
			n, err := decodeTally(val)
			if err != nil {
				return err
			}
			t := tallyRef{item, kind}
			if counted[t] != n {
				bad = append(bad, fmt.Sprintf("%s/%s: tally %d, registers %d", item, kind, n, counted[t]))
			}
			delete(counted, t)
			return nil
		})
		if err != nil {
			return err
		}
		for t, n := range counted {
			bad = append(bad, fmt.Sprintf("%s/%s: no tally, registers %d", t.item, t.kind, n))
		}
		if len(bad) > 0 {
			return fmt.Errorf("persist: %d tallies differ from registers: %v", len(bad), bad[:min(len(bad), 5)])
		}
		return nil
	})
}

// BucketStates calls fn with the states of every key in the given digest buckets,
// as deltas of at most maxKeys keys, from one snapshot: what anti-entropy sends
// for buckets whose digests differ.
func (s *Store) BucketStates(buckets []int, maxKeys int, fn func(crdt.Delta) error) error {
	return s.view(func(txn *badger.Txn) error {
		c := &chunker{max: maxKeys, fn: fn}
		for _, b := range digest.SortedBuckets(buckets) {
			if err := c.scan(txn, bucketPrefix(nil, prefixCounter, b), bucketPrefix(nil, prefixRegister, b),
				bucketPrefix(nil, prefixKeyed, b)); err != nil {
				return err
			}
		}
		return c.flush()
	})
}
