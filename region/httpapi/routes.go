package httpapi

import (
	"bytes"
	"context"
	"errors"
	json "github.com/goccy/go-json"
	"math"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// apiHandler serves one route of the API: it writes its answer, or returns the
// error to answer with instead — a *Problem, or an error of the store.
type apiHandler func(w http.ResponseWriter, r *http.Request) error

// routes returns the handler of every route.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	handle := func(pattern string, h http.Handler) {
		s.patterns = append(s.patterns, pattern)
		mux.Handle(pattern, s.instrument(pattern, h))
	}
	// read routes serve tokens of every scope and browsers of the CORS
	// origins, preflights included; write routes need a write token.
	read := func(pattern string, h apiHandler) {
		handle("GET "+pattern, s.allowOrigins(s.authenticated(ScopeRead, h)))
		handle("OPTIONS "+pattern, http.HandlerFunc(s.preflight))
	}
	write := func(pattern string, h apiHandler) { handle(pattern, s.authenticated(ScopeWrite, h)) }
	write("PUT /v1/items/{item}/reactions/{user}", s.putReaction)
	write("DELETE /v1/items/{item}/reactions/{user}", s.deleteReaction)
	write("POST /v1/items/{item}/counters/{name}", s.addCounter)
	read("/v1/items/{item}", s.getItem)
	read("/v1/items", s.getItems)
	read(eventsRoute, s.events)
	write("POST /v1/ops", s.postOps)
	read("/v1/mesh", s.getMesh)

	open := handle
	open("GET /healthz", http.HandlerFunc(s.healthz))
	open("GET /readyz", http.HandlerFunc(s.readyz))
	open("GET /metrics", promhttp.HandlerFor(s.cfg.Registry, promhttp.HandlerOpts{
		ErrorLog: slog2promLogger{s.log}, Registry: s.cfg.Registry}))
	open("GET /openapi.json", http.HandlerFunc(serveOpenAPI))
	mux.Handle("/", s.instrument("unmatched", s.unmatched(mux)))
	return mux
}

// eventsRoute is the route of live streams: the only one that accepts a read
// token in the query string.
const eventsRoute = "/v1/items/{item}/events"

// clientKey is the context key of the request's principal.
type clientKey struct{}

// client is who a request acts as, and the bucket it spends its rate limit
// from.
type client struct {
	principal
	limitKey string // the rate limiter's bucket
	host     string // the client address, when the bucket is one address's
	// perAddress is set when the bucket is one client address's (a read
	// token, an open API) rather than a whole token's.
	perAddress bool
	spent      int // operations the request spent so far
}

// limitOf names the client's rate-limit bucket in a 429: the token, the
// client address, or both. Only refusals need it, so it is built then.
func (c *client) limitOf() string {
	switch {
	case c.name == "":
		return "client address " + c.host
	case c.perAddress:
		return "api token " + quote(c.name) + " at client address " + c.host
	}
	return "api token " + quote(c.name)
}

// clientName returns the name of the token the request authenticated with, or
// "" when the API is open.
func clientName(ctx context.Context) string {
	c, _ := ctx.Value(clientKey{}).(*client)
	if c == nil {
		return ""
	}
	return c.name
}

// allowOrigins adds the CORS headers of a read route's answers, errors
// included, so that a browser on a listed origin can read them.
func (s *Server) allowOrigins(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.allowOrigin(w, r)
		h.ServeHTTP(w, r)
	})
}

// authenticated wraps an API handler with authentication, the check of the
// token's scope against the route's (a write route needs ScopeWrite), the
// rate limit (one operation; a handler spends more with spend) and the
// translation of its errors into problem answers.
func (s *Server) authenticated(route Scope, h apiHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		c, p := s.identify(r, route)
		if p == nil {
			r = r.WithContext(context.WithValue(r.Context(), clientKey{}, c))
			p = s.spend(r, 1)
		}
		if p != nil {
			writeProblem(w, p)
			return
		}
		if err := h(w, r); err != nil {
			s.writeError(w, r, err)
		}
	})
}

