package httpapi

import (
	"bufio"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/countermesh/countermesh/crdt"
	"github.com/countermesh/countermesh/tests/testkit"
)

// stream is a live event stream read block by block (an event or a comment).
type stream struct {
	resp   *http.Response
	blocks chan string // closed at the end of the stream
}

// openStream opens the live stream of item on the API at base.
func openStream(t *testing.T, base, item string) *stream {
	t.Helper()
	return openStreamWith(t, http.DefaultClient, base, item)
}

// openStreamWith opens the live stream of item on the API at base with client.
func openStreamWith(t *testing.T, client *http.Client, base, item string) *stream {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/v1/items/"+item+"/events", nil)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	s := &stream{resp: resp, blocks: make(chan string, 100)}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK {
		return s
	}
	go func() {
		defer close(s.blocks)
		sc := bufio.NewScanner(resp.Body)
		var block []string
		for sc.Scan() {
			if sc.Text() != "" {
				block = append(block, sc.Text())
				continue
			}
			s.blocks <- strings.Join(block, "\n")
			block = nil
		}
	}()
	return s
}

// next returns the next block, failing the test after timeout.
func (s *stream) next(t *testing.T, timeout time.Duration) (string, bool) {
	t.Helper()
	select {
	case b, ok := <-s.blocks:
		return b, ok
	case <-time.After(timeout):
		t.Fatalf("no event within %s", timeout)
		return "", false
	}
}

// nextItem returns the next item event, skipping heartbeats.
func (s *stream) nextItem(t *testing.T) Item {
	t.Helper()
	for {
		b, ok := s.next(t, 5*time.Second)
		if !ok {
			t.Fatal("stream ended")
		}
		if strings.HasPrefix(b, ":") {
			continue
		}
		data, found := strings.CutPrefix(b, "event: item\ndata: ")
		if !found {
			t.Fatalf("unexpected block %q", b)
		}
		var it Item
		if err := json.Unmarshal([]byte(data), &it); err != nil {
			t.Fatalf("event %q: %v", data, err)
		}
		return it
	}
}

func TestLiveEvents(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.LiveInterval = 10 * time.Millisecond
		c.Heartbeat = time.Hour
	})
	e.do("POST", "/v1/items/a/counters/claps", `{"by":5}`).item(t)
	s := openStream(t, e.srv.URL, "a")
	if s.resp.StatusCode != http.StatusOK || s.resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("%d %q", s.resp.StatusCode, s.resp.Header.Get("Content-Type"))
	}
	it := s.nextItem(t)
	if it.Item != "a" || it.Counters["claps"] != 5 || it.Reactions["like"] != 0 || it.User != nil || it.Token == "" {
		t.Fatalf("first event %+v, want the current state", it)
	}

	// A change through the API.
	e.do("PUT", "/v1/items/a/reactions/u1", `{"reaction":"like"}`).item(t)
	if it := s.nextItem(t); it.Reactions["like"] != 1 {
		t.Fatalf("after a like: %+v", it)
	}
	// A change the API did not make (a merged remote change): the peer notifies.
	remote, err := crdt.NewState(0xaa).Add("a", "claps", 2)
	if err != nil {
		t.Fatal(err)
	}
	e.b.Merge(remote)
	if it := s.nextItem(t); it.Counters["claps"] != 7 {
		t.Fatalf("after a notified change: %+v", it)
	}
	// Changes of other items are not sent.
	e.do("POST", "/v1/items/b/counters/claps", `{"by":1}`).item(t)
	e.do("POST", "/v1/items/a/counters/claps", `{"by":1}`).item(t)
	if it := s.nextItem(t); it.Item != "a" || it.Counters["claps"] != 8 {
		t.Fatalf("next event %+v, want a with 8 claps", it)
	}
}

func TestLiveHeartbeatAndShutdown(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Heartbeat = 20 * time.Millisecond })
	s := openStream(t, e.srv.URL, "a")
	s.nextItem(t)
	if b, _ := s.next(t, 5*time.Second); b != ": heartbeat" {
		t.Fatalf("block %q, want a heartbeat", b)
	}
	// Stopping the server ends the stream.
	e.stop()
	for {
		if _, ok := s.next(t, 5*time.Second); !ok {
			break
		}
	}
}

func TestLiveSubscriberLimit(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.MaxSubscribers = 2 })
	a, b := openStream(t, e.srv.URL, "a"), openStream(t, e.srv.URL, "b")
	a.nextItem(t)
	b.nextItem(t)
	if m := string(e.do("GET", "/metrics", "").body); !strings.Contains(m, "countermesh_api_live_subscribers 2") {
		t.Fatal("metrics do not count 2 live subscribers")
	}
	r := e.do("GET", "/v1/items/c/events", "")
	p := r.problem(t, http.StatusServiceUnavailable)
	if !strings.Contains(p.Detail, "maximum of 2 live subscribers") || r.header.Get("Retry-After") == "" {
		t.Fatalf("detail %q, Retry-After %q", p.Detail, r.header.Get("Retry-After"))
	}
	// A subscriber leaving frees its slot.
	a.resp.Body.Close()
	testkit.WaitFor(t, 5*time.Second, "the slot to be freed", func() bool { return e.s.hub.Subscribers() == 1 })
	c := openStream(t, e.srv.URL, "c")
	if c.resp.StatusCode != http.StatusOK {
		t.Fatalf("after a subscriber left: %d", c.resp.StatusCode)
	}
	c.nextItem(t)
}

func TestLiveRefusesBadItem(t *testing.T) {
	e := newEnv(t, nil)
	p := e.do("GET", "/v1/items/a%01/events", "").problem(t, http.StatusBadRequest)
	if !strings.Contains(p.Detail, "item contains the control character U+0001") {
		t.Fatalf("detail %q", p.Detail)
	}
}
