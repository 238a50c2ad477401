package httpapi

import (
	"context"
	"errors"
	"net/http"

	"github.com/countermesh/countermesh/crdt"
	"github.com/countermesh/countermesh/persist"
)

// Kinds of write, the kind label of countermesh_api_writes_total.
const (
	kindReact = "react"
	kindAdd   = "add"
)

// Headers of idempotent increments.
const (
	// HeaderIdempotencyKey names an increment so that retries count it once.
	HeaderIdempotencyKey = "Idempotency-Key"
	// HeaderIdempotentReplayed is "true" on the answer to a retried increment:
	// nothing changed, and the counter's value is the one the first answer had.
	HeaderIdempotentReplayed = "Idempotent-Replayed"
)

// reactionBody is the body of PUT /v1/items/{item}/reactions/{user}.
type reactionBody struct {
	Reaction *string `json:"reaction"`
}

// counterBody is the body of POST /v1/items/{item}/counters/{name}.
type counterBody struct {
	By *int64 `json:"by"`
}

// putReaction serves PUT /v1/items/{item}/reactions/{user}.
func (s *Server) putReaction(w http.ResponseWriter, r *http.Request) error {
	item, user := r.PathValue("item"), r.PathValue("user")
	var body reactionBody
	p := s.checkItemUser(item, user)
	if p == nil {
		p = s.decodeBody(w, r, &body)
	}
	if p == nil && body.Reaction == nil {
		p = badRequest(`reaction is required, e.g. {"reaction":"like"}; DELETE the reaction to clear it`)
	}
	if p == nil {
		p = checkReaction("reaction", *body.Reaction, s.b.ReactionKinds())
	}
	if p != nil {
		s.metrics.write(kindReact, outcomeInvalid, 1)
		return p
	}
	return s.react(w, r, item, user, *body.Reaction)
}

// deleteReaction serves DELETE /v1/items/{item}/reactions/{user}: it clears
// the user's reaction.
func (s *Server) deleteReaction(w http.ResponseWriter, r *http.Request) error {
	item, user := r.PathValue("item"), r.PathValue("user")
	if p := s.checkItemUser(item, user); p != nil {
		s.metrics.write(kindReact, outcomeInvalid, 1)
		return p
	}
	return s.react(w, r, item, user, crdt.None)
}

func (s *Server) checkItemUser(item, user string) *Problem {
	if p := s.checkID("item", item); p != nil {
		return p
	}
	return s.checkID("user", user)
}

// react sets user's reaction to item to kind and answers with the item.
func (s *Server) react(w http.ResponseWriter, r *http.Request, item, user, kind string) error {
	c, p := s.writeToken(r, true)
	if p != nil {
		s.metrics.write(kindReact, outcomeInvalid, 1)
		return p
	}
	if _, err := s.write(r.Context(), persist.React(item, user, kind)); err != nil {
		return err
	}
	return s.respondItem(w, c, item, user)
}

// addCounter serves POST /v1/items/{item}/counters/{name}.
func (s *Server) addCounter(w http.ResponseWriter, r *http.Request) error {
	item, name := r.PathValue("item"), r.PathValue("name")
	key, p := s.idempotencyKey(r)
	var body counterBody
	for _, check := range []func() *Problem{
		func() *Problem { return p },
		func() *Problem { return s.checkID("item", item) },
		func() *Problem { return s.checkID("counter name", name) },
		func() *Problem { return s.decodeBody(w, r, &body) },
		func() *Problem { return s.checkBy("by", body.By) },
	} {
		if p = check(); p != nil {
			s.metrics.write(kindAdd, outcomeInvalid, 1)
			return p
		}
	}
	c, p := s.writeToken(r, false)
	if p != nil {
		s.metrics.write(kindAdd, outcomeInvalid, 1)
		return p
	}
	op := persist.Add(item, name, *body.By)
	if key != "" {
		op = persist.AddOnce(item, name, *body.By, scopedKey(clientName(r.Context()), key))
	}
	res, err := s.write(r.Context(), op)
	if errors.Is(err, persist.ErrIdempotencyConflict) {
		return idempotencyConflict("idempotency key %s was already used for a different increment; "+
			"on an item, a key must always mean the same counter and by", quote(key))
	}
	if err != nil {
		return err
	}
	if res[0].Replayed {
		w.Header().Set(HeaderIdempotentReplayed, "true")
	}
	read, err := s.readItem(c, item, "")
	if err != nil {
		return err
	}
	// The counter right after this increment (on a replay, as it is now),
	// written into the view's map, which is this read's own.
	v := &read.views[0]
	if v.Counters == nil {
		v.Counters = map[string]int64{}
	}
	v.Counters[name] = res[0].Value
	answerItem(w, c, &read)
	return nil
}

// idempotencyKey returns the request's Idempotency-Key ("" when absent).
func (s *Server) idempotencyKey(r *http.Request) (string, *Problem) {
	values := r.Header.Values(HeaderIdempotencyKey)
	switch len(values) {
	case 0:
		return "", nil
	case 1:
		return values[0], s.checkID(HeaderIdempotencyKey, values[0])
	}
	return "", badRequest("%d %s headers; send at most one", len(values), HeaderIdempotencyKey)
}

// scopedKey is the key the store dedups an increment by: the client's key
// within the namespace of the token name, so that two clients' keys never
// collide. Client keys have no control characters, so the NUL separator keeps
// every (name, key) pair distinct.
func scopedKey(tokenName, key string) string { return tokenName + "\x00" + key }

// write applies ops in one atomic store write, bounded by MaxWritesInFlight
// and WriteTimeout, and counts their outcomes. The write goes on when the
// client goes away: its outcome should not depend on when the client gave up.
func (s *Server) write(ctx context.Context, ops ...persist.Op) ([]persist.Result, error) {
	if err := s.b.Writable(); err != nil {
		s.countWrites(ops, nil, outcomeUnavailable)
		return nil, unavailable(30, "this peer takes no writes: %v", err)
	}
	select {
	case s.writes <- struct{}{}:
		defer func() { <-s.writes }()
	default:
		s.countWrites(ops, nil, outcomeUnavailable)
		return nil, unavailable(1, "too many writes in flight (%d): this peer is overloaded; retry",
			s.cfg.MaxWritesInFlight)
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.WriteTimeout)
	defer cancel()
	res, err := s.b.Write(ctx, ops...)
	s.countWrites(ops, res, s.outcomeOf(err))
	return res, err
}

// countWrites counts ops with outcome; an "ok" op whose result was a replay
// counts as replayed.
func (s *Server) countWrites(ops []persist.Op, res []persist.Result, outcome string) {
	for i, op := range ops {
		kind, o := kindAdd, outcome
		if op.Kind == persist.OpReact {
			kind = kindReact
		}
		if o == outcomeOK && i < len(res) && res[i].Replayed {
			o = outcomeReplayed
		}
		s.metrics.write(kind, o, 1)
	}
}

// outcomeOf classifies the error of a store write.
func (s *Server) outcomeOf(err error) string {
	switch {
	case err == nil:
		return outcomeOK
	case errors.Is(err, persist.ErrInvalidOp):
		return outcomeInvalid
	case errors.Is(err, persist.ErrIdempotencyConflict), errors.Is(err, crdt.ErrOverflow),
		errors.Is(err, crdt.ErrClockDrift):
		return outcomeConflict
	case errors.Is(err, persist.ErrCommitFailed), errors.Is(err, persist.ErrClosed),
		errors.Is(err, persist.ErrTooLarge):
		return outcomeUnavailable
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return outcomeUnknown
	}
	return outcomeError
}
