package chaos

import (
	"slices"

	"github.com/countermesh/countermesh/crdt"
	"github.com/countermesh/countermesh/persist"
)

// StoreState reads a peer's state of items straight from its store: counters,
// the stored tallies, and every register. Clusters use it for Final.
func StoreState(s *persist.Store, items []string) (PeerState, error) {
	views, err := s.ReadItems(items, "")
	if err != nil {
		return nil, err
	}
	st := PeerState{}
	for i, it := range items {
		st[it] = ItemState{Counters: views[i].Counters, Tallies: views[i].Tallies, Registers: map[string]string{}}
	}
	err = s.Snapshot(1000, func(d crdt.Delta) error {
		for k, r := range d.Registers {
			if slices.Contains(items, k.Item) {
				st[k.Item].Registers[k.User] = r.Kind
			}
		}
		return nil
	})
	return st, err
}
