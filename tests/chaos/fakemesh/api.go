package fakemesh

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/countermesh/countermesh/region/httpapi"
)

// routes is the API subset the chaos client uses.
func (p *peer) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/items/{item}/counters/{name}", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			By int64 `json:"by"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.By == 0 {
			problem(w, http.StatusBadRequest, fmt.Sprintf("want {\"by\":n} with n non-zero (%v)", err))
			return
		}
		p.answer(w, r, "", func(uint64) {
			p.increment(r.PathValue("item"), r.PathValue("name"), body.By, r.Header.Get("Idempotency-Key"))
		})
	})
	react := func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Reaction string `json:"reaction"`
		}
		if r.Method == http.MethodPut {
			if err := json.NewDecoder(r.Body).Decode(&body); err != nil || !slices.Contains(p.m.opts.Kinds, body.Reaction) {
				problem(w, http.StatusBadRequest, fmt.Sprintf("want {\"reaction\":k} with k one of %v (%v)", p.m.opts.Kinds, err))
				return
			}
		}
		user := r.PathValue("user")
		p.answer(w, r, user, func(token uint64) { p.react(r.PathValue("item"), user, body.Reaction, token) })
	}
	mux.HandleFunc("PUT /v1/items/{item}/reactions/{user}", react)
	mux.HandleFunc("DELETE /v1/items/{item}/reactions/{user}", react)
	mux.HandleFunc("GET /v1/items/{item}", func(w http.ResponseWriter, r *http.Request) {
		p.answer(w, r, r.URL.Query().Get("user"), nil)
	})
	mux.HandleFunc("GET /v1/items", func(w http.ResponseWriter, r *http.Request) {
		ids := strings.Split(r.URL.Query().Get("ids"), ",")
		p.mu.Lock()
		if !p.alive {
			p.mu.Unlock()
			problem(w, http.StatusServiceUnavailable, p.name+" is down")
			return
		}
		var out httpapi.ItemList
		for _, id := range ids {
			out.Items = append(out.Items, p.itemJSON(id, ""))
		}
		p.mu.Unlock()
		reply(w, out)
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.inflight.Add(1)
		defer p.inflight.Add(-1)
		mux.ServeHTTP(w, r)
	})
}

// answer observes the request's causal token, applies write (if any) and
// answers with the item, user's reaction included when user is set.
func (p *peer) answer(w http.ResponseWriter, r *http.Request, user string, write func(token uint64)) {
	var token uint64
	if t := r.Header.Get("X-Causal-Token"); t != "" {
		var err error
		if token, err = strconv.ParseUint(t, 10, 64); err != nil {
			problem(w, http.StatusBadRequest, "malformed X-Causal-Token")
			return
		}
	}
	p.mu.Lock()
	if !p.alive {
		p.mu.Unlock()
		problem(w, http.StatusServiceUnavailable, p.name+" is down")
		return
	}
	if !p.bug(WallClockLWW) {
		p.hlc = max(p.hlc, token)
	}
	if write != nil {
		write(token)
	}
	it := p.itemJSON(r.PathValue("item"), user)
	p.mu.Unlock()
	if write != nil && p.m.losesAnswers(p.region) {
		// Applied, but the client never hears of it.
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			conn.Close()
		}
		return
	}
	reply(w, it)
}

// itemJSON renders an item as the real API does; the caller holds p.mu.
func (p *peer) itemJSON(id, user string) httpapi.Item {
	st, token := p.view(id)
	it := httpapi.Item{Item: id, Counters: st.Counters, Reactions: st.Tallies, Token: token}
	if user != "" {
		u := &httpapi.UserReaction{ID: user}
		if kind := st.Registers[user]; kind != "" {
			u.Reaction = &kind
		}
		it.User = u
	}
	return it
}

func reply(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

// problem answers an RFC 9457 problem.
func problem(w http.ResponseWriter, status int, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"title": http.StatusText(status), "status": status, "detail": detail})
}
