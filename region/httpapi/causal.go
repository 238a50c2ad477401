package httpapi

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/countermesh/countermesh/crdt"
)

// Headers of causal consistency.
const (
	// HeaderCausalToken carries a causal token: sent by the client to be served
	// at least what the token saw, returned with every answer.
	HeaderCausalToken = "X-Causal-Token"
	// HeaderCausalStale is "true" on an answer given before this peer caught up
	// with the presented token: a read that waited CausalWait in vain, or a write
	// (writes never wait). It may miss what the token saw.
	HeaderCausalStale = "X-Causal-Stale"
)

// causalPollInterval is how often a causal wait rechecks replication progress
// between the store's commit notifications.
const causalPollInterval = 5 * time.Millisecond

// causal is what a request's causal token asked for, and whether it was served.
type causal struct {
	token     causalToken // as presented; zero if none
	presented bool
	stale     bool // the wait ran out: the answer may miss what the token saw
}

// readToken reads the request's causal token, if any, without waiting for it.
func (s *Server) readToken(r *http.Request) (causal, *Problem) {
	var c causal
	values := r.Header.Values(HeaderCausalToken)
	switch len(values) {
	case 0:
		return c, nil
	case 1:
	default:
		return c, badToken("%d %s headers; send at most one", len(values), HeaderCausalToken)
	}
	tok, err := s.keys.Load().parse(strings.TrimSpace(values[0]))
	if err != nil {
		return c, badToken("%s: %v", HeaderCausalToken, err)
	}
	c.token, c.presented = tok, true
	return c, nil
}

// awaitToken reads the request's causal token, if any, and waits (up to
// CausalWait) until this peer has applied every change the token saw. Reads
// call it.
func (s *Server) awaitToken(r *http.Request) (causal, *Problem) {
	c, p := s.readToken(r)
	if p != nil || !c.presented {
		return c, p
	}
	if !s.waitApplied(r.Context(), c.token) {
		c.stale = true
		s.metrics.causalStale.Inc()
	}
	return c, nil
}

// writeToken reads the request's causal token, if any, for a write: it never
// waits — a peer cut off from the one that minted the token keeps taking
// writes at local latency — and marks the answer stale when this peer has not
// applied everything the token saw. With order set (writes of reactions), it
// observes the token's timestamp, so what the write stores orders after
// everything the token saw.
func (s *Server) writeToken(r *http.Request, order bool) (causal, *Problem) {
	c, p := s.readToken(r)
	if p != nil || !c.presented {
		return c, p
	}
	if order {
		if p := s.observeToken(c); p != nil {
			return c, p
		}
	}
	if !s.caughtUp(c.token) {
		c.stale = true
		s.metrics.causalStale.Inc()
	}
	return c, nil
}

// caughtUp reports whether the peer has applied, for every replica of tok, the
// changes up to tok's sequence.
func (s *Server) caughtUp(tok causalToken) bool {
	for r, seq := range tok.seqs {
		if s.b.Applied(r) < seq {
			return false
		}
	}
	return true
}

// waitApplied waits until the peer has applied, for every replica of tok, the
// changes up to tok's sequence, and reports whether it has. It gives up after
// CausalWait or when ctx ends.
func (s *Server) waitApplied(ctx context.Context, tok causalToken) bool {
	caughtUp := func() bool { return s.caughtUp(tok) }
	if caughtUp() {
		return true
	}
	s.metrics.causalWaits.Inc()
	start := time.Now()
	defer func() { s.metrics.causalWaitSeconds.Observe(time.Since(start).Seconds()) }()
	timeout := time.NewTimer(s.cfg.CausalWait)
	defer timeout.Stop()
	poll := time.NewTicker(causalPollInterval)
	defer poll.Stop()
	for {
		committed := s.b.Committed() // taken before the check: no commit slips between
		if caughtUp() {
			return true
		}
		select {
		case <-committed:
		case <-poll.C:
		case <-timeout.C:
			return caughtUp()
		case <-ctx.Done():
			return false
		}
	}
}

// observeToken makes later local timestamps order after everything the token
// saw, so a reaction written with it wins over the ones its holder saw
// (invariant 4), whatever the wall clocks say. It refuses to move the clock
// more than MaxTokenAhead past the wall clock: however a token came about, a
// client must not push a peer's clock into the future, where its writes would
// win every race and the other peers would refuse them.
func (s *Server) observeToken(c causal) *Problem {
	if !c.presented || c.token.ts.IsZero() {
		return nil
	}
	wall := s.b.WallMillis()
	if ahead := time.Duration(c.token.ts.Wall-wall) * time.Millisecond; ahead > s.cfg.MaxTokenAhead &&
		s.b.LastTimestamp().Before(c.token.ts) {
		return tokenAheadProblem(c.token.ts, ahead, s.cfg.MaxTokenAhead)
	}
	err := s.b.ObserveTimestamp(c.token.ts)
	var drift *crdt.DriftError
	if errors.As(err, &drift) {
		return driftProblem(drift)
	}
	return nil
}

// answerToken returns the token of an answer: what the request's token saw,
// this peer's changes up to lastSeq (loaded before the answer's reads, so the
// reads saw them all), and the newest timestamp this peer has seen (every
// register it stores is at most that).
func (s *Server) answerToken(c causal, lastSeq uint64) string {
	var t causalToken
	t.merge(c.token)
	t.see(s.b.Replica(), lastSeq)
	t.observe(s.b.LastTimestamp())
	return s.keys.Load().mint(t)
}

// setCausalHeaders sets the causal headers of an answer carrying token.
func setCausalHeaders(w http.ResponseWriter, c causal, token string) {
	w.Header().Set(HeaderCausalToken, token)
	if c.stale {
		w.Header().Set(HeaderCausalStale, "true")
	}
}
