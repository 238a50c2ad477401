// Package client is a Go client of countermesh's frontend API, for the regional
// frontends that write reactions and counters and read items.
//
// A Client knows one or more peers (the nearest first) and one bearer token. A
// call that may have failed in transit — a connection error, a timeout, a 429 or a
// 503 — is retried at the next peer, with backoff, keeping what makes the retry
// safe: an increment keeps its idempotency key (made by the client when the
// caller gives none), so it counts once in the mesh whichever peers the retries
// reached. A Session carries a causal token from answer to call, so its holder
// reads its own writes on any peer and its later reactions win over what it saw.
// A problem+json answer becomes a *Problem, whose Kind a caller can test with
// errors.Is against the sentinel errors of this package.
//
// Calls go over the client's own HTTP/1.1 transport: keep-alive connections per
// peer (Config.ConnsPerPeer), each request written and its answer read on the
// calling goroutine, which costs a frontend well under net/http's client's CPU
// per call (BenchmarkCall). A kept connection the peer closed while idle, or
// that holds an answer nobody asked for, is dropped before it is used. A
// request is resent on a fresh connection only when a kept one is lost before
// any answer and the request is safe to send twice (a GET, PUT or DELETE, or
// one with an idempotency key). Config.HTTPClient routes
// calls through net/http instead, for a proxy or custom TLS. Live streams
// (Follow) always use net/http.
//
// A Client and a Session are safe for concurrent use. A Session keeps the
// token of the answer that arrived last (tokens are opaque: it cannot tell
// which is newer), so a session that must read its own writes at another peer
// makes one call at a time.
package client

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	json "github.com/goccy/go-json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Item is a content item as the API answers it. The client declares the API's
// JSON shapes itself rather than import the server's package, so a frontend's
// build does not pull in the store, QUIC and memberlist; the OpenAPI document
// the server serves at /openapi.json is the contract both follow.
type Item struct {
	// Item is the item's id.
	Item string `json:"item"`
	// Counters holds every counter ever written on the item.
	Counters map[string]int64 `json:"counters"`
	// Reactions holds the number of users per reaction kind, zeros included.
	Reactions map[string]int64 `json:"reactions"`
	// User is the asked-for user's reaction, when a user was asked for.
	User *UserReaction `json:"user,omitempty"`
	// Token is the causal token of the answer.
	Token string `json:"token"`
}

// UserReaction is one user's reaction to an item.
type UserReaction struct {
	// ID is the user's id.
	ID string `json:"id"`
	// Reaction is the user's reaction kind, or nil for none.
	Reaction *string `json:"reaction"`
}

// Config configures a Client. Peers is required; every other field has a default.
type Config struct {
	// Peers are the base URLs of the peers to call (http://host:port), the
	// preferred one first. A call that may be retried moves to the next one.
	Peers []string
	// Token is the bearer token; empty for an open (demo) mesh.
	Token string
	// HTTPClient, when set, makes every request (a proxy, a custom
	// RoundTripper, its own TLS settings); its Timeout bounds a call. Default
	// nil: calls go through the client's own HTTP/1.1 transport, which keeps
	// connections per peer and costs the frontend far less CPU per call, and
	// live streams through net/http.
	HTTPClient *http.Client
	// Timeout bounds one attempt of a call made through the client's own
	// transport, with the context's deadline when that is earlier. Default 10 s.
	Timeout time.Duration
	// ConnsPerPeer caps the connections the client's own transport keeps open
	// to one peer; a call waits up to Timeout for a free one. Default 512.
	ConnsPerPeer int
	// Attempts is how many times a call is tried in all, across peers. Default 4.
	Attempts int
	// Backoff is the wait before the first retry; it doubles for each next one,
	// and a Retry-After answer sets it. Default 100 ms.
	Backoff time.Duration
}

// Client calls the API of a mesh's peers.
type Client struct {
	cfg Config
	tr  transport
	// streams opens live streams: cfg.HTTPClient, or net/http's client.
	streams *http.Client
}

// New returns a Client. It fails on a Config without peers or with a peer that is
// not an http or https URL.
func New(cfg Config) (*Client, error) {
	if len(cfg.Peers) == 0 {
		return nil, errors.New("client: no peer")
	}
	for _, p := range cfg.Peers {
		u, err := url.Parse(p)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("client: peer %q is not an http(s) URL", p)
		}
		if u.User != nil {
			return nil, fmt.Errorf("client: peer %q carries credentials: the API takes a bearer token (Config.Token)", u.Redacted())
		}
	}
	cfg.Peers = append([]string(nil), cfg.Peers...)
	for i, p := range cfg.Peers {
		cfg.Peers[i] = strings.TrimSuffix(p, "/")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.ConnsPerPeer <= 0 {
		cfg.ConnsPerPeer = 512
	}
	if cfg.Attempts <= 0 {
		cfg.Attempts = 4
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = 100 * time.Millisecond
	}
	c := &Client{cfg: cfg, streams: cfg.HTTPClient, tr: netHTTPTransport{cfg.HTTPClient}}
	if cfg.HTTPClient == nil {
		c.streams = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
		c.tr = newConnTransport(cfg.Timeout, cfg.ConnsPerPeer)
	}
	return c, nil
}

