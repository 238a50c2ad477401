package crdt

import (
	"maps"
	"slices"
)

// KeySet is a set of counter, register and keyed-increment keys: what a batch of
// mutations changed, as recorded in a peer's change log. The zero KeySet is empty
// and ready to use.
type KeySet struct {
	Counters  map[CounterKey]struct{}
	Registers map[RegisterKey]struct{}
	Idem      map[IdemKey]struct{}
}

// Len is the number of keys in s.
func (s KeySet) Len() int { return len(s.Counters) + len(s.Registers) + len(s.Idem) }

// AddIdem adds k to s.
func (s *KeySet) AddIdem(k IdemKey) {
	if s.Idem == nil {
		s.Idem = make(map[IdemKey]struct{})
	}
	s.Idem[k] = struct{}{}
}

// AddCounter adds k to s.
func (s *KeySet) AddCounter(k CounterKey) {
	if s.Counters == nil {
		s.Counters = make(map[CounterKey]struct{})
	}
	s.Counters[k] = struct{}{}
}

// AddRegister adds k to s.
func (s *KeySet) AddRegister(k RegisterKey) {
	if s.Registers == nil {
		s.Registers = make(map[RegisterKey]struct{})
	}
	s.Registers[k] = struct{}{}
}

// AddDelta adds every key of d to s.
func (s *KeySet) AddDelta(d Delta) {
	for k := range d.Counters {
		s.AddCounter(k)
	}
	for k := range d.Registers {
		s.AddRegister(k)
	}
	for k := range d.Idem {
		s.AddIdem(k)
	}
}

// Union adds every key of o to s.
func (s *KeySet) Union(o KeySet) {
	for k := range o.Counters {
		s.AddCounter(k)
	}
	for k := range o.Registers {
		s.AddRegister(k)
	}
	for k := range o.Idem {
		s.AddIdem(k)
	}
}

// SortedIdem returns the keyed-increment keys in ascending order.
func (s KeySet) SortedIdem() []IdemKey {
	return slices.SortedFunc(maps.Keys(s.Idem), CompareIdemKeys)
}

// SortedCounters returns the counter keys in ascending order.
func (s KeySet) SortedCounters() []CounterKey {
	return slices.SortedFunc(maps.Keys(s.Counters), CompareCounterKeys)
}

// SortedRegisters returns the register keys in ascending order.
func (s KeySet) SortedRegisters() []RegisterKey {
	return slices.SortedFunc(maps.Keys(s.Registers), CompareRegisterKeys)
}

// Equal reports whether s and o hold the same keys.
func (s KeySet) Equal(o KeySet) bool {
	return s.Len() == o.Len() && maps.Equal(s.Counters, o.Counters) &&
		maps.Equal(s.Registers, o.Registers) && maps.Equal(s.Idem, o.Idem)
}
