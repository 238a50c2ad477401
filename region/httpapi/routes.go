package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
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
	api := func(pattern string, h apiHandler) { handle(pattern, s.authenticated(h)) }
	api("PUT /v1/items/{item}/reactions/{user}", s.putReaction)
	api("DELETE /v1/items/{item}/reactions/{user}", s.deleteReaction)
	api("POST /v1/items/{item}/counters/{name}", s.addCounter)
	api("GET /v1/items/{item}", s.getItem)
	api("GET /v1/items", s.getItems)
	api("GET /v1/items/{item}/events", s.events)
	api("POST /v1/ops", s.postOps)
	api("GET /v1/mesh", s.getMesh)

	open := handle
	open("GET /healthz", http.HandlerFunc(s.healthz))
	open("GET /readyz", http.HandlerFunc(s.readyz))
	open("GET /metrics", promhttp.HandlerFor(s.cfg.Registry, promhttp.HandlerOpts{
		ErrorLog: slog2promLogger{s.log}, Registry: s.cfg.Registry}))
	open("GET /openapi.json", http.HandlerFunc(serveOpenAPI))
	mux.Handle("/", s.instrument("unmatched", s.unmatched(mux)))
	return mux
}

// clientKey is the context key of the request's client name.
type clientKey struct{}

// clientName returns the name of the token the request authenticated with, or
// "" when the API is open.
func clientName(ctx context.Context) string {
	name, _ := ctx.Value(clientKey{}).(string)
	return name
}

// authenticated wraps an API handler with authentication, the rate limit and
// the translation of its errors into problem answers.
func (s *Server) authenticated(h apiHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		name, limitKey := "", ""
		if s.auth.open() {
			limitKey = "addr " + remoteHost(r)
		} else {
			var p *Problem
			if name, p = s.auth.authenticate(r); p != nil {
				writeProblem(w, p)
				return
			}
			limitKey = "token " + name
		}
		if s.limits != nil {
			if ok, wait := s.limits.allow(limitKey, time.Now()); !ok {
				s.metrics.rateLimited.Inc()
				writeProblem(w, newProblem("rate-limited", http.StatusTooManyRequests, "Too many requests",
					"rate limit of %g requests/s (burst %d) exceeded; retry after the Retry-After delay",
					s.cfg.RateLimit, s.cfg.Burst).withRetryAfter(int(math.Ceil(wait.Seconds()))))
				return
			}
		}
		r = r.WithContext(context.WithValue(r.Context(), clientKey{}, name))
		if err := h(w, r); err != nil {
			s.writeError(w, r, err)
		}
	})
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
		for _, m := range []string{http.MethodGet, http.MethodPut, http.MethodPost, http.MethodDelete} {
			probe := &http.Request{Method: m, URL: r.URL, Host: r.Host, Header: http.Header{}}
			if _, pattern := mux.Handler(probe); pattern != "" && pattern != "/" {
				allow = append(allow, m)
			}
		}
		if slices.Contains(allow, http.MethodGet) {
			allow = append(allow, http.MethodHead)
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

// writeJSON answers with status and v as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		writeProblem(w, newProblem("internal", http.StatusInternalServerError, "Internal error",
			"encoding the answer failed"))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}