// CloseIdleConnections closes the connections the client keeps open and is
// not using, as a frontend does before it exits.
func (c *Client) CloseIdleConnections() {
	if ct, ok := c.tr.(*connTransport); ok {
		ct.closeIdle()
	}
	c.streams.CloseIdleConnections()
}

// Session returns a new session: a sequence of calls that carries the causal
// token of each answer to the next call.
func (c *Client) Session() *Session { return &Session{c: c} }

// Session is one client session's view of the mesh: it passes the causal token
// of its last answer with every call, to whatever peer the call reaches.
type Session struct {
	c  *Client
	mu sync.Mutex
	// token is the causal token the last answer carried.
	token string
	// stale is whether the last answer said it may miss what the token saw.
	stale bool
}

// Token returns the session's causal token ("" before the first answer).
func (s *Session) Token() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.token
}

// Stale reports whether the last answer was marked X-Causal-Stale: the peer
// had not yet applied everything the session's token covered.
func (s *Session) Stale() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stale
}

// SetToken sets the session's causal token, such as one kept from an earlier
// session of the same user.
func (s *Session) SetToken(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.token = token
}

// React sets user's reaction to item (kind "like", "dislike", ...).
func (s *Session) React(ctx context.Context, item, user, kind string) (Item, error) {
	body, err := json.Marshal(map[string]string{"reaction": kind})
	if err != nil {
		return Item{}, err
	}
	var it Item
	err = s.call(ctx, http.MethodPut, "/v1/items/"+url.PathEscape(item)+"/reactions/"+url.PathEscape(user), body, "", &it)
	return it, err
}

// Unreact clears user's reaction to item.
func (s *Session) Unreact(ctx context.Context, item, user string) (Item, error) {
	var it Item
	err := s.call(ctx, http.MethodDelete, "/v1/items/"+url.PathEscape(item)+"/reactions/"+url.PathEscape(user), nil, "", &it)
	return it, err
}

// Add adds by to item's counter. It sends a fresh idempotency key, kept across
// its retries, so the increment counts once in the mesh.
func (s *Session) Add(ctx context.Context, item, counter string, by int64) (Item, error) {
	return s.AddOnce(ctx, item, counter, by, NewKey())
}

// AddOnce adds by to item's counter under the caller's idempotency key: every
// call with the same key, at any peer, counts once (within the mesh's TTL). A
// retry of a call whose outcome is unknown keeps the key.
func (s *Session) AddOnce(ctx context.Context, item, counter string, by int64, key string) (Item, error) {
	if key == "" {
		// Sent without a key, the increment could count twice once retried
		// at another peer: refused, as the API refuses an empty key.
		return Item{}, errors.New("client: AddOnce with an empty idempotency key; use Add, or AddUnkeyed")
	}
	return s.add(ctx, s.call, item, counter, by, key)
}

// AddUnkeyed adds by to item's counter without an idempotency key. A call whose
// outcome is unknown is not retried — it might count twice — and comes back as
// an *UnknownError; one that was never sent comes back as ErrNotSent, and may
// be made again. Prefer Add.
func (s *Session) AddUnkeyed(ctx context.Context, item, counter string, by int64) (Item, error) {
	return s.add(ctx, s.callOnce, item, counter, by, "")
}

// add posts an increment through call, under the idempotency key key ("" for
// none).
func (s *Session) add(ctx context.Context, call func(context.Context, string, string, []byte, string, any) error,
	item, counter string, by int64, key string) (Item, error) {
	body := append(strconv.AppendInt([]byte(`{"by":`), by, 10), '}')
	var it Item
	err := call(ctx, http.MethodPost, "/v1/items/"+url.PathEscape(item)+"/counters/"+url.PathEscape(counter), body, key, &it)
	return it, err
}

// Op is one operation of Session.Ops: a reaction set or cleared, or an
// increment. Build one with ReactOp or AddOp.
type Op struct {
	Op             string  `json:"op"` // "react" or "add"
	Item           string  `json:"item"`
	User           string  `json:"user,omitempty"`
	Reaction       *string `json:"reaction,omitempty"`
	Counter        string  `json:"counter,omitempty"`
	By             int64   `json:"by,omitempty"`
	IdempotencyKey string  `json:"idempotency_key,omitempty"`
}

