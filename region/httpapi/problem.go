package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/countermesh/countermesh/crdt"
	"github.com/countermesh/countermesh/persist"
)

// Problem is an RFC 9457 problem detail: the body of every error response, served
// as application/problem+json. It is also an error, so handlers return it.
type Problem struct {
	// Type is a URI naming the kind of problem: "urn:countermesh:problem:" and
	// one of the slugs listed in the package documentation.
	Type string `json:"type"`
	// Title is a short summary of the kind of problem, the same for every
	// occurrence of that Type.
	Title string `json:"title"`
	// Status is the HTTP status code.
	Status int `json:"status"`
	// Detail explains this occurrence precisely: which input, what is wrong with
	// it, what is allowed.
	Detail string `json:"detail"`

	retryAfter int               // seconds; sent as Retry-After when > 0
	header     map[string]string // extra response headers
}

// Error returns the detail.
func (p *Problem) Error() string { return fmt.Sprintf("%d %s: %s", p.Status, p.Title, p.Detail) }

// problemTypePrefix starts the Type of every Problem.
const problemTypePrefix = "urn:countermesh:problem:"

// newProblem returns a Problem of the given slug, status and title.
func newProblem(slug string, status int, title, format string, args ...any) *Problem {
	return &Problem{Type: problemTypePrefix + slug, Title: title, Status: status,
		Detail: fmt.Sprintf(format, args...)}
}

// withRetryAfter sets the Retry-After of p, in seconds (at least 1).
func (p *Problem) withRetryAfter(seconds int) *Problem {
	p.retryAfter = max(seconds, 1)
	return p
}

// withHeader sets an extra response header of p.
func (p *Problem) withHeader(name, value string) *Problem {
	if p.header == nil {
		p.header = map[string]string{}
	}
	p.header[name] = value
	return p
}

func badRequest(format string, args ...any) *Problem {
	return newProblem("invalid-request", http.StatusBadRequest, "Invalid request", format, args...)
}

func badToken(format string, args ...any) *Problem {
	return newProblem("invalid-causal-token", http.StatusBadRequest, "Invalid causal token", format, args...)
}

func tooLarge(format string, args ...any) *Problem {
	return newProblem("too-large", http.StatusRequestEntityTooLarge, "Request too large", format, args...)
}

func unavailable(retryAfter int, format string, args ...any) *Problem {
	return newProblem("unavailable", http.StatusServiceUnavailable, "Service unavailable", format, args...).
		withRetryAfter(retryAfter)
}

func notFound(format string, args ...any) *Problem {
	return newProblem("not-found", http.StatusNotFound, "Not found", format, args...)
}

// writeProblem sends p as the response.
func writeProblem(w http.ResponseWriter, p *Problem) {
	h := w.Header()
	for k, v := range p.header {
		h.Set(k, v)
	}
	if p.retryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(p.retryAfter))
	}
	body, _ := json.Marshal(p)
	h.Set("Content-Type", "application/problem+json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(p.Status)
	w.Write(append(body, '\n'))
}

// storeProblem translates an error of the store (or of waiting for it) into the
// Problem a client gets. ok reports whether err was one the API knows; the
// caller logs the others, which become a 500 that does not leak their text.
func (s *Server) storeProblem(err error) (p *Problem, ok bool) {
	var drift *crdt.DriftError
	switch {
	case errors.As(err, &drift):
		return driftProblem(drift), true
	case errors.Is(err, persist.ErrInvalidOp):
		return badRequest("the store refused the operation: %v", err), true
	case errors.Is(err, persist.ErrIdempotencyConflict):
		return idempotencyConflict("an idempotency key of this request was already used for a different increment " +
			"(on an item, a key must always mean the same counter and by)"), true
	case errors.Is(err, crdt.ErrOverflow):
		return newProblem("counter-overflow", http.StatusUnprocessableEntity, "Counter overflow",
			"the increment would overflow this peer's entry of the counter"), true
	case errors.Is(err, persist.ErrDiskFull):
		return unavailable(30, "this peer's disk is full: it refuses writes and keeps serving reads; "+
			"nothing was applied — retry later or at another peer"), true
	case errors.Is(err, persist.ErrCommitFailed):
		return unavailable(1, "the write could not be made durable and was not applied; retry"), true
	case errors.Is(err, persist.ErrTooLarge):
		return tooLarge("the request changes more keys than fit in one atomic batch; split it"), true
	case errors.Is(err, persist.ErrClosed):
		return unavailable(5, "this peer is shutting down; retry at another peer"), true
	case errors.Is(err, context.DeadlineExceeded):
		return unavailable(1, "the write was not confirmed durable within %s; it may or may not have been applied "+
			"(retry an increment with the same idempotency key to count it once)", s.cfg.WriteTimeout), true
	case errors.Is(err, context.Canceled):
		// The client went away; nobody reads this answer.
		return unavailable(1, "the request was cancelled; the write may or may not have been applied"), true
	}
	return newProblem("internal", http.StatusInternalServerError, "Internal error",
		"the peer failed to serve the request; the failure is logged"), false
}

func idempotencyConflict(format string, args ...any) *Problem {
	return newProblem("idempotency-conflict", http.StatusUnprocessableEntity, "Idempotency key conflict", format, args...)
}

// tokenAheadProblem explains a causal token whose timestamp would move this
// peer's clock further than bound past its wall clock.
func tokenAheadProblem(ts crdt.Timestamp, ahead, bound time.Duration) *Problem {
	return newProblem("clock-drift", http.StatusConflict, "Clock drift",
		"the causal token's timestamp %s is %s ahead of this peer's wall clock; a token may move this peer's "+
			"clock at most %s past it: the clock of the peer that minted the token, or this peer's, is wrong; "+
			"retry at the peer that minted it, or without the token (the write then orders by the clocks)",
		ts, ahead, bound)
}

// driftProblem explains a causal token whose timestamp is beyond this peer's
// clock drift bound.
func driftProblem(e *crdt.DriftError) *Problem {
	return newProblem("clock-drift", http.StatusConflict, "Clock drift",
		"the causal token's timestamp %s is %s ahead of this peer's wall clock, beyond the max drift of %s: "+
			"the clock of the peer that issued it, or this peer's, is wrong; retry later or at another peer",
		e.Remote, e.Ahead(), e.MaxDrift)
}
