package persist

import "github.com/countermesh/countermesh/crdt"

// heldReaction is a user's register as a held item keeps it: the reaction kind
// by its index among the model's kinds and the timestamp inline, so that an
// entry of an item's users holds no pointer but its user id's. A popular item
// keeps thousands of users: fewer bytes each let more of them fit, and fewer
// pointers leave the garbage collector less to follow.
type heldReaction struct {
	wall    int64
	replica crdt.ReplicaID
	logical uint32
	kind    uint32 // index in readModel.kinds; 0 is crdt.None
}

// maxHeldKinds bounds the reaction kinds the model indexes. Kinds are few (those
// in force, and any a peer still writes); a register of a kind past the bound
// is not kept, and read from Badger instead.
const maxHeldKinds = 1 << 10

// hold returns r as a held item keeps it, indexing its kind if need be, and
// false if the model indexes too many kinds to take one more. It runs with mu
// held for writing.
func (m *readModel) hold(r crdt.Register) (heldReaction, bool) {
	i, ok := m.kindIndex[r.Kind]
	if !ok {
		if len(m.kinds) >= maxHeldKinds {
			return heldReaction{}, false
		}
		i = uint32(len(m.kinds))
		kind := m.names.internKind(r.Kind)
		m.kinds = append(m.kinds, kind)
		m.kindIndex[kind] = i
	}
	return heldReaction{wall: r.TS.Wall, logical: r.TS.Logical, replica: r.Replica, kind: i}, true
}

// registerOf returns h as a register. It runs with mu held.
func (m *readModel) registerOf(h heldReaction) crdt.Register {
	return crdt.Register{Kind: m.kinds[h.kind], TS: crdt.Timestamp{Wall: h.wall, Logical: h.logical}, Replica: h.replica}
}