// ReactOp returns the op setting user's reaction to item (kind "" clears it).
func ReactOp(item, user, kind string) Op {
	op := Op{Op: "react", Item: item, User: user}
	if kind != "" {
		op.Reaction = &kind
	}
	return op
}

// MarshalJSON writes a react op's reaction as null when it clears it.
func (o Op) MarshalJSON() ([]byte, error) {
	type plain Op
	if o.Op != "react" || o.Reaction != nil {
		return json.Marshal(plain(o))
	}
	return json.Marshal(struct {
		plain
		Reaction *string `json:"reaction"`
	}{plain: plain(o)})
}

// AddOp returns the op adding by to item's counter under key ("" for none).
func AddOp(item, counter string, by int64, key string) Op {
	return Op{Op: "add", Item: item, Counter: counter, By: by, IdempotencyKey: key}
}

// OpResult is the result of one op of Session.Ops.
type OpResult struct {
	Op       string  `json:"op"`
	Item     string  `json:"item"`
	User     string  `json:"user,omitempty"`
	Reaction *string `json:"reaction,omitempty"`
	Counter  string  `json:"counter,omitempty"`
	Value    int64   `json:"value,omitempty"`
	Replayed bool    `json:"replayed,omitempty"`
}

// Ops applies up to 1,000 ops atomically (POST /v1/ops): all or none. It is
// retried at the next peer only when every add carries an idempotency key;
// otherwise an unknown outcome comes back as an *UnknownError.
func (s *Session) Ops(ctx context.Context, ops []Op) ([]OpResult, error) {
	body, err := json.Marshal(map[string][]Op{"ops": ops})
	if err != nil {
		return nil, err
	}
	var out struct {
		Results []OpResult `json:"results"`
	}
	call := s.call
	for _, op := range ops {
		if op.Op == "add" && op.IdempotencyKey == "" {
			call = s.callOnce
			break
		}
	}
	err = call(ctx, http.MethodPost, "/v1/ops", body, "", &out)
	return out.Results, err
}

// Get reads item, with user's reaction when user is not empty.
func (s *Session) Get(ctx context.Context, item, user string) (Item, error) {
	path := "/v1/items/" + url.PathEscape(item)
	if user != "" {
		path += "?user=" + url.QueryEscape(user)
	}
	var it Item
	err := s.call(ctx, http.MethodGet, path, nil, "", &it)
	return it, err
}

// GetMany reads up to 100 items in one call, in the order asked, with user's
// reaction to each when user is not empty.
func (s *Session) GetMany(ctx context.Context, items []string, user string) ([]Item, error) {
	var out itemList
	err := s.call(ctx, http.MethodGet, pagePath(items, user), nil, "", &out)
	return out.Items, err
}

// GetManyInto reads as GetMany does into the items of an earlier page, dst:
// it returns them refilled (dst grows when short), their maps cleared and
// reused, so a frontend reading page after page allocates far less. dst's
// items must not be in use elsewhere. On an error it returns no items (dst
// emptied, for the next call to reuse), and dst's items hold nothing of use.
func (s *Session) GetManyInto(ctx context.Context, items []string, user string, dst []Item) ([]Item, error) {
	out := pageInto{items: dst}
	if err := s.call(ctx, http.MethodGet, pagePath(items, user), nil, "", &out); err != nil {
		return dst[:0], err
	}
	return out.items, nil
}

// pagePath is the path of GET /v1/items for items and user. The ids go
// comma-separated in ids, unless one holds a comma: then each goes in an id
// parameter of its own, in order.
func pagePath(items []string, user string) string {
	b := make([]byte, 0, len("/v1/items?ids=&user=")+len(user)+16*len(items))
	param, sep := "ids=", ","
	if slices.ContainsFunc(items, func(id string) bool { return strings.Contains(id, ",") }) {
		param, sep = "id=", "&id="
	}
	b = append(append(b, "/v1/items?"...), param...)
	for i, id := range items {
		if i > 0 {
			b = append(b, sep...)
		}
		b = appendQueryValue(b, id)
	}
	if user != "" {
		b = appendQueryValue(append(b, "&user="...), user)
	}
	return string(b)
}

// appendQueryValue appends s to dst escaped as a query value: every byte but
// letters, digits, "-._~" and ":@/" (which a query may hold as they are, and
// which ids often do) as %XX.
func appendQueryValue(dst []byte, s string) []byte {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-._~:@/", c) >= 0 {
			dst = append(dst, c)
		} else {
			dst = append(dst, '%', hex[c>>4], hex[c&15])
		}
	}
	return dst
}

