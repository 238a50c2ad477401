package chaos

import (
	"slices"
	"sync"
	"time"
)

// Outcome is what a client knows of a call once it returns.
type Outcome int

const (
	// OK means the call was answered 2xx: the write is acknowledged.
	OK Outcome = iota
	// Failed means the call was definitely not applied: a 4xx answer, or a
	// connection refused before the request was sent.
	Failed
	// Unknown means the call may or may not have been applied: a timeout, a
	// connection lost mid-call, or a 503.
	Unknown
)

func (o Outcome) String() string {
	switch o {
	case OK:
		return "ok"
	case Failed:
		return "failed"
	default:
		return "unknown"
	}
}

// Kind is what an operation does.
type Kind int

const (
	// Increment adds By to a counter.
	Increment Kind = iota
	// React sets a user's reaction ("" for none).
	React
	// Read reads an item.
	Read
)

func (k Kind) String() string {
	return [...]string{"increment", "react", "read"}[k]
}

// Op is one client call as the history records it. For an increment retried
// after an unknown outcome, Op is the logical operation: its Outcome is OK if
// any attempt was answered 2xx, else Unknown if any attempt's outcome was
// unknown, else Failed; Attempts counts the requests sent.
type Op struct {
	Index    int    // position in the history, in order of completion
	Session  int    // the client session that made the call
	Peer     string // the peer called
	Kind     Kind
	Item     string
	Counter  string // Increment: the counter's name
	By       int64  // Increment: the amount (always positive)
	Key      string // Increment: the idempotency key
	User     string // React: the user; Read: the reading user, if any
	Reaction string // React: the reaction written ("" for none)
	// Causal marks a reaction written by a session that owns the user and passes
	// its causal token along; invariant 4 of the design applies to such users.
	Causal   bool
	Start    time.Time
	End      time.Time
	Outcome  Outcome
	Attempts int
	Err      string // why the call failed or is unknown

	// Observed is what a Read returned (and what a write's answer showed).
	Observed *ItemState
}

// History is the record of every client call of a run. It is safe for
// concurrent use.
type History struct {
	mu  sync.Mutex
	ops []Op
}

// Add records a completed call and returns its index.
func (h *History) Add(op Op) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	op.Index = len(h.ops)
	h.ops = append(h.ops, op)
	return op.Index
}

// Ops returns a copy of the calls recorded so far, in order of completion.
func (h *History) Ops() []Op {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.ops)
}

// Items returns the items the history touched, sorted.
func Items(ops []Op) []string {
	seen := map[string]bool{}
	for _, op := range ops {
		seen[op.Item] = true
	}
	items := make([]string, 0, len(seen))
	for it := range seen {
		items = append(items, it)
	}
	slices.Sort(items)
	return items
}

// Counts tallies calls by kind and outcome.
type Counts struct {
	Attempted, OK, Failed, Unknown int
	Requests                       int // HTTP requests sent, retries included
}

// CountOps counts the writes (and reads) of a history by outcome.
func CountOps(ops []Op) (writes, reads Counts) {
	for _, op := range ops {
		c := &writes
		if op.Kind == Read {
			c = &reads
		}
		c.Attempted++
		c.Requests += op.Attempts
		switch op.Outcome {
		case OK:
			c.OK++
		case Failed:
			c.Failed++
		default:
			c.Unknown++
		}
	}
	return writes, reads
}
