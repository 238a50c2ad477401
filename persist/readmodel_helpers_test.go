package persist

import "github.com/countermesh/countermesh/crdt"

// The read model's calls as the tests of this package use them: one reader's
// read, or one thing kept, at a time.

// read is readAt, into views it empties as ReadItemsInto does, without the
// count of batches taken.
func (m *readModel) read(items []string, user string, views []ItemView) (missing, unknown []int, gen uint64) {
	for i := range views {
		views[i].reset()
	}
	missing, unknown, gen, _ = m.readAt(items, user, views)
	return missing, unknown, gen
}

// keep brings in item as keepLocked does, from a reader that read no count of
// sealed batches.
func (m *readModel) keep(item string, v ItemView, user string, gen uint64) {
	m.keepAll([]kept{{item: item, view: &v, user: user}}, gen, 0)
}

// keepUser records user's register on item as keepUserLocked does.
func (m *readModel) keepUser(item, user string, r crdt.Register, gen, sealed uint64) {
	m.keepAll([]kept{{item: item, user: user, reg: r}}, gen, sealed)
}
