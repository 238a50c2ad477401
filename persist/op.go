package persist

import (
	"fmt"

	"github.com/countermesh/countermesh/crdt"
)

// OpKind says what a local mutation does.
type OpKind uint8

const (
	// OpAdd adds By to a named counter of an item.
	OpAdd OpKind = iota + 1
	// OpReact sets (or, with crdt.None, clears) a user's reaction to an item.
	OpReact
)

// Op is one local mutation. Build one with Add or React.
type Op struct {
	Kind OpKind
	Item string

	Counter        string // OpAdd: the counter's name
	By             int64  // OpAdd: the amount, non-zero, negative to subtract
	IdempotencyKey string // OpAdd, optional: retries with the same key, anywhere in the mesh, count once

	User     string // OpReact: the user
	Reaction string // OpReact: the reaction kind, or crdt.None to clear
}

// Add returns an op adding by to counter of item.
func Add(item, counter string, by int64) Op {
	return Op{Kind: OpAdd, Item: item, Counter: counter, By: by}
}

// AddOnce returns Add(item, counter, by) guarded by an idempotency key.
func AddOnce(item, counter string, by int64, key string) Op {
	op := Add(item, counter, by)
	op.IdempotencyKey = key
	return op
}

// React returns an op setting user's reaction to item (crdt.None clears it).
func React(item, user, kind string) Op {
	return Op{Kind: OpReact, Item: item, User: user, Reaction: kind}
}

// validate checks what the store itself needs; the API layer checks the rest
// (lengths, characters, known reaction kinds, ranges).
func (op Op) validate() error {
	if op.Item == "" {
		return fmt.Errorf("%w: empty item", ErrInvalidOp)
	}
	switch op.Kind {
	case OpAdd:
		if op.Counter == "" {
			return fmt.Errorf("%w: empty counter name", ErrInvalidOp)
		}
		if op.By == 0 {
			return fmt.Errorf("%w: add of zero", ErrInvalidOp)
		}
	case OpReact:
		if op.User == "" {
			return fmt.Errorf("%w: empty user", ErrInvalidOp)
		}
	default:
		return fmt.Errorf("%w: unknown kind %d", ErrInvalidOp, op.Kind)
	}
	return nil
}

// Result is what one op did.
type Result struct {
	// Seq is the sequence number the op was logged at; 0 for a replayed
	// increment, which logged nothing.
	Seq uint64
	// Value is, for OpAdd, the counter's value right after the op (for a replay,
	// the counter's value now).
	Value int64
	// Register is, for OpReact, the register as written.
	Register crdt.Register
	// Adjust is, for OpReact, the tally change the write implied.
	Adjust crdt.TallyAdjust
	// Replayed is true for an increment whose idempotency key this replica knows
	// a live record of, applied here or anywhere else in the mesh: nothing
	// changed.
	Replayed bool
}
