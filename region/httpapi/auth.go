package httpapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// Scope is what an API token may do.
type Scope string

const (
	// ScopeWrite may use every route: the scope of a frontend's token.
	ScopeWrite Scope = "write"
	// ScopeRead may only read items, read GET /v1/mesh and open live streams:
	// a token of this scope is safe to hand to browsers. Every write it tries
	// is answered 403.
	ScopeRead Scope = "read"
)

// APIToken is a bearer token the API accepts.
type APIToken struct {
	// Name says who uses the token, in logs and 429 answers. It scopes
	// idempotency keys and the rate limit: a token rotated under the same name
	// keeps both. Required.
	Name string
	// Token is the secret text clients send. Required.
	Token string
	// Scope is ScopeWrite or ScopeRead; empty means ScopeWrite.
	Scope Scope
	// RateLimit is the sustained operations per second the token may spend
	// (see the package documentation for what an operation is). Zero takes
	// Config.RateLimit.
	RateLimit float64
	// Burst is how many operations the token may spend at once above
	// RateLimit. Zero takes twice RateLimit when RateLimit is set, else
	// Config.Burst.
	Burst int
}

// authenticator checks bearer tokens. It keeps only hashes of the tokens and
// compares a presented token with every one of them in constant time, so
// neither the comparison nor the number of tokens tried leaks a token. It is
// not changed once made; Server.SetAPITokens swaps in a new one.
type authenticator struct {
	tokens []principal // empty: the API is open
}

// principal is who a request acts as: a token of the API, or, when the API
// is open, anyone.
type principal struct {
	hash  [sha256.Size]byte
	name  string // "" when the API is open
	scope Scope
	rate  float64 // operations per second
	burst float64
}

// newAuthenticator checks tokens, fills their defaults from the Server's
// default rate and burst and returns them as an authenticator.
func newAuthenticator(tokens []APIToken, rate float64, burst int) (*authenticator, error) {
	a := &authenticator{}
	byName := map[string]principal{}
	seen := map[[sha256.Size]byte]string{}
	for i, t := range tokens {
		p := principal{hash: sha256.Sum256([]byte(t.Token)), name: t.Name, scope: t.Scope,
			rate: t.RateLimit, burst: float64(t.Burst)}
		if p.scope == "" {
			p.scope = ScopeWrite
		}
		switch {
		case p.rate == 0:
			p.rate = rate
			if p.burst == 0 {
				p.burst = float64(burst)
			}
		case p.burst == 0:
			p.burst = 2 * p.rate
		}
		prev, named := byName[t.Name]
		switch {
		case t.Name == "" || t.Token == "":
			return nil, fmt.Errorf("api token %d: empty token or name (name %q)", i, t.Name)
		case p.scope != ScopeWrite && p.scope != ScopeRead:
			return nil, fmt.Errorf("api token %q: unknown scope %q: want %q or %q", t.Name, p.scope, ScopeWrite, ScopeRead)
		case p.rate < 0 || p.burst < 0:
			return nil, fmt.Errorf("api token %q: negative rate limit %g or burst %g", t.Name, p.rate, p.burst)
		case seen[p.hash] != "":
			return nil, fmt.Errorf("api token %q: the same token as api token %q", t.Name, seen[p.hash])
		case named && (prev.scope != p.scope || prev.rate != p.rate || prev.burst != p.burst):
			return nil, fmt.Errorf("api token %q: listed twice with different scopes or rate limits", t.Name)
		}
		byName[t.Name], seen[p.hash] = p, t.Name
		a.tokens = append(a.tokens, p)
	}
	return a, nil
}

// open reports whether the API runs without authentication.
func (a *authenticator) open() bool { return len(a.tokens) == 0 }

// wwwAuthenticate is the challenge of a 401.
const wwwAuthenticate = `Bearer realm="countermesh"`

// queryTokenParam is the query parameter a live stream may carry its read
// token in: browsers' EventSource cannot send an Authorization header.
const queryTokenParam = "access_token"

