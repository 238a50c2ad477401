package fakemesh

import (
	"maps"

	"github.com/countermesh/countermesh/tests/chaos"
)

// pn is one replica's entry of a PN-counter: two grow-only totals.
type pn struct{ p, n int64 }

// pnCounter is a PN-counter: replica → entry. Its value is ΣP − ΣN.
type pnCounter map[string]pn

func (c pnCounter) value() int64 {
	var v int64
	for _, e := range c {
		v += e.p - e.n
	}
	return v
}

// join raises every entry to the other's, pointwise, and reports whether any
// rose.
func (c pnCounter) join(o pnCounter) bool {
	changed := false
	for r, e := range o {
		cur, ok := c[r]
		next := pn{max(cur.p, e.p), max(cur.n, e.n)}
		if !ok || next != cur {
			c[r] = next
			changed = true
		}
	}
	return changed
}

// register is an LWW register: the larger (ts, replica) wins.
type register struct {
	ts      uint64
	replica string
	kind    string // "" for no reaction
}

func (r register) beats(o register) bool {
	if r.ts != o.ts {
		return r.ts > o.ts
	}
	return r.replica > o.replica
}

// item is one item's replicated state.
type item struct {
	counters map[string]pnCounter // counter name → counter
	regs     map[string]register  // user → register
	tallies  map[string]int64     // kind → users holding it, derived from regs
	tallyPN  map[string]pnCounter // kind → replicated tally (the TallyAsCounter bug)
	// keyed holds the increments made with an idempotency key, counter name →
	// key → amount: a grow-only map joined by union, so a key counts once in
	// the converged mesh whichever peers applied it. A counter's value is its
	// PN-counter's plus these.
	keyed map[string]map[string]int64
}

func newItem() *item {
	return &item{
		counters: map[string]pnCounter{},
		keyed:    map[string]map[string]int64{},
		regs:     map[string]register{},
		tallies:  map[string]int64{},
		tallyPN:  map[string]pnCounter{},
	}
}

// store is one copy of a peer's state: its volatile view or its durable one.
type store struct {
	items map[string]*item
	keys  map[string]bool // IdempotencyPerPeer: keys applied here (item/counter/key); not replicated
	maxTS uint64          // the largest register timestamp held
}

func newStore() *store {
	return &store{items: map[string]*item{}, keys: map[string]bool{}}
}

func (s *store) item(id string) *item {
	it := s.items[id]
	if it == nil {
		it = newItem()
		s.items[id] = it
	}
	return it
}

// counter returns the named counter of a map of them, made if missing.
func counter(m map[string]pnCounter, name string) pnCounter {
	c := m[name]
	if c == nil {
		c = pnCounter{}
		m[name] = c
	}
	return c
}

// keyedOf returns the keyed increments of a counter, made if missing.
func keyedOf(it *item, name string) map[string]int64 {
	k := it.keyed[name]
	if k == nil {
		k = map[string]int64{}
		it.keyed[name] = k
	}
	return k
}

// setRegister applies r to user's register if it wins, keeping the derived
// tallies in step (old kind −1, new kind +1). It returns the kind replaced and
// whether r won.
func (s *store) setRegister(id, user string, r register) (string, bool) {
	it := s.item(id)
	old, had := it.regs[user]
	if had && !r.beats(old) {
		return "", false
	}
	it.regs[user] = r
	s.maxTS = max(s.maxTS, r.ts)
	if old.kind != "" {
		it.tallies[old.kind]--
	}
	if r.kind != "" {
		it.tallies[r.kind]++
	}
	return old.kind, true
}

// join merges another state (shipped by a peer, or a local write's delta):
// counters by max, keyed increments by union, registers by LWW. It reports whether anything changed.
func (s *store) join(o *store) bool {
	changed := false
	for id, oit := range o.items {
		it := s.item(id)
		for name, c := range oit.counters {
			changed = counter(it.counters, name).join(c) || changed
		}
		for name, keyed := range oit.keyed {
			mine := keyedOf(it, name)
			for key, by := range keyed {
				if _, had := mine[key]; !had {
					mine[key] = by
					changed = true
				}
			}
		}
		for user, r := range oit.regs {
			_, won := s.setRegister(id, user, r)
			changed = won || changed
		}
		for kind, c := range oit.tallyPN {
			changed = counter(it.tallyPN, kind).join(c) || changed
		}
	}
	return changed
}

// clone copies the store deeply; withKeys copies the idempotency keys too.
func (s *store) clone(withKeys bool) *store {
	c := newStore()
	c.maxTS = s.maxTS
	if withKeys {
		c.keys = maps.Clone(s.keys)
	}
	for id, it := range s.items {
		ci := newItem()
		for name, ctr := range it.counters {
			ci.counters[name] = maps.Clone(ctr)
		}
		for name, keyed := range it.keyed {
			ci.keyed[name] = maps.Clone(keyed)
		}
		for kind, ctr := range it.tallyPN {
			ci.tallyPN[kind] = maps.Clone(ctr)
		}
		ci.regs = maps.Clone(it.regs)
		ci.tallies = maps.Clone(it.tallies)
		c.items[id] = ci
	}
	return c
}

// view is an item as the API and Final show it: every kind's tally, with
// zeros; registers when withRegisters. tallyAsCounter shows the replicated
// tallies instead of the derived ones.
func (s *store) view(id string, kinds []string, withRegisters, tallyAsCounter bool) chaos.ItemState {
	st := chaos.ItemState{Counters: map[string]int64{}, Tallies: map[string]int64{}}
	for _, k := range kinds {
		st.Tallies[k] = 0
	}
	if withRegisters {
		st.Registers = map[string]string{}
	}
	it := s.items[id]
	if it == nil {
		return st
	}
	for name, c := range it.counters {
		st.Counters[name] = c.value()
	}
	for name, keyed := range it.keyed {
		for _, by := range keyed {
			st.Counters[name] += by
		}
	}
	for k, n := range it.tallies {
		if !tallyAsCounter {
			st.Tallies[k] = n
		}
	}
	if tallyAsCounter {
		for k, c := range it.tallyPN {
			st.Tallies[k] = c.value()
		}
	}
	if withRegisters {
		for user, r := range it.regs {
			st.Registers[user] = r.kind
		}
	}
	return st
}
