package httpapi

import (
	"bytes"
	"fmt"
	json "github.com/goccy/go-json"
	"net/http"

	"github.com/countermesh/countermesh/crdt"
	"github.com/countermesh/countermesh/persist"
)

// opsBody is the body of POST /v1/ops.
type opsBody struct {
	Ops []opBody `json:"ops"`
}

// opBody is one op of POST /v1/ops:
//
//	{"op":"react","item":"video:abc","user":"u1","reaction":"like"}   (null clears)
//	{"op":"add","item":"video:abc","counter":"claps","by":3,"idempotency_key":"k1"}
type opBody struct {
	Op             string          `json:"op"`
	Item           *string         `json:"item"`
	User           *string         `json:"user"`
	Reaction       json.RawMessage `json:"reaction"`
	Counter        *string         `json:"counter"`
	By             *int64          `json:"by"`
	IdempotencyKey *string         `json:"idempotency_key"`
}

// ReactResult is the result of a react op.
type ReactResult struct {
	Op       string  `json:"op"` // "react"
	Item     string  `json:"item"`
	User     string  `json:"user"`
	Reaction *string `json:"reaction"` // the reaction set; null when cleared
}

// AddResult is the result of an add op.
type AddResult struct {
	Op      string `json:"op"` // "add"
	Item    string `json:"item"`
	Counter string `json:"counter"`
	// Value is the counter's value right after the increment (for a replay, its
	// value now).
	Value int64 `json:"value"`
	// Replayed is true when the idempotency key was seen before: nothing changed.
	Replayed bool `json:"replayed"`
}

// OpsResult is the answer of POST /v1/ops: one result per op, in order
// (a ReactResult or an AddResult), and the causal token of the answer.
type OpsResult struct {
	Results []any  `json:"results"`
	Token   string `json:"token"`
}

// postOps serves POST /v1/ops: every op applied in one atomic write, or none.
func (s *Server) postOps(w http.ResponseWriter, r *http.Request) error {
	var body opsBody
	ops, p := s.decodeOps(w, r, &body)
	if p != nil {
		s.countInvalidOps(body.Ops)
		return p
	}
	// A batch costs one operation of the rate limit per op; the request
	// itself paid for the first.
	if p := s.spend(r, len(ops)-1); p != nil {
		return p
	}
	c, p := s.writeToken(r, hasReact(ops))
	if p != nil {
		s.countInvalidOps(body.Ops)
		return p
	}
	res, err := s.write(r.Context(), ops...)
	if err != nil {
		return err
	}
	out := OpsResult{Results: make([]any, len(ops))}
	lastSeq := s.b.LastSeq()
	for i, op := range ops {
		lastSeq = max(lastSeq, res[i].Seq)
		switch op.Kind {
		case persist.OpReact:
			rr := ReactResult{Op: kindReact, Item: op.Item, User: op.User}
			if op.Reaction != crdt.None {
				rr.Reaction = &op.Reaction
			}
			out.Results[i] = rr
		case persist.OpAdd:
			out.Results[i] = AddResult{Op: kindAdd, Item: op.Item, Counter: op.Counter,
				Value: res[i].Value, Replayed: res[i].Replayed}
		}
	}
	out.Token = s.answerToken(c, lastSeq)
	setCausalHeaders(w, c, out.Token)
	writeJSON(w, http.StatusOK, out)
	return nil
}

// decodeOps decodes and validates the body of POST /v1/ops into store ops.
func (s *Server) decodeOps(w http.ResponseWriter, r *http.Request, body *opsBody) ([]persist.Op, *Problem) {
	if p := s.decodeBody(w, r, body); p != nil {
		return nil, p
	}
	switch n := len(body.Ops); {
	case n == 0:
		return nil, badRequest(`ops is empty or missing; want {"ops":[...]} with 1 to %d ops`, MaxBatchOps)
	case n > MaxBatchOps:
		return nil, badRequest("%d ops, more than the %d one request may carry", n, MaxBatchOps)
	}
	kinds := s.b.ReactionKinds()
	scope := clientName(r.Context())
	ops := make([]persist.Op, len(body.Ops))
	for i, o := range body.Ops {
		op, p := s.toOp(fmt.Sprintf("ops[%d]", i), o, kinds, scope)
		if p != nil {
			return nil, p
		}
		ops[i] = op
	}
	return ops, nil
}

