package client_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/countermesh/countermesh/region/httpapi/client"
)

// BenchmarkCall is one call through the client, 64 at a time, to a peer whose
// handler answers a small item at once: what a call costs the frontend's CPU
// and the server's HTTP stack, with each transport. The ns/op of "own" against
// "net-http" is the CPU the client's own transport saves a frontend per call
// (client and server share this machine's cores).
func BenchmarkCall(b *testing.B) {
	cs := newCountingServer(b)
	for _, tr := range []struct {
		name string
		http *http.Client
	}{
		{"own", nil},
		{"net-http", &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 128}}},
	} {
		b.Run(tr.name, func(b *testing.B) {
			c := newClient(b, client.Config{Peers: []string{cs.URL}, Attempts: 1, HTTPClient: tr.http})
			b.SetParallelism(32) // 64 callers on 2 cores
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				s := c.Session()
				for pb.Next() {
					if _, err := s.Get(context.Background(), "a", "u1"); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
