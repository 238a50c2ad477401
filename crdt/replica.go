package crdt

import (
	"fmt"
	"strconv"
)

// ReplicaID names one replica: one peer's data directory. It is random, created on
// first start, and never reused, so a replica's counter entries only ever grow.
// The zero value is not a valid replica.
type ReplicaID uint64

// String renders the id as 16 hex digits, the form used in logs and metrics.
func (r ReplicaID) String() string { return fmt.Sprintf("%016x", uint64(r)) }

// ParseReplicaID parses the form produced by String.
func ParseReplicaID(s string) (ReplicaID, error) {
	v, err := strconv.ParseUint(s, 16, 64)
	if err != nil {
		return 0, fmt.Errorf("crdt: parse replica id %q: %w", s, err)
	}
	if v == 0 {
		return 0, fmt.Errorf("crdt: parse replica id %q: zero is not a replica", s)
	}
	return ReplicaID(v), nil
}
