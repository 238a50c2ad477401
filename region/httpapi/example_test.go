package httpapi_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/countermesh/countermesh/region/httpapi"
	"github.com/countermesh/countermesh/region/httpapi/httpapitest"
)

// A frontend claps and likes through the API of a peer (here an in-memory
// fake; a real peer is a *region.Peer).
func Example() {
	api, err := httpapi.New(httpapi.Config{
		Backend: httpapitest.New(httpapitest.Config{ReactionKinds: []string{"like", "dislike"}}),
		Tokens:  map[string]string{"s3cret": "frontend"},
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- api.Run(ctx) }()
	srv := httptest.NewServer(api.Handler())
	defer func() { cancel(); <-done; srv.Close() }()

	call := func(method, path, body string) {
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer s3cret")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			panic(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		// Drop the causal token, which differs on every run.
		text, _, _ := strings.Cut(string(b), `,"token"`)
		fmt.Println(resp.StatusCode, text)
	}
	call("POST", "/v1/items/video:abc/counters/claps", `{"by":3}`)
	call("PUT", "/v1/items/video:abc/reactions/u1", `{"reaction":"like"}`)
	call("PUT", "/v1/items/video:abc/reactions/u1", `{"reaction":"love"}`)
	// Output:
	// 200 {"item":"video:abc","counters":{"claps":3},"reactions":{"dislike":0,"like":0}
	// 200 {"item":"video:abc","counters":{"claps":3},"reactions":{"dislike":0,"like":1},"user":{"id":"u1","reaction":"like"}
	// 400 {"type":"urn:countermesh:problem:invalid-request","title":"Invalid request","status":400,"detail":"unknown reaction kind \"love\"; known: like, dislike"}
}
