package crdt

import (
	"cmp"
	"maps"
	"slices"
)

// CounterKey names one counter of one item, such as (video:abc, claps).
type CounterKey struct {
	Item string
	Name string
}

// RegisterKey names one user's reaction register on one item.
type RegisterKey struct {
	Item string
	User string
}

// Delta is a join-semilattice value holding counter, register and keyed-increment
// states by key.
// Every local mutation yields a Delta; joining deltas yields a Delta, so the deltas
// of a hot item coalesce into one entry per key; applying a Delta (State.Apply) is
// idempotent. A Delta sent between replicas usually holds the current full state of
// a few keys: the state is itself a delta. The zero Delta is empty and ready to use.
type Delta struct {
	Counters  map[CounterKey]PNCounter
	Registers map[RegisterKey]Register
	Idem      map[IdemKey]IdemRecord // records of keyed increments
}

// Len is the number of keys in d.
func (d Delta) Len() int { return len(d.Counters) + len(d.Registers) + len(d.Idem) }

// JoinCounter joins c into d's entry for k and reports whether d changed. An
// empty counter changes nothing and adds no key.
func (d *Delta) JoinCounter(k CounterKey, c PNCounter) bool {
	if c.Len() == 0 {
		return false
	}
	if d.Counters == nil {
		d.Counters = make(map[CounterKey]PNCounter)
	}
	cur, ok := d.Counters[k]
	if !ok {
		d.Counters[k] = c.Clone()
		return true
	}
	changed := cur.Join(c)
	d.Counters[k] = cur
	return changed
}

// JoinRegister joins r into d's entry for k and reports whether d changed. A
// never-written register changes nothing and adds no key.
func (d *Delta) JoinRegister(k RegisterKey, r Register) bool {
	if r.IsZero() {
		return false
	}
	if d.Registers == nil {
		d.Registers = make(map[RegisterKey]Register)
	}
	cur, ok := d.Registers[k]
	if !ok {
		d.Registers[k] = r
		return true
	}
	winner, _ := cur.Merge(r)
	d.Registers[k] = winner
	return winner != cur
}

// JoinIdem joins rec into d's record for k and reports whether d changed. An
// empty record changes nothing and adds no key.
func (d *Delta) JoinIdem(k IdemKey, rec IdemRecord) bool {
	if rec.Len() == 0 {
		return false
	}
	if d.Idem == nil {
		d.Idem = make(map[IdemKey]IdemRecord)
	}
	cur, ok := d.Idem[k]
	if !ok {
		d.Idem[k] = rec.Clone()
		return true
	}
	changed := cur.Join(rec)
	d.Idem[k] = cur
	return changed
}

// Join joins o into d. Join is commutative, associative and idempotent.
func (d *Delta) Join(o Delta) {
	for k, c := range o.Counters {
		d.JoinCounter(k, c)
	}
	for k, r := range o.Registers {
		d.JoinRegister(k, r)
	}
	for k, rec := range o.Idem {
		d.JoinIdem(k, rec)
	}
}

// Clone returns a Delta that shares nothing with d.
func (d Delta) Clone() Delta {
	var out Delta
	out.Join(d)
	return out
}

// Equal reports whether d and o hold the same states. Empty and nil maps are equal.
func (d Delta) Equal(o Delta) bool {
	if len(d.Counters) != len(o.Counters) || len(d.Registers) != len(o.Registers) || len(d.Idem) != len(o.Idem) {
		return false
	}
	for k, rec := range d.Idem {
		orec, ok := o.Idem[k]
		if !ok || !rec.Equal(orec) {
			return false
		}
	}
	for k, c := range d.Counters {
		oc, ok := o.Counters[k]
		if !ok || !c.Equal(oc) {
			return false
		}
	}
	return maps.Equal(d.Registers, o.Registers)
}

// Items returns the items d touches, in ascending order.
func (d Delta) Items() []string {
	seen := make(map[string]struct{})
	for k := range d.Counters {
		seen[k.Item] = struct{}{}
	}
	for k := range d.Registers {
		seen[k.Item] = struct{}{}
	}
	for k := range d.Idem {
		seen[k.Item] = struct{}{}
	}
	return slices.Sorted(maps.Keys(seen))
}

// CompareCounterKeys orders counter keys by item, then name.
func CompareCounterKeys(a, b CounterKey) int {
	return cmp.Or(cmp.Compare(a.Item, b.Item), cmp.Compare(a.Name, b.Name))
}

// CompareRegisterKeys orders register keys by item, then user.
func CompareRegisterKeys(a, b RegisterKey) int {
	return cmp.Or(cmp.Compare(a.Item, b.Item), cmp.Compare(a.User, b.User))
}
