package chaos

import (
	"slices"

	"github.com/countermesh/countermesh/crdt"
	"github.com/countermesh/countermesh/persist"
)

// StoreState reads a peer's state of items straight from its store: counters,
// the stored tallies, and every register. Clusters use it for Final.
func StoreState(s *persist.Store, items []string) (PeerState, error) {
	st := PeerState{}
	for _, it := range items {
		v, err := s.ReadItem(it, "")
		if err != nil {
			return nil, err
		}
		st[it] = ItemState{Counters: v.Counters, Tallies: v.Tallies, Registers: map[string]string{}}
	}
	err := s.Snapshot(1000, func(d crdt.Delta) error {
		for k, r := range d.Registers {
			if slices.Contains(items, k.Item) {
				st[k.Item].Registers[k.User] = r.Kind
			}
		}
		return nil
	})
	return st, err
}
