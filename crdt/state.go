package crdt

import "errors"

// State is the full replicated state of one replica held in memory: every item it
// knows. The durable store of a peer keeps the same state on disk and applies the
// same rules key by key; State is the reference those rules are tested against, and
// what a simulation of many replicas runs on. A State is not safe for concurrent use.
type State struct {
	replica ReplicaID
	items   map[string]*Item
	idem    map[IdemKey]IdemRecord
}

// NewState returns an empty state owned by replica r: the replica whose counter
// entries Add raises and whose id SetReaction stamps on registers.
func NewState(r ReplicaID) *State {
	return &State{replica: r, items: make(map[string]*Item), idem: make(map[IdemKey]IdemRecord)}
}

// Replica returns the owning replica.
func (s *State) Replica() ReplicaID { return s.replica }

// item returns the item called id, or a new empty one that is not yet part of s:
// callers keep it only if they change it.
func (s *State) item(id string) *Item {
	if it, ok := s.items[id]; ok {
		return it
	}
	return &Item{}
}

// Item returns the item called id, or nil when s knows nothing of it. The caller
// must not modify it.
func (s *State) Item(id string) *Item { return s.items[id] }

// Items returns how many items s knows.
func (s *State) Items() int { return len(s.items) }

// Add adds by to the counter name of item and returns the delta it produced.
func (s *State) Add(item, name string, by int64) (Delta, error) {
	it := s.item(item)
	c := it.Counters[name].Clone()
	d, err := c.Add(s.replica, by)
	if err != nil || d.Len() == 0 {
		return Delta{}, err
	}
	it.JoinCounter(name, d)
	s.items[item] = it
	var out Delta
	out.JoinCounter(CounterKey{Item: item, Name: name}, d)
	return out, nil
}

// ErrIdemConflict reports an idempotency key reused for another counter or
// amount of its item.
var ErrIdemConflict = errors.New("crdt: idempotency key reused for another increment")

// AddOnce adds by to the counter name of item unless the increment keyed key is
// already known to s (applied here, or learned from another replica): then it
// changes nothing and reports replayed, or fails with ErrIdemConflict when the
// key's winning application was of another counter or amount. ts is the
// replica's clock reading. Expiry of records is the caller's business: State
// keeps every record it learns.
func (s *State) AddOnce(item, name string, by int64, key string, ts Timestamp) (d Delta, replayed bool, err error) {
	k := IdemKey{Item: item, Key: key}
	if rec, ok := s.idem[k]; ok {
		if !rec.Matches(name, by) {
			return Delta{}, false, ErrIdemConflict
		}
		return Delta{}, true, nil
	}
	if d, err = s.Add(item, name, by); err != nil {
		return Delta{}, false, err
	}
	rec := NewIdemRecord(s.replica, Application{TS: ts, Counter: name, By: by})
	s.idem[k] = rec
	d.JoinIdem(k, rec)
	return d, false, nil
}

// Idem returns the record of the keyed increment k, and whether s knows it. The
// caller must not modify it.
func (s *State) Idem(k IdemKey) (IdemRecord, bool) {
	rec, ok := s.idem[k]
	return rec, ok
}

// SetReaction writes user's reaction (None clears it) at timestamp ts, which the
// caller takes from the replica's Clock, and returns the delta it produced.
func (s *State) SetReaction(item, user, kind string, ts Timestamp) Delta {
	r := Register{Kind: kind, TS: ts, Replica: s.replica}
	if it := s.item(item); changed(it.MergeRegister(user, r)) {
		s.items[item] = it
	}
	var out Delta
	out.JoinRegister(RegisterKey{Item: item, User: user}, r)
	return out
}

// Apply joins d into s and returns the part of d that changed s, holding the new
// states of the changed keys. Applying the same delta again changes nothing and
// returns an empty delta. When a joined keyed-increment record shows that s
// applied the increment but another replica's application won, s compensates its
// own application there and then (Compensate), and the returned delta holds the
// compensation too.
func (s *State) Apply(d Delta) Delta {
	var changed Delta
	for k, c := range d.Counters {
		it := s.item(k.Item)
		if it.JoinCounter(k.Name, c) {
			s.items[k.Item] = it
			changed.JoinCounter(k, it.Counters[k.Name])
		}
	}
	for k, r := range d.Registers {
		it := s.item(k.Item)
		if ok, _ := it.MergeRegister(k.User, r); ok {
			s.items[k.Item] = it
			changed.JoinRegister(k, it.Registers[k.User])
		}
	}
	for k, rec := range d.Idem {
		cur := s.idem[k].Clone()
		if !cur.Join(rec) {
			continue
		}
		if a, owes := cur.Owes(s.replica); owes {
			// An amount that cannot be compensated (its entry would pass 2^64-1)
			// stays owed.
			comp, err := Compensation(a.By)
			if err == nil {
				if cd, err := s.Add(k.Item, a.Counter, comp); err == nil {
					changed.Join(cd)
					cur.Compensate(s.replica)
				}
			}
		}
		s.idem[k] = cur
		changed.JoinIdem(k, cur)
	}
	return changed
}

// Full returns the whole of s as one delta: applying it to an empty State yields s.
func (s *State) Full() Delta {
	var d Delta
	for id, it := range s.items {
		for name, c := range it.Counters {
			d.JoinCounter(CounterKey{Item: id, Name: name}, c)
		}
		for user, r := range it.Registers {
			d.JoinRegister(RegisterKey{Item: id, User: user}, r)
		}
	}
	for k, rec := range s.idem {
		d.JoinIdem(k, rec)
	}
	return d
}

// changed picks the first result of Item.MergeRegister.
func changed(ok bool, _ TallyAdjust) bool { return ok }
