package client

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	json "github.com/goccy/go-json"
)

// Follow streams item's live state: fn is called with the item's state when the
// stream opens, then with the latest state after changes (the peer coalesces
// them, at most every 100 ms by default). A stream that breaks is reopened at the
// next peer after a backoff, starting again with the current state. Follow
// returns when ctx ends (with ctx's error), when fn returns an error (that
// error), or on an answer no retry can mend (a *Problem such as ErrUnauthorized).
func (s *Session) Follow(ctx context.Context, item string, fn func(Item) error) error {
	path := "/v1/items/" + url.PathEscape(item) + "/events"
	wait := s.c.cfg.Backoff
	for attempt := 0; ; attempt++ {
		peer := s.c.cfg.Peers[attempt%len(s.c.cfg.Peers)]
		opened, err := s.stream(ctx, peer, path, fn)
		var p *Problem
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.As(err, &p) && p.Status != http.StatusTooManyRequests && p.Status < 500:
			return err
		}
		var he *handlerError
		if errors.As(err, &he) {
			return he.err
		}
		if opened {
			wait = s.c.cfg.Backoff
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// handlerError wraps an error returned by Follow's fn.
type handlerError struct{ err error }

func (e *handlerError) Error() string { return "client: follow handler: " + e.err.Error() }

// stream follows one event stream at peer until it ends; opened reports whether
// it delivered at least one event.
func (s *Session) stream(ctx context.Context, peer, path string, fn func(Item) error) (opened bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, peer+path, nil)
	if err != nil {
		return false, fmt.Errorf("client: %w", err)
	}
	eachHeader(&request{token: s.c.cfg.Token, accept: "text/event-stream"}, req.Header.Set)
	// A stream lasts: no overall timeout, only the request's context.
	hc := *s.c.streams
	hc.Timeout = 0
	resp, err := hc.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10)) // a problem, not a stream
		return false, problemOf(peer, resp.StatusCode, raw)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	var data strings.Builder
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "data:"):
			if data.Len() > 0 {
				data.WriteByte('\n')
			}
			data.WriteString(strings.TrimPrefix(strings.TrimPrefix(line, "data:"), " "))
		case line == "" && data.Len() > 0:
			var it Item
			if err := json.Unmarshal([]byte(data.String()), &it); err != nil {
				return opened, fmt.Errorf("client: event from %s: %w", peer, err)
			}
			data.Reset()
			opened = true
			if err := fn(it); err != nil {
				return opened, &handlerError{err}
			}
		}
	}
	if err := sc.Err(); err != nil {
		return opened, err
	}
	return opened, errors.New("client: event stream ended")
}
