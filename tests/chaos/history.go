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

// Try is one request of an operation: where it went and what came of it.
type Try struct {
	Peer    string
	Outcome Outcome
	Err     string // why it failed or is unknown
	Start   time.Time
	End     time.Time
}

// Op is one logical client operation as the history records it. A write of
// unknown outcome that the client sent again — with the same idempotency key,
// at the same peer or at others — is one Op with a Try per request; so is an
// acknowledged increment the client sent again as if its answer had been lost.
// Its Outcome is the fold of its tries (see Fold).
type Op struct {
	Index    int    // position in the history, in order of completion
	Session  int    // the client session that made the call
	Peer     string // the peer of the first try
	Kind     Kind
	Item     string
	Counter  string // Increment: the counter's name
	By       int64  // Increment: the amount (always positive)
	Key      string // Increment: the idempotency key
	User     string // React: the user; Read: the reading user, if any
	Reaction string // React: the reaction written ("" for none)
	// Causal marks a reaction written by a session that owns the user and passes
	// its causal token along; invariant 4 of the design applies to such users.
	Causal  bool
	Start   time.Time // of the first try
	End     time.Time // of the last try
	Outcome Outcome
	Err     string // why the last try that was not acknowledged failed or is unknown
	// Tries are the requests sent, in order. An Op built without them stands
	// for one request at Peer with the Op's outcome (see Attempts).
	Tries []Try

	// Observed is what a Read returned (and what a write's last acknowledged
	// answer showed).
	Observed *ItemState
}

// Attempts returns the op's tries, or for an op recorded without them, one try
// at Peer with the op's outcome.
func (op Op) Attempts() []Try {
	if len(op.Tries) > 0 {
		return op.Tries
	}
	return []Try{{Peer: op.Peer, Outcome: op.Outcome, Err: op.Err, Start: op.Start, End: op.End}}
}

// Fold is the outcome of one logical operation from its tries: OK if any try
// was acknowledged, else Unknown if any try's outcome is unknown, else Failed
// (every try definitely not applied). No tries is Failed: nothing was sent.
func Fold(tries []Try) Outcome {
	o := Failed
	for _, t := range tries {
		switch t.Outcome {
		case OK:
			return OK
		case Unknown:
			o = Unknown
		}
	}
	return o
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
	Spread                         int // operations whose tries reached more than one peer
}

// CountOps counts the writes (and reads) of a history by outcome.
func CountOps(ops []Op) (writes, reads Counts) {
	for _, op := range ops {
		c := &writes
		if op.Kind == Read {
			c = &reads
		}
		c.Attempted++
		tries := op.Attempts()
		c.Requests += len(tries)
		for _, t := range tries[1:] {
			if t.Peer != tries[0].Peer {
				c.Spread++
				break
			}
		}
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