// toOp validates one op of a batch, named where in errors.
func (s *Server) toOp(where string, o opBody, kinds []string, scope string) (persist.Op, *Problem) {
	item, p := s.requiredID(where, "item", o.Item)
	if p != nil {
		return persist.Op{}, p
	}
	switch o.Op {
	case kindReact:
		if p := notApplicable(where, o.Op, []field{{"counter", o.Counter != nil}, {"by", o.By != nil},
			{"idempotency_key", o.IdempotencyKey != nil}}); p != nil {
			return persist.Op{}, p
		}
		user, p := s.requiredID(where, "user", o.User)
		if p != nil {
			return persist.Op{}, p
		}
		kind, p := reactionOf(where, o.Reaction, kinds)
		return persist.React(item, user, kind), p
	case kindAdd:
		if p := notApplicable(where, o.Op, []field{{"user", o.User != nil}, {"reaction", o.Reaction != nil}}); p != nil {
			return persist.Op{}, p
		}
		counter, p := s.requiredID(where, "counter", o.Counter)
		if p == nil {
			p = s.checkBy(where+".by", o.By)
		}
		if p != nil {
			return persist.Op{}, p
		}
		if o.IdempotencyKey == nil {
			return persist.Add(item, counter, *o.By), nil
		}
		if p := s.checkID(where+".idempotency_key", *o.IdempotencyKey); p != nil {
			return persist.Op{}, p
		}
		return persist.AddOnce(item, counter, *o.By, scopedKey(scope, *o.IdempotencyKey)), nil
	case "":
		return persist.Op{}, badRequest(`%s.op is required: "react" or "add"`, where)
	}
	return persist.Op{}, badRequest(`%s: unknown op %s; known: react, add`, where, quote(o.Op))
}

// requiredID validates a required id field of an op.
func (s *Server) requiredID(where, field string, v *string) (string, *Problem) {
	if v == nil {
		return "", badRequest("%s.%s is required", where, field)
	}
	return *v, s.checkID(where+"."+field, *v)
}

// field is a field of an op and whether the request has it.
type field struct {
	name    string
	present bool
}

// notApplicable refuses the fields present that do not belong to op.
func notApplicable(where, op string, fields []field) *Problem {
	for _, f := range fields {
		if f.present {
			return badRequest("%s: field %q does not apply to op %q", where, f.name, op)
		}
	}
	return nil
}

// reactionOf decodes the reaction of a react op: a known kind, or null to clear.
func reactionOf(where string, raw json.RawMessage, kinds []string) (string, *Problem) {
	if raw == nil {
		return "", badRequest("%s.reaction is required: a reaction kind, or null to clear the reaction", where)
	}
	if bytes.Equal(raw, []byte("null")) {
		return crdt.None, nil
	}
	var kind string
	if err := json.Unmarshal(raw, &kind); err != nil {
		return "", badRequest("%s.reaction: want a reaction kind string or null, got %s", where, quote(string(raw)))
	}
	if kind == "" {
		return "", checkReaction(where+".reaction", kind, kinds)
	}
	if p := checkReaction(where+".reaction", kind, kinds); p != nil {
		return "", badRequest("%s: %s", where, p.Detail)
	}
	return kind, nil
}

func hasReact(ops []persist.Op) bool {
	for _, op := range ops {
		if op.Kind == persist.OpReact {
			return true
		}
	}
	return false
}

// countInvalidOps counts the ops of a refused batch, by the kind they claimed.
func (s *Server) countInvalidOps(ops []opBody) {
	for _, o := range ops {
		if o.Op == kindReact || o.Op == kindAdd {
			s.metrics.write(o.Op, outcomeInvalid, 1)
		}
	}
}