// identify authenticates a request to a route of the given scope and returns
// who it acts as, or the 401 or 403 to answer.
func (s *Server) identify(r *http.Request, route Scope) (*client, *Problem) {
	a := s.auth.Load()
	if a.open() {
		host := remoteHost(r)
		return &client{principal: principal{scope: ScopeWrite, rate: s.cfg.RateLimit, burst: float64(s.cfg.Burst)},
			limitKey: "addr " + host, host: host, perAddress: true}, nil
	}
	who, p := a.authenticate(r, route == ScopeRead && r.Pattern == "GET "+eventsRoute)
	if p != nil {
		return nil, p
	}
	if route == ScopeWrite && who.scope != ScopeWrite {
		return nil, forbidden("api token %q has scope %q, which may only read: %s %s needs a token of scope %q",
			who.name, who.scope, r.Method, r.URL.Path, ScopeWrite)
	}
	c := &client{principal: who, limitKey: "token " + who.name}
	if who.scope == ScopeRead {
		// A read token is shared by every browser it is handed to: each
		// client address gets its own budget, so one cannot spend the others'.
		host := remoteHost(r)
		c.limitKey += " addr " + host
		c.host = host
		c.perAddress = true
	}
	return c, nil
}

// spend takes n operations from the rate limit of the request's client, or
// returns the 429 to answer: the request must then change nothing.
func (s *Server) spend(r *http.Request, n int) *Problem {
	c, _ := r.Context().Value(clientKey{}).(*client)
	if s.limits == nil || c == nil || n <= 0 {
		return nil
	}
	ok, wait := s.limits.allow(c.limitKey, n, c.rate, c.burst, time.Now())
	if ok {
		c.spent += n
		return nil
	}
	s.metrics.rateLimited.Inc()
	return newProblem("rate-limited", http.StatusTooManyRequests, "Too many requests",
		"rate limit of %g operations/s (burst %g) of %s exceeded: this request costs %d; "+
			"retry after the Retry-After delay", c.rate, c.burst, c.limitOf(), c.spent+n).
		withRetryAfter(int(math.Ceil(wait.Seconds())))
}

// writeError answers with the problem err is or maps to, logging the errors
// the API did not expect.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var p *Problem
	if errors.As(err, &p) {
		writeProblem(w, p)
		return
	}
	p, known := s.storeProblem(err)
	switch {
	case !known:
		s.log.Error("httpapi: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	case p.Status >= 500:
		s.log.Warn("httpapi: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	writeProblem(w, p)
}

// remoteHost returns the host of the client's address.
func remoteHost(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// unmatched answers the requests no route matched: 405 with Allow when the path
// is served for other methods, else 404.
func (s *Server) unmatched(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var allow []string
		for _, m := range []string{http.MethodGet, http.MethodPut, http.MethodPost, http.MethodDelete, http.MethodOptions} {
			probe := &http.Request{Method: m, URL: r.URL, Host: r.Host, Header: http.Header{}}
			if _, pattern := mux.Handler(probe); pattern != "" && pattern != "/" {
				allow = append(allow, m)
			}
		}
		if i := slices.Index(allow, http.MethodGet); i >= 0 {
			allow = slices.Insert(allow, i+1, http.MethodHead)
		}
		if len(allow) == 0 {
			writeProblem(w, notFound("no route for %s %s; see the API documentation", r.Method, r.URL.Path))
			return
		}
		writeProblem(w, newProblem("method-not-allowed", http.StatusMethodNotAllowed, "Method not allowed",
			"%s is not served on %s; allowed: %s", r.Method, r.URL.Path, strings.Join(allow, ", ")).
			withHeader("Allow", strings.Join(allow, ", ")))
	})
}

// writeJSON answers with status and v as JSON, HTML escaping off. The items
// answers, read most, are encoded by hand instead (answerItem, answerList).
func writeJSON(w http.ResponseWriter, status int, v any) {
	bp := answerBuffers.Get().(*[]byte)
	buf := bytes.NewBuffer((*bp)[:0])
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		writeProblem(w, newProblem("internal", http.StatusInternalServerError, "Internal error",
			"encoding the answer failed"))
		return
	}
	*bp = buf.Bytes()
	sendJSON(w, status, bp)
}

// sendJSON answers with status and the JSON in *bp, then gives the buffer
// back to answerBuffers unless it grew too large to keep.
func sendJSON(w http.ResponseWriter, status int, bp *[]byte) {
	body := *bp
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write(body)
	if cap(body) <= 64<<10 {
		answerBuffers.Put(bp)
	}
}
