package persist

import (
	"errors"

	"github.com/countermesh/countermesh/crdt"
)

// MergeResult is what Merge did with a delta.
type MergeResult struct {
	// Changed holds the keys the merge changed, with their new states.
	Changed crdt.Delta
	// Refused holds the register keys not applied because their timestamps are
	// beyond the clock's max drift; empty when everything applied. Their sender
	// should keep them and offer them again later.
	Refused crdt.KeySet
	// Drift describes the refusal of the furthest-ahead refused timestamp; nil
	// when nothing was refused.
	Drift *crdt.DriftError
}

// admit splits d by the clock's drift bound. It observes on the clock every
// register timestamp within the bound and returns d without the registers beyond
// it, their keys, and the refusal of the furthest ahead of them. Everything else
// of d (counters carry no timestamps) is kept; d itself is not changed.
func admit(clock *crdt.Clock, d crdt.Delta) (crdt.Delta, crdt.KeySet, *crdt.DriftError) {
	var (
		refused crdt.KeySet
		worst   *crdt.DriftError
		newest  crdt.Timestamp // the newest timestamp observed so far
	)
	for k, r := range d.Registers {
		if !newest.Before(r.TS) {
			continue // no later than one the clock took: within the bound too
		}
		var drift *crdt.DriftError
		if err := clock.Observe(r.TS); errors.As(err, &drift) {
			refused.AddRegister(k)
			if worst == nil || worst.Remote.Before(drift.Remote) {
				worst = drift
			}
			continue
		}
		newest = r.TS
	}
	if refused.Len() == 0 {
		return d, refused, nil
	}
	in := d // keeps every other part of d
	in.Registers = make(map[crdt.RegisterKey]crdt.Register, len(d.Registers)-refused.Len())
	for k, r := range d.Registers {
		if _, out := refused.Registers[k]; !out {
			in.Registers[k] = r
		}
	}
	return in, refused, worst
}
