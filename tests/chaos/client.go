package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/countermesh/countermesh/region/httpapi/client"
)

// Client calls the frontend API of a mesh's peers and classifies each answer as
// ok, failed or unknown. It is safe for concurrent use.
type Client struct {
	// HTTP sends the requests. Its Timeout (or the context) bounds each call.
	HTTP *http.Client
	// Token is the bearer token ("" for an open API).
	Token string
	// Timeout bounds one request. Default 3 s.
	Timeout time.Duration
}

// NewClient returns a client with its own connection pool.
func NewClient(token string) *Client {
	return &Client{
		HTTP:  &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16, IdleConnTimeout: 5 * time.Second}},
		Token: token,
	}
}

// Close drops the client's idle connections.
func (c *Client) Close() { c.HTTP.CloseIdleConnections() }

// itemBody is the API's Item, as a black-box client decodes it.
type itemBody struct {
	Item      string           `json:"item"`
	Counters  map[string]int64 `json:"counters"`
	Reactions map[string]int64 `json:"reactions"`
	User      *struct {
		ID       string  `json:"id"`
		Reaction *string `json:"reaction"`
	} `json:"user"`
	Token string `json:"token"`
}

// Answer is what one call returned.
type Answer struct {
	Outcome Outcome
	Status  int        // the HTTP status answered; 0 when no answer came
	Err     string     // why it failed or is unknown
	State   *ItemState // the item as answered (ok only)
	Token   string     // the causal token answered (ok only)
	Stale   bool       // the peer answered before catching up with the token sent
}

// Increment sends POST /v1/items/{item}/counters/{name} with an idempotency key,
// passing the causal token along when one is given.
func (c *Client) Increment(ctx context.Context, base, item, name string, by int64, key, token string) Answer {
	body := fmt.Sprintf(`{"by":%d}`, by)
	h := http.Header{"Idempotency-Key": {key}}
	if token != "" {
		h.Set("X-Causal-Token", token)
	}
	return c.do(ctx, http.MethodPost, base+"/v1/items/"+url.PathEscape(item)+"/counters/"+url.PathEscape(name), body, h)
}

// React sets user's reaction to item ("" clears it), observing the causal token
// when one is given.
func (c *Client) React(ctx context.Context, base, item, user, reaction, token string) Answer {
	u := base + "/v1/items/" + url.PathEscape(item) + "/reactions/" + url.PathEscape(user)
	h := http.Header{}
	if token != "" {
		h.Set("X-Causal-Token", token)
	}
	if reaction == "" {
		return c.do(ctx, http.MethodDelete, u, "", h)
	}
	return c.do(ctx, http.MethodPut, u, fmt.Sprintf(`{"reaction":%q}`, reaction), h)
}

// Read reads an item, with user's reaction when user is set, waiting for the
// causal token when one is given.
func (c *Client) Read(ctx context.Context, base, item, user, token string) Answer {
	u := base + "/v1/items/" + url.PathEscape(item)
	if user != "" {
		u += "?user=" + url.QueryEscape(user)
	}
	h := http.Header{}
	if token != "" {
		h.Set("X-Causal-Token", token)
	}
	return c.do(ctx, http.MethodGet, u, "", h)
}

// ReadMany reads items (at most 100) in one call and returns their states. It
// is not a recorded call: the checker reads final states with the project's
// Go client.
func (c *Client) ReadMany(ctx context.Context, base string, items []string) (PeerState, error) {
	s, err := c.session(base)
	if err != nil {
		return nil, err
	}
	list, err := s.GetMany(ctx, items, "")
	if err != nil {
		return nil, err
	}
	st := PeerState{}
	for _, it := range list {
		st[it.Item] = ItemState{Counters: it.Counters, Tallies: it.Reactions}
	}
	return st, nil
}

// session returns a session of the project's Go client on base alone, with no
// retry: for the checker's own reads, not for the recorded calls, which this
// package makes and classifies itself, independently of the code under test.
func (c *Client) session(base string) (*client.Session, error) {
	cl, err := client.New(client.Config{Peers: []string{base}, Token: c.Token, HTTPClient: c.HTTP, Attempts: 1})
	if err != nil {
		return nil, err
	}
	return cl.Session(), nil
}

