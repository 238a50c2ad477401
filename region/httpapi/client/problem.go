package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Kinds of problem, to test with errors.Is(err, client.ErrRateLimited) and the
// like. Each matches the problem of the same name the API answers.
var (
	ErrInvalidRequest      = errors.New("invalid-request")
	ErrInvalidCausalToken  = errors.New("invalid-causal-token")
	ErrUnauthorized        = errors.New("unauthorized")
	ErrForbidden           = errors.New("forbidden")
	ErrNotFound            = errors.New("not-found")
	ErrIdempotencyConflict = errors.New("idempotency-conflict")
	ErrCounterOverflow     = errors.New("counter-overflow")
	ErrRateLimited         = errors.New("rate-limited")
	ErrUnavailable         = errors.New("unavailable")
	ErrTooLarge            = errors.New("too-large")
)

var kinds = []error{ErrInvalidRequest, ErrInvalidCausalToken, ErrUnauthorized, ErrForbidden, ErrNotFound,
	ErrIdempotencyConflict, ErrCounterOverflow, ErrRateLimited, ErrUnavailable, ErrTooLarge}

// problemPrefix starts the type of every problem the API answers.
const problemPrefix = "urn:countermesh:problem:"

// Problem is an RFC 9457 problem the API answered.
type Problem struct {
	// Type is the problem's URN, such as urn:countermesh:problem:rate-limited.
	Type string `json:"type"`
	// Title summarizes the kind of problem.
	Title string `json:"title"`
	// Status is the HTTP status.
	Status int `json:"status"`
	// Detail says precisely what was wrong.
	Detail string `json:"detail"`
	// Peer is the peer that answered.
	Peer string `json:"-"`
}

// Error describes the problem.
func (p *Problem) Error() string {
	return fmt.Sprintf("client: %s answered %d %s: %s", p.Peer, p.Status, p.Title, p.Detail)
}

// Is matches the sentinel error of the problem's kind.
func (p *Problem) Is(target error) bool {
	return strings.TrimPrefix(p.Type, problemPrefix) == target.Error() && isKind(target)
}

func isKind(err error) bool {
	for _, k := range kinds {
		if k == err {
			return true
		}
	}
	return false
}

// problemOf reads the problem of a non-2xx answer; an answer that is not
// problem+json still becomes a Problem, of its status.
func problemOf(peer string, status int, raw []byte) *Problem {
	p := &Problem{}
	if err := json.Unmarshal(raw, p); err != nil || p.Status == 0 {
		p = &Problem{Title: http.StatusText(status), Detail: strings.TrimSpace(string(raw))}
	}
	p.Status, p.Peer = status, peer
	return p
}
