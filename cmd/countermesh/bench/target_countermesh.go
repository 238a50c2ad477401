package bench

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/countermesh/countermesh/persist"
	"github.com/countermesh/countermesh/region/httpapi/client"
)

// countermeshSystem is one countermesh peer with its HTTP API, driven as a
// regional frontend drives it: through the Go client with its default
// transport, over HTTP/1.1 keep-alive connections. The writes it measures
// carry no idempotency key, as Redis's and PostgreSQL's do not: an unkeyed
// write is sent once, never retried.
type countermeshSystem struct {
	stop    func() error // stops the peer
	client  *client.Client
	base    string       // the API's base URL
	metrics *http.Client // reads the peer's /metrics
	// pages holds the items of pages read, for the next read to reuse
	// (GetManyInto), as a frontend reading page after page would.
	pages sync.Pool
}

// startCountermesh starts a one-region mesh's peer under dir: as its own
// countermesh serve process when serve has Args, with a memory budget of
// memory bytes when positive; else in this process with opts.
func startCountermesh(dir string, clients int, opts clusterOptions, serve ServeCommand, memory int64) (*countermeshSystem, error) {
	var url, token string
	var stop func() error
	if len(serve.Args) > 0 {
		p, err := startServedPeer(dir, serve, memory)
		if err != nil {
			return nil, err
		}
		url, token, stop = p.url, p.token, p.stop
	} else {
		opts.api = true
		c, err := startCluster(dir, []string{"local"}, opts)
		if err != nil {
			return nil, err
		}
		url, token, stop = c.nodes[0].url, c.token, c.close
	}
	cl, err := client.New(client.Config{Peers: []string{url}, Token: token, Attempts: 1,
		Timeout: 30 * time.Second, ConnsPerPeer: clients})
	if err != nil {
		stop()
		return nil, err
	}
	return &countermeshSystem{stop: stop, client: cl, base: url, metrics: &http.Client{Timeout: 5 * time.Second}}, nil
}

func (s *countermeshSystem) name() string { return sysCountermesh }

// session is a session without a causal token: the bench's clients are
// frontends that do not track one.
func (s *countermeshSystem) session() *client.Session { return s.client.Session() }

func (s *countermeshSystem) write(ctx context.Context, op persist.Op) error {
	var err error
	switch {
	case op.Kind == persist.OpAdd:
		_, err = s.session().AddUnkeyed(ctx, op.Item, op.Counter, op.By)
	case op.Reaction == "":
		_, err = s.session().Unreact(ctx, op.Item, op.User)
	default:
		_, err = s.session().React(ctx, op.Item, op.User, op.Reaction)
	}
	return err
}

func (s *countermeshSystem) writeBatch(ctx context.Context, ops []persist.Op) error {
	batch := make([]client.Op, len(ops))
	for i, op := range ops {
		if op.Kind == persist.OpAdd {
			batch[i] = client.AddOp(op.Item, op.Counter, op.By, op.IdempotencyKey)
		} else {
			batch[i] = client.ReactOp(op.Item, op.User, op.Reaction)
		}
	}
	_, err := s.session().Ops(ctx, batch)
	return err
}

func (s *countermeshSystem) readPage(ctx context.Context, items []string, user string) error {
	page, _ := s.pages.Get().(*[]client.Item)
	if page == nil {
		page = new([]client.Item)
	}
	list, err := s.session().GetManyInto(ctx, items, user, *page)
	if err != nil {
		return err
	}
	*page = list
	s.pages.Put(page)
	if len(list) != len(items) {
		return fmt.Errorf("asked for %d items, got %d", len(items), len(list))
	}
	return nil
}

// noop is the ceiling's request: GET /healthz on the same API server, through
// the same client, transport and connections as the other requests, with the
// token. It reads nothing from the store and needs no authentication.
func (s *countermeshSystem) noop(ctx context.Context) error { return s.client.Ping(ctx) }

// peerStats reads the peer's counts from its /metrics, which needs no token.
func (s *countermeshSystem) peerStats(ctx context.Context) (peerReading, error) {
	return scrapePeer(ctx, s.metrics, s.base)
}

func (s *countermeshSystem) close() error {
	s.metrics.CloseIdleConnections()
	s.client.CloseIdleConnections()
	return s.stop()
}