// Unsettled says, by base's GET /v1/mesh, which other peer the peer is not
// linked to or has changes not yet acknowledged by, or "" if none: together
// with equal views on every peer, the sign that registers — which no view
// shows — agree too. An API without /v1/mesh (404) counts as settled.
func (c *Client) Unsettled(ctx context.Context, base string) (string, error) {
	s, err := c.session(base)
	if err != nil {
		return "", err
	}
	raw, err := s.Mesh(ctx)
	var p *client.Problem
	if errors.As(err, &p) && p.Status == http.StatusNotFound {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	var mesh struct {
		Regions []struct {
			Peers []struct {
				Name    string `json:"name"`
				Self    bool   `json:"self"`
				Linked  bool   `json:"linked"`
				LagSeqs uint64 `json:"lag_seqs"`
			} `json:"peers"`
		} `json:"regions"`
	}
	if err := json.Unmarshal(raw, &mesh); err != nil {
		return "", fmt.Errorf("GET %s/v1/mesh: %w", base, err)
	}
	for _, r := range mesh.Regions {
		for _, p := range r.Peers {
			switch {
			case p.Self:
			case !p.Linked:
				return "not linked to " + p.Name, nil
			case p.LagSeqs > 0:
				return fmt.Sprintf("%d changes not yet acknowledged by %s", p.LagSeqs, p.Name), nil
			}
		}
	}
	return "", nil
}

func (c *Client) authorize(req *http.Request) {
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
}

func (c *Client) do(ctx context.Context, method, u, body string, h http.Header) Answer {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = 3 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return Answer{Outcome: Failed, Err: err.Error()}
	}
	req.Header = h
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	c.authorize(req)
	// The transport retries a request with an Idempotency-Key by itself when a
	// reused connection breaks: a refused dial then follows a request that may
	// have been applied.
	var sent atomic.Bool
	req = req.WithContext(httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		WroteRequest: func(httptrace.WroteRequestInfo) { sent.Store(true) },
	}))
	resp, err := c.HTTP.Do(req)
	if err != nil {
		o := transportOutcome(err)
		if sent.Load() {
			o = Unknown
		}
		return Answer{Outcome: o, Err: err.Error()}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	switch {
	case err != nil:
		return Answer{Outcome: unknownUnlessRead(method), Status: resp.StatusCode, Err: "reading the answer: " + err.Error()}
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		var it itemBody
		if err := json.Unmarshal(data, &it); err != nil {
			return Answer{Outcome: unknownUnlessRead(method), Status: resp.StatusCode, Err: fmt.Sprintf("%s answered %s with an undecodable item: %v", u, resp.Status, err)}
		}
		return Answer{
			Outcome: OK,
			Status:  resp.StatusCode,
			State:   &ItemState{Counters: it.Counters, Tallies: it.Reactions},
			Token:   it.Token,
			Stale:   resp.Header.Get("X-Causal-Stale") == "true",
		}
	case resp.StatusCode == http.StatusServiceUnavailable || resp.StatusCode >= 500:
		// 503 covers a write not durable in time: it may still be applied.
		return Answer{Outcome: unknownUnlessRead(method), Status: resp.StatusCode, Err: fmt.Sprintf("%s: %s", resp.Status, bytes.TrimSpace(data))}
	default:
		return Answer{Outcome: Failed, Status: resp.StatusCode, Err: fmt.Sprintf("%s: %s", resp.Status, bytes.TrimSpace(data))}
	}
}

// unknownUnlessRead: a read that went wrong changed nothing.
func unknownUnlessRead(method string) Outcome {
	if method == http.MethodGet {
		return Failed
	}
	return Unknown
}

// transportOutcome classifies an error from sending a request: refused before
// anything was sent means failed; anything later may have been applied.
func transportOutcome(err error) Outcome {
	if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH) {
		return Failed
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return Failed
	}
	return Unknown
}

// ErrGaveUp is returned by WaitHealthy when its stop channel closed first.
var ErrGaveUp = errors.New("chaos: stopped waiting for the API")

// WaitHealthy waits until base's GET /healthz answers 200, for up to 30 s or
// until stop (which may be nil) is closed — say, when the peer's process exits.
func WaitHealthy(ctx context.Context, base string, stop <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	var last error
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/healthz", nil)
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = errors.New(resp.Status)
		}
		last = err
		select {
		case <-stop:
			return ErrGaveUp
		case <-ctx.Done():
			return fmt.Errorf("GET %s/healthz did not answer 200: %w (last: %v)", base, ctx.Err(), last)
		case <-time.After(20 * time.Millisecond):
		}
	}
}
