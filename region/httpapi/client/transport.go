package client

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
)

// request is one API request as a transport sends it.
type request struct {
	method string
	peer   string // the peer's base URL, as Config.Peers gives it
	path   string // the path and query, escaped
	body   []byte // JSON, or nil for none
	token  string // the API token, or ""
	causal string // the session's causal token, or ""
	key    string // the idempotency key, or ""
	accept string // the Accept header, or ""
}

// answer is a peer's answer as a transport hands it to the caller. Its body is
// valid only until the callback it was handed to returns.
type answer struct {
	status      int
	body        []byte
	retryAfter  string        // the Retry-After header
	causalToken string        // the X-Causal-Token header
	causalStale string        // the X-Causal-Stale header
	buf         *bytes.Buffer // holds body; back to bodyBuffers on release
}

// bodyBuffers holds the buffers answers' bodies are read into, reused once an
// answer has been read (a page of 20 items is some 4 KiB a call).
var bodyBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// maxPooledBody bounds the buffers kept for reuse: one grown past it by a
// rare large answer is dropped.
const maxPooledBody = 64 << 10

// release gives a's buffer back for reuse, once a has been read.
func (a *answer) release() {
	putBody(a.buf)
	a.buf, a.body = nil, nil
}

// putBody gives buf back to bodyBuffers, unless it is nil or grew too large.
func putBody(buf *bytes.Buffer) {
	if buf != nil && buf.Cap() <= maxPooledBody {
		buf.Reset()
		bodyBuffers.Put(buf)
	}
}

// transport makes API requests. Every implementation is safe for concurrent
// use. roundTrip sends r and, once the whole answer has arrived, hands it to
// read and returns nil; an error (no connection, a timeout, a connection lost,
// an answer that is not HTTP or larger than maxAnswerBytes) leaves the
// request's outcome unknown. A transport sends a request twice only when that
// is safe: see replayable.
type transport interface {
	roundTrip(ctx context.Context, r *request, read func(*answer)) error
}

// maxAnswerBytes bounds an answer's body: a larger one is an error.
const maxAnswerBytes = 16 << 20

// errAnswerTooLarge is an answer whose body exceeds maxAnswerBytes.
var errAnswerTooLarge = fmt.Errorf("answer larger than %d bytes", maxAnswerBytes)

// replayable reports whether a request may be sent twice without changing its
// effect, as net/http's client decides it: a GET, PUT or DELETE, or a
// request carrying an idempotency key. (The client sends no HEAD: answers are
// read as answers to a request that has a body in its answer.)
func replayable(r *request) bool {
	switch r.method {
	case http.MethodGet, http.MethodPut, http.MethodDelete:
		return true
	}
	return r.key != ""
}

// eachHeader calls set with each of r's headers but Host, Content-Type and
// Content-Length.
func eachHeader(r *request, set func(key, value string)) {
	if r.token != "" {
		set("Authorization", "Bearer "+r.token)
	}
	if r.causal != "" {
		set("X-Causal-Token", r.causal)
	}
	if r.key != "" {
		set("Idempotency-Key", r.key)
	}
	if r.accept != "" {
		set("Accept", r.accept)
	}
}

// checkRequest refuses, before any transport sends it, a request whose path
// or header values would not stay what they are on the wire: a control
// character or a space would end them early or add a header (a causal token
// is taken from an answer, so it is the peer's input, not the frontend's).
func checkRequest(r *request) error {
	if r.path == "" || r.path[0] != '/' || !clean(r.path, false) {
		return fmt.Errorf("path %q is not a clean request target", r.path)
	}
	for _, v := range [...]string{r.token, r.causal, r.key, r.accept} {
		if !clean(v, true) {
			return fmt.Errorf("header value %q holds a control character", v)
		}
	}
	return nil
}

// clean reports whether s holds no control character, nor a space unless
// spaces are allowed.
func clean(s string, spaces bool) bool {
	for i := 0; i < len(s); i++ {
		if b := s[i]; b < ' ' || b == 0x7f || (b == ' ' && !spaces) {
			return false
		}
	}
	return true
}

// netHTTPTransport sends requests through a caller's *http.Client (a proxy, a
// custom RoundTripper, its own TLS settings).
type netHTTPTransport struct{ c *http.Client }

func (t netHTTPTransport) roundTrip(ctx context.Context, r *request, read func(*answer)) error {
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, r.peer+r.path, body)
	if err != nil {
		return err
	}
	eachHeader(r, req.Header.Set)
	if r.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := t.c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	buf, err := readBody(resp)
	if err != nil {
		return err
	}
	a := answerOf(resp, buf)
	read(a)
	a.release()
	return nil
}

// readBody reads an answer's whole body, up to maxAnswerBytes, into a buffer
// from bodyBuffers.
func readBody(resp *http.Response) (*bytes.Buffer, error) {
	if resp.ContentLength > maxAnswerBytes {
		return nil, errAnswerTooLarge
	}
	n := resp.ContentLength
	if n < 0 {
		n = 512
	}
	buf := bodyBuffers.Get().(*bytes.Buffer)
	buf.Grow(int(n) + 1)
	if _, err := buf.ReadFrom(io.LimitReader(resp.Body, maxAnswerBytes+1)); err != nil {
		putBody(buf)
		return nil, err
	}
	if buf.Len() > maxAnswerBytes {
		return nil, errAnswerTooLarge
	}
	return buf, nil
}

// answerOf is the answer of resp, with its body in buf.
func answerOf(resp *http.Response, buf *bytes.Buffer) *answer {
	return &answer{
		status:      resp.StatusCode,
		body:        buf.Bytes(),
		buf:         buf,
		retryAfter:  resp.Header.Get("Retry-After"),
		causalToken: resp.Header.Get("X-Causal-Token"),
		causalStale: resp.Header.Get("X-Causal-Stale"),
	}
}
