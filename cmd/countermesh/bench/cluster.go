package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/countermesh/countermesh/cmd/countermesh/meshfiles"
	"github.com/countermesh/countermesh/persist"
	"github.com/countermesh/countermesh/region"
	"github.com/countermesh/countermesh/region/node"
	"github.com/countermesh/countermesh/sync/transport/faultnet"
)

// cluster is a mesh of real peers in this process — Badger stores, QUIC with
// mutual TLS, memberlist — over an in-memory network with a delay between
// regions, one peer per region, each optionally with its HTTP API on a loopback
// port.
type cluster struct {
	dir   string
	net   *faultnet.Network
	nodes []*member
	opts  clusterOptions
	// token is the mesh's API token (scope write, the API's default rate
	// limit), as its file holds it: the peers read it from the topology as
	// countermesh serve does, and clients send it.
	token string
}

// apiTokenName is the name of the one API token of the meshes the run starts.
const apiTokenName = "bench"

type clusterOptions struct {
	// store returns the store options of a peer (production or small).
	store func(dir string) persist.Options
	// delay is the one-way delay between regions.
	delay time.Duration
	// api serves each peer's HTTP API on a loopback port.
	api bool
	log *slog.Logger
}

// member is one peer of a cluster.
type member struct {
	region, name, host, dataDir string
	peer                        *region.Peer // of the running node
	url                         string       // the API's base URL, when served
	node                        *node.Node   // nil when stopped
}

// files describes a member for its topology file.
func (n *member) files() meshfiles.Peer {
	return meshfiles.Peer{Region: n.region, Name: n.name, Host: n.host, API: n.host + ":8080"}
}

// startCluster writes a topology of the regions with certificates under dir and
// starts one peer per region, on an in-memory network. Every peer's API needs the mesh's API token, as a
// user's mesh does.
func startCluster(dir string, regions []string, opts clusterOptions) (*cluster, error) {
	c := &cluster{dir: dir, net: faultnet.New(1), opts: opts}
	m := meshfiles.Mesh{Name: "bench", APIToken: apiTokenName}
	for i, r := range regions {
		n := &member{region: r, name: r + "-1", host: meshfiles.Host(i), dataDir: filepath.Join(dir, "data", r)}
		c.nodes = append(c.nodes, n)
		m.Peers = append(m.Peers, n.files())
	}
	for _, a := range c.nodes {
		for _, b := range c.nodes {
			if a != b && opts.delay > 0 {
				c.net.SetFaults(a.host, b.host, faultnet.Faults{Delay: opts.delay})
			}
		}
	}
	err := meshfiles.Launch(dir, m, func(i int) error { return c.start(c.nodes[i]) })
	if err == nil {
		c.token, err = meshfiles.ReadAPIToken(dir, apiTokenName)
	}
	if err != nil {
		c.close()
		return nil, err
	}
	return c, nil
}

// config returns the configuration of a peer: production timings between
// regions (20 ms flush, 30 s anti-entropy), fast local membership.
func (c *cluster) config(n *member) region.Config {
	cfg := meshfiles.PeerConfig(c.dir, n.files(), c.net)
	cfg.Logger = c.opts.log
	cfg.StoreOptions = c.opts.store
	cfg.Exchange.FlushInterval = region.DefaultConfig().Exchange.FlushInterval
	cfg.AntiEntropyInterval = region.DefaultConfig().AntiEntropyInterval
	return cfg
}

// start opens a member's peer on its data directory and runs it, with its API,
// configured as countermesh serve configures it, on a loopback port.
func (c *cluster) start(n *member) error {
	cfg := node.Config{Peer: c.config(n)}
	if c.opts.api {
		cfg = meshfiles.NodeConfig(cfg.Peer)
		cfg.Addr = "127.0.0.1:0"
	}
	nd, err := meshfiles.Start(cfg)
	if err != nil {
		return err
	}
	n.node, n.peer, n.url = nd, nd.Peer(), nd.URL()
	return nil
}

// stop stops a member's API and peer (the store is closed) and waits for them.
func (c *cluster) stop(n *member) error {
	if n.node == nil {
		return nil
	}
	err := n.node.Close()
	n.node = nil
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