// authenticate returns the token of the request, or a 401 or 403. The token is
// read from the Authorization header, or, when inQuery (live streams only),
// from the access_token query parameter, which only read tokens may use.
func (a *authenticator) authenticate(r *http.Request, inQuery bool) (principal, *Problem) {
	token, fromQuery, p := presentedToken(r, inQuery)
	if p != nil {
		return principal{}, p
	}
	h := sha256.Sum256([]byte(token))
	found := -1
	for i, t := range a.tokens {
		if subtle.ConstantTimeCompare(h[:], t.hash[:]) == 1 {
			found = i
		}
	}
	if found < 0 {
		return principal{}, unauthorized(wwwAuthenticate+`, error="invalid_token"`, "unknown bearer token")
	}
	who := a.tokens[found]
	if fromQuery && who.scope != ScopeRead {
		return principal{}, forbidden("api token %q has scope %q: only tokens of scope %q may be sent as the %s "+
			"query parameter (URLs end up in logs); send it as \"Authorization: Bearer <token>\"",
			who.name, who.scope, ScopeRead, queryTokenParam)
	}
	return who, nil
}

// presentedToken returns the token the request presents and whether it came
// from the query string, or a 401 saying what is wrong with how it was sent.
func presentedToken(r *http.Request, inQuery bool) (token string, fromQuery bool, p *Problem) {
	values := r.Header.Values("Authorization")
	var queried []string
	hasQuery := false
	if strings.Contains(r.URL.RawQuery, queryTokenParam) { // spare the parse to nearly every request
		query, _ := url.ParseQuery(r.URL.RawQuery) // malformed: no token in it
		queried, hasQuery = query[queryTokenParam]
	}
	switch {
	case hasQuery && !inQuery:
		return "", false, unauthorized(wwwAuthenticate+`, error="invalid_request"`,
			"the %s query parameter is accepted on live streams (GET /v1/items/{item}/events) only; "+
				`send "Authorization: Bearer <token>"`, queryTokenParam)
	case hasQuery && len(values) > 0:
		return "", false, unauthorized(wwwAuthenticate+`, error="invalid_request"`,
			"the token is sent both as the %s query parameter and in the Authorization header; send it once",
			queryTokenParam)
	case hasQuery:
		if len(queried) != 1 || queried[0] == "" {
			return "", false, unauthorized(wwwAuthenticate+`, error="invalid_request"`,
				"the %s query parameter must be given once, with a token", queryTokenParam)
		}
		return queried[0], true, nil
	case len(values) == 0:
		return "", false, unauthorized(wwwAuthenticate,
			`missing bearer token: send "Authorization: Bearer <token>"`)
	}
	scheme, token, ok := strings.Cut(values[0], " ")
	token = strings.TrimSpace(token)
	if len(values) > 1 || !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return "", false, unauthorized(wwwAuthenticate+`, error="invalid_request"`,
			`malformed Authorization header: want exactly one "Authorization: Bearer <token>"`)
	}
	return token, false, nil
}

func unauthorized(challenge, format string, args ...any) *Problem {
	return newProblem("unauthorized", http.StatusUnauthorized, "Unauthorized", format, args...).
		withHeader("WWW-Authenticate", challenge)
}

func forbidden(format string, args ...any) *Problem {
	return newProblem("forbidden", http.StatusForbidden, "Forbidden", format, args...)
}

// SetAPITokens replaces every token the API accepts, those of Config.Tokens
// included (see Config.APITokens): from the next request on, a token no longer
// listed is refused, a new one is accepted, and a changed scope or rate limit
// applies. Invalid tokens are refused and the ones in force kept; so is an
// empty list on a Server that has tokens, since removing every token would
// open the API to anyone (restart without tokens to run it open). It is safe
// to call while the Server serves.
func (s *Server) SetAPITokens(tokens []APIToken) error {
	a, err := newAuthenticator(tokens, max(s.cfg.RateLimit, 0), s.cfg.Burst)
	if err != nil {
		return fmt.Errorf("httpapi: %w", err)
	}
	for {
		cur := s.auth.Load()
		if a.open() && cur != nil && !cur.open() {
			return errors.New("httpapi: no API tokens: removing every token would open the API to anyone; " +
				"keeping the tokens in force")
		}
		if s.auth.CompareAndSwap(cur, a) {
			return nil
		}
	}
}
