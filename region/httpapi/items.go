package httpapi

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/countermesh/countermesh/persist"
)

// Item is the state of one content item as the API returns it.
type Item struct {
	// Item is the item's id.
	Item string `json:"item"`
	// Counters holds the value of every counter ever written on the item.
	Counters map[string]int64 `json:"counters"`
	// Reactions holds the number of users per reaction kind: every kind in force,
	// zero or not, and any other kind some user still holds.
	Reactions map[string]int64 `json:"reactions"`
	// User is the asked-for user's reaction: present only when a user was asked
	// for (the user parameter, or the user of a reaction write).
	User *UserReaction `json:"user,omitempty"`
	// Token is the causal token of the answer; pass it back as X-Causal-Token.
	Token string `json:"token"`
}

// UserReaction is one user's reaction to an item.
type UserReaction struct {
	// ID is the user's id.
	ID string `json:"id"`
	// Reaction is the user's reaction kind, or nil (JSON null) for none.
	Reaction *string `json:"reaction"`
}

// ItemList is the answer of GET /v1/items: the items in the order asked.
type ItemList struct {
	Items []Item `json:"items"`
}

// itemsRead is what one snapshot read of items, stamped with the answer's
// causal token. It is answered straight from the store's views (itemjson.go):
// the Items they stand for are never built, so that a page read allocates no
// map per item.
type itemsRead struct {
	ids   []string           // the items, in the order asked
	views []persist.ItemView // views[i] is what the store holds of ids[i]
	// pooled holds views, for release.
	pooled *[]persist.ItemView
	user   string   // the asked-for user; "" when none was
	kinds  []string // the reaction kinds in force, in any order
	token  string   // the answer's causal token
	// counterKeys and reactionKeys are the sorted names of the item encoded
	// last, for the next to reuse (sortedKeys), built in keyRoom while they
	// fit.
	counterKeys, reactionKeys []string
	keyRoom                   [16]string
}

// readItems reads items (with user's reaction when user is not empty) from one
// snapshot and stamps them with the answer's causal token.
// Its views are pooled: the caller hands them back with release once the
// answer is encoded.
func (s *Server) readItems(c causal, items []string, user string) (itemsRead, error) {
	lastSeq := s.b.LastSeq() // before the read: the read sees all of it
	vp := viewPool.Get().(*[]persist.ItemView)
	if cap(*vp) < len(items) {
		*vp = append((*vp)[:cap(*vp)], make([]persist.ItemView, len(items)-cap(*vp))...)
	}
	views := (*vp)[:len(items)]
	if err := s.b.ReadItemsInto(items, user, views); err != nil {
		viewPool.Put(vp)
		return itemsRead{}, fmt.Errorf("read %q: %w", items, err)
	}
	return itemsRead{ids: items, views: views, pooled: vp, user: user, kinds: s.b.ReactionKinds(),
		token: s.answerToken(c, lastSeq)}, nil
}

// viewPool holds the views of reads answered, with their maps: a page read
// into them allocates no map.
var viewPool = sync.Pool{New: func() any { return new([]persist.ItemView) }}

// release hands r's views back to the pool; r is not used after.
func (r *itemsRead) release() {
	if r.pooled != nil {
		viewPool.Put(r.pooled)
		r.pooled, r.views = nil, nil
	}
}

// readItem reads one item as readItems does.
func (s *Server) readItem(c causal, item, user string) (itemsRead, error) {
	return s.readItems(c, []string{item}, user)
}

// answerItem answers with the first item of read, as an Item.
func answerItem(w http.ResponseWriter, c causal, read *itemsRead) {
	answerRead(w, c, read, func(b []byte) []byte { return read.appendItem(b, 0) })
}

// answerList answers with the items of read, as an ItemList.
func answerList(w http.ResponseWriter, c causal, read *itemsRead) {
	answerRead(w, c, read, read.appendList)
}

// answerRead answers with what encode appends of read, under read's causal
// token, from a pooled buffer, and releases read.
func answerRead(w http.ResponseWriter, c causal, read *itemsRead, encode func([]byte) []byte) {
	setCausalHeaders(w, c, read.token)
	bp := answerBuffers.Get().(*[]byte)
	*bp = append(encode((*bp)[:0]), '\n')
	read.release()
	sendJSON(w, http.StatusOK, bp)
}

// getItem serves GET /v1/items/{item}[?user=U].
func (s *Server) getItem(w http.ResponseWriter, r *http.Request) error {
	item := r.PathValue("item")
	if p := s.checkID("item", item); p != nil {
		return p
	}
	q, p := parseQuery(r)
	if p != nil {
		return p
	}
	user, p := s.userParam(q)
	if p != nil {
		return p
	}
	c, p := s.awaitToken(r)
	if p != nil {
		return p
	}
	return s.respondItem(w, c, item, user)
}

// getItems serves GET /v1/items?ids=a,b,c[&id=x,y][&user=U].
func (s *Server) getItems(w http.ResponseWriter, r *http.Request) error {
	q, p := parseQuery(r)
	if p != nil {
		return p
	}
	ids, p := s.idsParam(q)
	if p != nil {
		return p
	}
	user, p := s.userParam(q)
	if p != nil {
		return p
	}
	c, p := s.awaitToken(r)
	if p != nil {
		return p
	}
	read, err := s.readItems(c, ids, user)
	if err != nil {
		return err
	}
	answerList(w, c, &read)
	return nil
}

// parseQuery parses the query string, refusing a malformed one.
func parseQuery(r *http.Request) (url.Values, *Problem) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, badRequest("malformed query string: %v", err)
	}
	return q, nil
}

// userParam returns the user parameter: "" when absent.
func (s *Server) userParam(q url.Values) (string, *Problem) {
	values, ok := q["user"]
	if !ok {
		return "", nil
	}
	if len(values) != 1 {
		return "", badRequest("user is given %d times; give it once", len(values))
	}
	return values[0], s.checkID("user", values[0])
}

// idsParam returns the items to read: those of the ids parameter,
// comma-separated and possibly repeated, then those of the id parameter, one
// per value, which may hold commas.
func (s *Server) idsParam(q url.Values) ([]string, *Problem) {
	if !q.Has("ids") && !q.Has("id") {
		return nil, badRequest("ids is required: a comma-separated list of 1 to %d item ids "+
			"(or id, once per item, for ids holding a comma)", MaxReadIDs)
	}
	var ids []string
	for _, v := range q["ids"] {
		ids = append(ids, strings.Split(v, ",")...)
	}
	ids = append(ids, q["id"]...)
	if len(ids) > MaxReadIDs {
		return nil, badRequest("%d ids, more than the %d one request may read", len(ids), MaxReadIDs)
	}
	for i, id := range ids {
		if s.checkID("ids", id) != nil {
			// Checked again to name its place: the name is built only for
			// an id that fails, not for every id of every page.
			return nil, s.checkID(fmt.Sprintf("ids[%d]", i), id)
		}
	}
	return ids, nil
}

// respondItem answers with item as user sees it, with the causal token covering it.
func (s *Server) respondItem(w http.ResponseWriter, c causal, item, user string) error {
	read, err := s.readItem(c, item, user)
	if err != nil {
		return err
	}
	answerItem(w, c, &read)
	return nil
}
