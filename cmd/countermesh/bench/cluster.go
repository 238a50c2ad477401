package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/countermesh/countermesh/cmd/countermesh/meshfiles"
	"github.com/countermesh/countermesh/persist"
	"github.com/countermesh/countermesh/region"
	"github.com/countermesh/countermesh/region/httpapi"
	"github.com/countermesh/countermesh/sync/transport/faultnet"
)

// cluster is a mesh of real peers in this process — Badger stores, QUIC with
// mutual TLS, memberlist — over an in-memory network with a delay between
// regions, one peer per region, each optionally with its HTTP API on a loopback
// port.
type cluster struct {
	dir   string
	net   *faultnet.Network
	nodes []*node
	opts  clusterOptions
}

type clusterOptions struct {
	// store returns the store options of a peer (production or small).
	store func(dir string) persist.Options
	// delay is the one-way delay between regions.
	delay time.Duration
	// api serves each peer's HTTP API on a loopback port.
	api bool
	log *slog.Logger
}

// node is one peer of a cluster.
type node struct {
	region, name, host, dataDir string
	peer                        *region.Peer
	url                         string // the API's base URL, when served
	srv                         *http.Server
	stop                        context.CancelFunc
	wg                          sync.WaitGroup
}

// startCluster writes a topology of the regions with certificates under dir and
// starts one peer per region.
func startCluster(dir string, regions []string, opts clusterOptions) (*cluster, error) {
	c := &cluster{dir: dir, net: faultnet.New(1), opts: opts}
	for i, r := range regions {
		c.nodes = append(c.nodes, &node{region: r, name: r + "-1", host: fmt.Sprintf("127.1.%d.1", i+1),
			dataDir: filepath.Join(dir, "data", r)})
	}
	if err := c.writeTopology(); err != nil {
		c.close()
		return nil, err
	}
	for _, a := range c.nodes {
		for _, b := range c.nodes {
			if a != b && opts.delay > 0 {
				c.net.SetFaults(a.host, b.host, faultnet.Faults{Delay: opts.delay})
			}
		}
	}
	for _, n := range c.nodes {
		if err := c.start(n); err != nil {
			c.close()
			return nil, fmt.Errorf("start %s: %w", n.name, err)
		}
	}
	return c, nil
}

func (c *cluster) writeTopology() error {
	var peers []meshfiles.Peer
	for _, n := range c.nodes {
		peers = append(peers, meshfiles.Peer{Region: n.region, Name: n.name, Host: n.host, API: n.host + ":8080"})
	}
	return meshfiles.Write(c.dir, "bench", "", peers)
}

// config returns the configuration of a peer: production timings between
// regions (20 ms flush, 30 s anti-entropy), fast local membership.
func (c *cluster) config(n *node) region.Config {
	cfg := region.DefaultLocalConfig()
	cfg.TopologyFile = filepath.Join(c.dir, meshfiles.Topology)
	cfg.PeerName = n.name
	cfg.DataDir = n.dataDir
	cfg.Network = c.net
	cfg.Logger = c.opts.log
	cfg.StoreOptions = c.opts.store
	cfg.Exchange.FlushInterval = region.DefaultConfig().Exchange.FlushInterval
	cfg.AntiEntropyInterval = region.DefaultConfig().AntiEntropyInterval
	return cfg
}

// start opens a node's peer on its data directory and runs it, with its API.
func (c *cluster) start(n *node) error {
	p, err := region.New(c.config(n))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	n.peer, n.stop = p, cancel
	n.wg.Go(func() { p.Run(ctx) })
	if !c.opts.api {
		return nil
	}
	api, err := httpapi.New(httpapi.Config{Backend: p, Logger: c.opts.log, RateLimit: -1,
		MaxWritesInFlight: 1 << 16})
	if err != nil {
		c.stop(n)
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		c.stop(n)
		return err
	}
	n.url = "http://" + ln.Addr().String()
	n.srv = api.HTTPServer(ln.Addr().String())
	n.wg.Go(func() { api.Run(ctx) })
	n.wg.Go(func() {
		if err := n.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			c.opts.log.Error("api", "peer", n.name, "err", err)
		}
	})
	return nil
}

// stop stops a node's API and peer (the store is closed) and waits for them.
func (c *cluster) stop(n *node) error {
	if n.stop == nil {
		return nil
	}
	n.stop()
	if n.srv != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		n.srv.Shutdown(sctx)
		cancel()
		n.srv = nil
	}
	err := n.peer.Close()
	n.wg.Wait()
	n.stop = nil
	return err
}

// waitLinked waits until every peer has a link to every other one.
func (c *cluster) waitLinked(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for _, a := range c.nodes {
		for _, b := range c.nodes {
			for a != b && !a.peer.Linked(b.name) {
				if time.Now().After(deadline) {
					return fmt.Errorf("%s did not link to %s within %s", a.name, b.name, timeout)
				}
				if !sleepCtx(ctx, 10*time.Millisecond) {
					return ctx.Err()
				}
			}
		}
	}
	return nil
}

// converged reports whether every peer holds the same state.
func (c *cluster) converged() bool {
	stores := make([]*persist.Store, len(c.nodes))
	for i, n := range c.nodes {
		stores[i] = n.peer.Store()
	}
	return persist.SameState(stores...)
}

// close stops every node and the network.
func (c *cluster) close() error {
	var errs []error
	for _, n := range c.nodes {
		errs = append(errs, c.stop(n))
	}
	c.net.Close()
	return errors.Join(errs...)
}
