package inprocess

import (
	"context"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
)

// The lost-answers fault: a region's peers apply every write, then drop the
// connection without answering, as a peer does whose reply is lost on the way
// or that dies between its commit and its answer. The client sees an unknown
// outcome and, like a real frontend, retries elsewhere.

// dropAnswers wraps h: while lost reports true for the peer, a write (PUT, POST,
// DELETE under /v1/) is served in full into a discarded recorder, then the
// request is aborted, which closes an HTTP/1.1 connection and resets an HTTP/2
// stream.
func dropAnswers(h http.Handler, lost func() bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		isWrite := r.Method == http.MethodPut || r.Method == http.MethodPost || r.Method == http.MethodDelete
		if !isWrite || !strings.HasPrefix(r.URL.Path, "/v1/") || !lost() {
			h.ServeHTTP(w, r)
			return
		}
		h.ServeHTTP(httptest.NewRecorder(), r)
		panic(http.ErrAbortHandler)
	})
}

// loseAnswers makes a random region's peers lose their answers to writes.
func (c *Cluster) loseAnswers(_ context.Context, rng *rand.Rand) (string, error) {
	r := pick(rng, c.liveRegions())
	c.mu.Lock()
	c.lost = r
	c.mu.Unlock()
	return r + "'s peers apply writes, then drop the connection unanswered", nil
}

// answerAgain repairs loseAnswers.
func (c *Cluster) answerAgain(context.Context) error {
	c.mu.Lock()
	c.lost = ""
	c.mu.Unlock()
	return nil
}

// losesAnswers reports whether peer's answers to writes are lost now.
func (c *Cluster) losesAnswers(peer string) bool {
	region := c.regionOf(peer)
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lost != "" && c.lost == region
}