// Mesh returns the peer's view of the mesh (GET /v1/mesh) as the JSON it
// answered: regions, peers, membership, links and replication lag.
func (s *Session) Mesh(ctx context.Context) (json.RawMessage, error) {
	var out json.RawMessage
	err := s.call(ctx, http.MethodGet, "/v1/mesh", nil, "", &out)
	return out, err
}

// Ping asks the first peer whether it serves (GET /healthz), once: a frontend's
// health check of its nearest peer.
func (c *Client) Ping(ctx context.Context) error {
	return c.Session().callOnce(ctx, http.MethodGet, "/healthz", nil, "", nil)
}

// NewKey returns a random idempotency key: 128 bits, hex.
func NewKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}

// call makes one API call, retrying at the next peer while the outcome may be
// retried, and decodes a 2xx answer into out. It sends the idempotency key key
// ("" for none), carries the session's token and takes the answer's.
func (s *Session) call(ctx context.Context, method, path string, body []byte, key string, out any) error {
	wait := s.c.cfg.Backoff
	var last error
	for attempt := range s.c.cfg.Attempts {
		if attempt > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return errors.Join(ctx.Err(), last)
			case <-t.C:
			}
			wait *= 2
		}
		peer := s.c.cfg.Peers[attempt%len(s.c.cfg.Peers)]
		retry, after, err := s.once(ctx, peer, method, path, body, key, out)
		if err == nil {
			return nil
		}
		last = err
		if !retry || ctx.Err() != nil {
			return err
		}
		if after > 0 {
			wait = after
		}
	}
	return last
}

// callOnce makes one API call at the first peer, with no retry.
func (s *Session) callOnce(ctx context.Context, method, path string, body []byte, key string, out any) error {
	_, _, err := s.once(ctx, s.c.cfg.Peers[0], method, path, body, key, out)
	return err
}

// once makes one request to peer. It reports whether a failure may be retried,
// and after how long the peer asked to wait.
func (s *Session) once(ctx context.Context, peer, method, path string, body []byte, key string, out any) (retry bool, after time.Duration, err error) {
	r := request{method: method, peer: peer, path: path, body: body, token: s.c.cfg.Token, causal: s.Token(), key: key}
	if err := checkRequest(&r); err != nil {
		return false, 0, fmt.Errorf("client: %s %s: %w", method, path, err)
	}
	sent := s.c.tr.roundTrip(ctx, &r, func(a *answer) {
		retry, after, err = s.take(peer, method, path, a, out)
	})
	if sent != nil {
		if errors.Is(sent, ErrNotSent) {
			return true, 0, fmt.Errorf("client: %s %s at %s: %w", method, path, peer, sent)
		}
		return true, 0, &UnknownError{Peer: peer, Err: sent}
	}
	return retry, after, err
}

// ErrNotSent is a call that failed before its request left the client: no
// connection to the peer could be made, or none was free before the call's
// deadline. Nothing was applied, so the call may be made again, keyed or not,
// here or at another peer; the Client retries it at the next peer as it would
// an unknown outcome. Test for it with errors.Is.
var ErrNotSent = errors.New("request not sent")

// take reads peer's answer to a call: a problem, or a 2xx answer decoded into
// out, whose causal token the session keeps.
func (s *Session) take(peer, method, path string, a *answer, out any) (retry bool, after time.Duration, err error) {
	if a.status/100 != 2 {
		p := problemOf(peer, a.status, a.body)
		secs, _ := strconv.Atoi(a.retryAfter)
		return p.Status == http.StatusTooManyRequests || p.Status >= 500, time.Duration(secs) * time.Second, p
	}
	s.mu.Lock()
	if a.causalToken != "" {
		s.token = a.causalToken
	}
	s.stale = a.causalStale == "true"
	s.mu.Unlock()
	if out != nil {
		if err := decodeAnswer(a.body, out); err != nil {
			return false, 0, fmt.Errorf("client: %s %s at %s: decode answer: %w", method, path, peer, err)
		}
	}
	return false, 0, nil
}

// decodeAnswer decodes a 2xx answer's body into out: by the fast path when it
// takes it, else by the general decoder.
func decodeAnswer(body []byte, out any) error {
	if decodeFast(body, out) {
		return nil
	}
	return json.Unmarshal(body, out)
}

// UnknownError is a call whose outcome is unknown: the request may or may not
// have been applied (a connection lost, a timeout). A write retried with its
// idempotency key is safe; the Client does that by itself.
type UnknownError struct {
	Peer string // the peer called
	Err  error  // what went wrong
}

// Error describes the failure.
func (e *UnknownError) Error() string {
	return fmt.Sprintf("client: %s: outcome unknown: %v", e.Peer, e.Err)
}

// Unwrap returns the underlying error.
func (e *UnknownError) Unwrap() error { return e.Err }
