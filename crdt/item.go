package crdt

// Item is the full replicated state of one content item on one replica: its named
// counters, its users' reaction registers, and the tallies derived from those
// registers. The zero Item is empty and ready to use.
type Item struct {
	Counters  map[string]PNCounter // by counter name
	Registers map[string]Register  // by user id
	Tallies   Tallies              // users per kind, maintained by MergeRegister
}

// JoinCounter joins c into the counter called name and reports whether it changed.
func (it *Item) JoinCounter(name string, c PNCounter) bool {
	if it.Counters == nil {
		it.Counters = make(map[string]PNCounter)
	}
	cur := it.Counters[name]
	if !cur.Join(c) {
		return false
	}
	it.Counters[name] = cur
	return true
}

// MergeRegister merges r into user's register, keeps the tallies equal to the count
// of registers per kind, and returns the tally adjustment the merge implied (zero
// when the register did not change kind).
func (it *Item) MergeRegister(user string, r Register) (changed bool, adj TallyAdjust) {
	cur := it.Registers[user]
	winner, adj := cur.Merge(r)
	if winner == cur {
		return false, TallyAdjust{}
	}
	if it.Registers == nil {
		it.Registers = make(map[string]Register)
	}
	it.Registers[user] = winner
	if !adj.IsZero() {
		if it.Tallies == nil {
			it.Tallies = Tallies{}
		}
		it.Tallies.Apply(adj)
	}
	return true, adj
}

// Value returns the value of the counter called name (zero when absent).
func (it *Item) Value(name string) int64 { return it.Counters[name].Value() }
