// Package inprocess runs chaos against a mesh of real peers in one process —
// real QUIC with mutual TLS, memberlist and Badger, each peer with its HTTP API on
// a loopback port — over the in-memory fault network, which partitions, loses,
// delays and flaps packets, and with a clock per region that can be skewed.
package inprocess

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/countermesh/countermesh/region"
	"github.com/countermesh/countermesh/region/httpapi"
	"github.com/countermesh/countermesh/region/node"
	"github.com/countermesh/countermesh/region/regiontest"
	"github.com/countermesh/countermesh/tests/chaos"
	"github.com/countermesh/countermesh/topology"
)

// token is the bearer token of every peer's API.
const token = "chaos-token"

// Cluster is a mesh of regiontest peers with their APIs, for chaos.Run.
type Cluster struct {
	t    testing.TB
	mesh *regiontest.Mesh

	mu      sync.Mutex
	regions []string                 // in order of creation
	skews   map[string]*atomic.Int64 // region → clock offset in ns
	nodes   map[string]*node.Node    // running nodes, by peer
	addrs   map[string]string        // peer → API address, kept across restarts
	killed  map[string]bool          // peers killed and not restarted
	added   int                      // regions added by the add-region fault
	lost    string                   // the region whose answers to writes are lost, if any
	flap    context.CancelFunc       // stops the flapping link, if one flaps
	flapped sync.WaitGroup
}

// New starts a mesh of len(regions) regions of perRegion peers, each with its
// API. Everything stops when the test ends.
func New(t testing.TB, regions []string, perRegion int) *Cluster {
	t.Setenv("QUIC_GO_DISABLE_RECEIVE_BUFFER_WARNING", "1")
	c := &Cluster{
		t: t, regions: slices.Clone(regions),
		skews: map[string]*atomic.Int64{}, nodes: map[string]*node.Node{}, addrs: map[string]string{}, killed: map[string]bool{},
	}
	// The mesh is made with no region, so Tune and Launch are in place before
	// any peer runs.
	c.mesh = regiontest.NewMesh(t, nil, 0)
	c.mesh.Tune = c.tune
	c.mesh.Launch = c.launch
	t.Cleanup(c.stopFlap)
	for _, r := range regions {
		c.mesh.AddRegion(r, perRegion)
	}
	c.mesh.WriteTopology()
	for _, r := range regions {
		for _, p := range c.mesh.PeersOf(r) {
			c.mesh.Start(p)
		}
	}
	return c
}

// tune gives each peer its region's clock.
func (c *Cluster) tune(cfg *region.Config) {
	skew := c.skewOf(c.regionOf(cfg.PeerName))
	cfg.WallClock = func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
}

func (c *Cluster) skewOf(r string) *atomic.Int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.skews[r] == nil {
		c.skews[r] = &atomic.Int64{}
	}
	return c.skews[r]
}

func (c *Cluster) regionOf(peer string) string {
	c.mu.Lock()
	regions := slices.Clone(c.regions)
	c.mu.Unlock()
	for _, r := range regions {
		if slices.Contains(c.mesh.PeersOf(r), peer) {
			return r
		}
	}
	return ""
}

// launch starts a peer as a node with its API, on the API address it had
// before if any, for the mesh's Start.
func (c *Cluster) launch(cfg region.Config) (*region.Peer, io.Closer, error) {
	peer := cfg.PeerName
	c.mu.Lock()
	addr := c.addrs[peer]
	c.mu.Unlock()
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := listen(addr)
	if err != nil {
		return nil, nil, fmt.Errorf("api of %s: %w", peer, err)
	}
	n, err := node.New(node.Config{
		Peer:     cfg,
		Listener: ln,
		API: func(*topology.Topology, *topology.Material) (httpapi.Config, error) {
			return httpapi.Config{
				Tokens: map[string]string{token: "chaos"}, RateLimit: -1, WriteTimeout: 2 * time.Second,
				// Clocks are skewed by 30 s (faults.go): tokens may carry that far, so
				// that causal order across skewed regions is exercised.
				MaxTokenAhead: 45 * time.Second,
			}, nil
		},
		WrapHandler: func(h http.Handler) http.Handler {
			return dropAnswers(h, func() bool { return c.losesAnswers(peer) })
		},
	})
	if err != nil {
		return nil, nil, err
	}
	if err := n.Start(); err != nil {
		n.Close()
		return nil, nil, err
	}
	c.mu.Lock()
	c.nodes[peer], c.addrs[peer] = n, n.Addr()
	delete(c.killed, peer)
	c.mu.Unlock()
	return n.Peer(), n, nil
}

// listen listens on addr, retrying briefly while a closed listener's port is
// still being released.
func listen(addr string) (net.Listener, error) {
	var err error
	for range 50 {
		var ln net.Listener
		if ln, err = net.Listen("tcp", addr); err == nil {
			return ln, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil, err
}

// Describe implements chaos.Cluster.
func (c *Cluster) Describe() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return fmt.Sprintf("in process, %d regions, %d peers, real QUIC + memberlist + Badger over the fault network", len(c.regions), len(c.addrs))
}

// Peers implements chaos.Cluster.
func (c *Cluster) Peers() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Sorted(maps.Keys(c.addrs))
}

// Region implements chaos.Cluster.
func (c *Cluster) Region(peer string) string { return c.regionOf(peer) }

// API implements chaos.Cluster.
func (c *Cluster) API(peer string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return "http://" + c.addrs[peer]
}

// Token implements chaos.Cluster.
func (c *Cluster) Token() string { return token }

// Kill implements chaos.Cluster: the peer is cut off the network at once (no
// packet leaves it: nothing pending is shipped, no goodbye gossiped), its API
// closes every connection, and then it stops.
func (c *Cluster) Kill(peer string) error {
	c.mu.Lock()
	if c.killed[peer] {
		c.mu.Unlock()
		return fmt.Errorf("%s already killed", peer)
	}
	c.killed[peer] = true
	n := c.nodes[peer]
	delete(c.nodes, peer)
	c.mu.Unlock()
	c.mesh.Net.Isolate(c.mesh.Host(peer))
	if n != nil {
		n.Kill() // what it returns, the mesh's Stop logs
	}
	c.mesh.Stop(peer)
	return nil
}

// Restart implements chaos.Cluster.
func (c *Cluster) Restart(ctx context.Context, peer string) error {
	c.mesh.Net.Rejoin(c.mesh.Host(peer))
	c.mesh.Start(peer)
	return chaos.WaitHealthy(ctx, c.API(peer), nil)
}

// Heal implements chaos.Cluster.
func (c *Cluster) Heal(ctx context.Context) error {
	c.stopFlap()
	c.mesh.Net.Heal()
	c.unskew(ctx)
	c.mu.Lock()
	var dead []string
	for p := range c.killed {
		dead = append(dead, p)
	}
	c.mu.Unlock()
	for _, p := range dead {
		if err := c.Restart(ctx, p); err != nil {
			return err
		}
	}
	return nil
}

// Final implements chaos.Cluster: it reads every running peer's store.
func (c *Cluster) Final(ctx context.Context, items []string) (map[string]chaos.PeerState, error) {
	out := map[string]chaos.PeerState{}
	for _, p := range c.Peers() {
		n := c.mesh.Node(p)
		if n == nil {
			return nil, fmt.Errorf("%s is not running", p)
		}
		st, err := chaos.StoreState(n.Peer.Store(), items)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		out[p] = st
	}
	return out, nil
}
