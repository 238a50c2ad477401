package httpapi

import (
	"net/http"
	"slices"
	"strings"
)

// corsOrigins are the browser origins allowed to call the read routes from
// another origin, exactly as browsers send them in the Origin header. It is not
// changed once made; Server.SetCORSOrigins swaps in a new one.
type corsOrigins struct {
	list []string
}

// allows reports whether origin is listed.
func (c *corsOrigins) allows(origin string) bool {
	return origin != "" && slices.Contains(c.list, origin)
}

// CORS answer headers of the read routes.
const (
	corsAllowMethods  = "GET, HEAD"
	corsAllowHeaders  = "Authorization, X-Causal-Token, Last-Event-ID"
	corsExposeHeaders = "X-Causal-Token, X-Causal-Stale, Retry-After, WWW-Authenticate"
	corsMaxAge        = "600" // seconds a browser may cache a preflight answer
)

// allowOrigin adds the CORS headers of an answer of a read route to w when the
// request comes from a listed origin. Every answer of a read route varies by
// Origin, so that no cache serves one origin's answer to another.
func (s *Server) allowOrigin(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Add("Vary", "Origin")
	if origin := r.Header.Get("Origin"); s.cors.Load().allows(origin) {
		h.Set("Access-Control-Allow-Origin", origin)
		h.Set("Access-Control-Expose-Headers", corsExposeHeaders)
	}
}

// preflight answers OPTIONS on a read route: the CORS preflight of a browser on
// a listed origin, a 403 saying why for any other origin or method, and the
// allowed methods to a plain OPTIONS.
func (s *Server) preflight(w http.ResponseWriter, r *http.Request) {
	s.allowOrigin(w, r)
	origin := r.Header.Get("Origin")
	method := r.Header.Get("Access-Control-Request-Method")
	switch {
	case origin == "" || method == "":
		w.Header().Set("Allow", corsAllowMethods+", OPTIONS")
		w.WriteHeader(http.StatusNoContent)
	case !s.cors.Load().allows(origin):
		writeProblem(w, forbidden("origin %s may not call this API from a browser: "+
			"it is not listed in the topology's security.cors_origins", quote(origin)))
	case method != http.MethodGet && method != http.MethodHead:
		writeProblem(w, forbidden("%s is not allowed from another origin on %s: browsers on other origins "+
			"may only read (GET), with a token of scope read", quote(method), r.URL.Path))
	default:
		h := w.Header()
		h.Set("Access-Control-Allow-Methods", corsAllowMethods)
		h.Set("Access-Control-Allow-Headers", corsAllowHeaders)
		h.Set("Access-Control-Max-Age", corsMaxAge)
		h.Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusNoContent)
	}
}

// SetCORSOrigins replaces the browser origins allowed to call the read routes
// from another origin (see Config.CORSOrigins). It is safe to call while the
// Server serves.
func (s *Server) SetCORSOrigins(origins []string) {
	list := make([]string, 0, len(origins))
	for _, o := range origins {
		if o = strings.TrimSpace(o); o != "" {
			list = append(list, o)
		}
	}
	s.cors.Store(&corsOrigins{list: list})
}
