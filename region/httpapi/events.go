package httpapi

import (
	"errors"
	"net/http"
	"time"

	"github.com/countermesh/countermesh/region/httpapi/live"
)

// eventWriteTimeout bounds one write to a live stream: a client that stops
// reading is dropped instead of holding its stream open forever. The deadline
// covers the write alone and is cleared once it is done: under HTTP/2 a write
// deadline resets the stream when it passes, written to or not, so one left set
// would end an idle stream.
const eventWriteTimeout = 10 * time.Second

// heartbeat is the SSE comment sent on idle streams.
var heartbeat = []byte(": heartbeat\n\n")

// events serves GET /v1/items/{item}/events: a text/event-stream of "item"
// events, each an Item as JSON — the current state first, then the latest state
// at most every LiveInterval while it changes — and a comment every Heartbeat.
func (s *Server) events(w http.ResponseWriter, r *http.Request) error {
	item := r.PathValue("item")
	if p := s.checkID("item", item); p != nil {
		return p
	}
	release, p := s.holdStream(r)
	if p != nil {
		return p
	}
	defer release()
	sub, err := s.hub.Subscribe(item)
	if errors.Is(err, live.ErrTooManySubscribers) {
		return unavailable(5, "this peer already serves its maximum of %d live subscribers; retry later or at another peer",
			s.cfg.MaxSubscribers)
	}
	if err != nil {
		return err
	}
	defer sub.Close()

	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // tell nginx-like proxies not to buffer the stream
	w.WriteHeader(http.StatusOK)
	send := func(b []byte) bool {
		rc.SetWriteDeadline(time.Now().Add(eventWriteTimeout)) // unsupported: no deadline
		if _, err := w.Write(b); err != nil {
			return false
		}
		if rc.Flush() != nil {
			return false
		}
		rc.SetWriteDeadline(time.Time{}) // idle until the next send, however long
		return true
	}
	if !send(nil) {
		return nil
	}
	beat := time.NewTicker(s.cfg.Heartbeat)
	defer beat.Stop()
	for {
		select {
		case <-r.Context().Done():
			return nil
		case <-s.done:
			return nil
		case b, ok := <-sub.C():
			if !ok || !send(b) {
				return nil
			}
		case <-beat.C:
			if !send(heartbeat) {
				return nil
			}
		}
	}
}

// holdStream counts a live stream against its client address's allowance
// (Config.MaxStreamsPerAddress) when its client is one address, and returns
// what gives it back, or the 429 to answer.
func (s *Server) holdStream(r *http.Request) (release func(), p *Problem) {
	c, _ := r.Context().Value(clientKey{}).(*client)
	if c == nil || !c.perAddress {
		return func() {}, nil
	}
	s.streams.Lock()
	defer s.streams.Unlock()
	if s.streams.open[c.limitKey] >= s.cfg.MaxStreamsPerAddress {
		return nil, newProblem("rate-limited", http.StatusTooManyRequests, "Too many requests",
			"%s already holds %d live streams, the most one client address may; close one first",
			c.limitOf(), s.cfg.MaxStreamsPerAddress).withRetryAfter(5)
	}
	if s.streams.open == nil {
		s.streams.open = map[string]int{}
	}
	s.streams.open[c.limitKey]++
	return func() {
		s.streams.Lock()
		defer s.streams.Unlock()
		if s.streams.open[c.limitKey]--; s.streams.open[c.limitKey] == 0 {
			delete(s.streams.open, c.limitKey)
		}
	}, nil
}

// encodeLive is the live hub's Encode: the item's current state as JSON, with
// no user and the causal token of the moment.
func (s *Server) encodeLive(item string) ([]byte, error) {
	read, err := s.readItem(causal{}, item, "")
	if err != nil {
		return nil, err
	}
	defer read.release()
	return read.appendItem(nil, 0), nil
}
