// Package regiontest runs whole meshes of real peers in one process — real QUIC,
// memberlist and Badger — over a fault network that tests can partition, for the
// tests of region and of the mesh as a whole.
package regiontest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/countermesh/countermesh/persist"
	"github.com/countermesh/countermesh/region"
	"github.com/countermesh/countermesh/sync/transport/faultnet"
	"github.com/countermesh/countermesh/topology/pki"
)

// The fault network is a network a peer can run on.
var _ region.Network = (*faultnet.Network)(nil)

// Mesh is a mesh of peers in one process, over a fault network.
type Mesh struct {
	t    testing.TB
	Name string
	Dir  string               // topology, certificates, data directories
	Net  *faultnet.Network    // the network every peer runs on
	CA   *pki.CA              // the mesh's CA
	File string               // the topology file
	Tune func(*region.Config) // applied to every peer's config, if set

	// Launch, if set, starts each peer in place of the Mesh, which runs the
	// peer alone: a mesh whose peers serve their APIs sets it to start nodes
	// (region/node, a layer this package, region's own, may not import). It
	// returns the running peer and what stops it.
	Launch func(cfg region.Config) (*region.Peer, io.Closer, error)

	mu      sync.Mutex
	regions []string            // in topology order
	peers   map[string][]string // region → peer names
	nodes   map[string]*Node    // running peers
	hosts   map[string]string   // peer → host IP
}

// Node is one peer of a Mesh.
type Node struct {
	Name, Region, Host string
	DataDir            string
	Peer               *region.Peer
	stop               io.Closer
}

// NewMesh writes a topology of the given regions with perRegion peers each, with
// certificates, and starts every peer. Everything stops when the test ends.
func NewMesh(t testing.TB, regions []string, perRegion int) *Mesh {
	t.Helper()
	ca, err := pki.NewCA("test")
	if err != nil {
		t.Fatal(err)
	}
	m := &Mesh{
		t: t, Name: "test", Dir: t.TempDir(), Net: faultnet.New(1), CA: ca,
		peers: map[string][]string{}, nodes: map[string]*Node{}, hosts: map[string]string{},
	}
	m.File = filepath.Join(m.Dir, "topology.yaml")
	m.write("ca.crt", ca.CertPEM())
	m.write("gossip.key", pki.EncodeGossipKey(pki.NewGossipKey()))
	t.Cleanup(func() {
		m.StopAll()
		m.Net.Close()
	})
	for _, r := range regions {
		m.AddRegion(r, perRegion)
	}
	m.WriteTopology()
	for _, r := range regions {
		for _, name := range m.PeersOf(r) {
			m.Start(name)
		}
	}
	return m
}

func (m *Mesh) write(name string, data []byte) {
	if err := os.WriteFile(filepath.Join(m.Dir, name), data, 0o600); err != nil {
		m.t.Fatal(err)
	}
}

// AddRegion adds a region of n peers to the mesh's description, with their
// certificates. WriteTopology puts it in the file; Start runs its peers.
func (m *Mesh) AddRegion(name string, n int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.regions = append(m.regions, name)
	r := len(m.regions)
	for i := 1; i <= n; i++ {
		peer := fmt.Sprintf("%s-%d", name, i)
		host := fmt.Sprintf("127.1.%d.%d", r, i)
		m.peers[name] = append(m.peers[name], peer)
		m.hosts[peer] = host
		cert, key, err := m.CA.Issue(pki.PeerIdentity{Mesh: m.Name, Region: name, Name: peer, Hosts: []string{host}})
		if err != nil {
			m.t.Fatal(err)
		}
		m.write(peer+".crt", cert)
		m.write(peer+".key", key)
	}
}

// RemoveRegion drops a region from the mesh's description (its peers keep
// running until stopped).
func (m *Mesh) RemoveRegion(name string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.regions = slices.DeleteFunc(m.regions, func(r string) bool { return r == name })
}

// WriteTopology writes the topology file from the mesh's description.
func (m *Mesh) WriteTopology() {
	m.mu.Lock()
	defer m.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "mesh: %s\nreaction_kinds: [like, dislike]\nsecurity:\n  ca: ca.crt\n  gossip_key: gossip.key\nregions:\n", m.Name)
	for _, r := range m.regions {
		fmt.Fprintf(&b, "  - name: %s\n    peers:\n", r)
		for _, p := range m.peers[r] {
			h := m.hosts[p]
			fmt.Fprintf(&b, "      - name: %s\n        gossip: %s:7946\n        sync: %s:7000\n        api: %s:8080\n        cert: %s.crt\n        key: %s.key\n",
				p, h, h, h, p, p)
		}
	}
	tmp := m.File + ".tmp"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o644); err != nil {
		m.t.Fatal(err)
	}
	if err := os.Rename(tmp, m.File); err != nil {
		m.t.Fatal(err)
	}
}

// PeersOf returns the peers of a region.
func (m *Mesh) PeersOf(region string) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.peers[region])
}

// Host returns a peer's host on the fault network.
func (m *Mesh) Host(peer string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.hosts[peer]
}

// HostsOf returns the hosts of a region's peers.
func (m *Mesh) HostsOf(region string) []string {
	var hosts []string
	for _, p := range m.PeersOf(region) {
		hosts = append(hosts, m.Host(p))
	}
	return hosts
}

// Config returns the configuration a peer of the mesh runs with.
func (m *Mesh) Config(peer string) region.Config {
	cfg := region.DefaultLocalConfig()
	cfg.TopologyFile = m.File
	cfg.PeerName = peer
	cfg.DataDir = filepath.Join(m.Dir, "data", peer)
	cfg.Network = m.Net
	cfg.Logger = Logger()
	if m.Tune != nil {
		m.Tune(&cfg)
	}
	return cfg
}

// Start starts (or restarts) a peer on its data directory.
func (m *Mesh) Start(peer string) *Node {
	m.t.Helper()
	cfg := m.Config(peer)
	launch := m.Launch
	if launch == nil {
		launch = runPeer
	}
	p, stop, err := launch(cfg)
	if err != nil {
		m.t.Fatalf("start %s: %v", peer, err)
	}
	n := &Node{Name: peer, Host: m.Host(peer), DataDir: cfg.DataDir, Peer: p, stop: stop}
	m.mu.Lock()
	m.nodes[peer] = n
	m.mu.Unlock()
	return n
}

// runPeer starts a peer alone; its Close stops it and waits for Run.
func runPeer(cfg region.Config) (*region.Peer, io.Closer, error) {
	p, err := region.New(cfg)
	if err != nil {
		return nil, nil, err
	}
	go p.Run(context.Background())
	return p, p, nil
}

// Stop stops a peer gracefully and waits for it.
func (m *Mesh) Stop(peer string) {
	m.mu.Lock()
	n := m.nodes[peer]
	delete(m.nodes, peer)
	m.mu.Unlock()
	if n == nil {
		return
	}
	done := make(chan error, 1)
	go func() { done <- n.stop.Close() }()
	select {
	case err := <-done:
		if err != nil {
			m.t.Logf("stop %s: %v", peer, err)
		}
	case <-time.After(30 * time.Second):
		m.t.Errorf("peer %s did not stop within 30 s", peer)
	}
}

// StopAll stops every running peer.
func (m *Mesh) StopAll() {
	m.mu.Lock()
	names := make([]string, 0, len(m.nodes))
	for n := range m.nodes {
		names = append(names, n)
	}
	m.mu.Unlock()
	var wg sync.WaitGroup
	for _, n := range names {
		wg.Go(func() { m.Stop(n) })
	}
	wg.Wait()
}

// Wipe deletes a stopped peer's data directory: it comes back as a new replica.
func (m *Mesh) Wipe(peer string) {
	if err := os.RemoveAll(m.Config(peer).DataDir); err != nil {
		m.t.Fatal(err)
	}
}

// Node returns a running peer, or nil.
func (m *Mesh) Node(peer string) *Node {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.nodes[peer]
}

// Running returns the names of the running peers, sorted.
func (m *Mesh) Running() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Sorted(maps.Keys(m.nodes))
}

// Write applies ops at a peer, failing the test on error.
func (m *Mesh) Write(peer string, ops ...persist.Op) []persist.Result {
	m.t.Helper()
	n := m.Node(peer)
	if n == nil {
		m.t.Fatalf("write at %s: not running", peer)
	}
	res, err := n.Peer.Store().Write(context.Background(), ops...)
	if err != nil {
		m.t.Fatalf("write at %s: %v", peer, err)
	}
	return res
}

// Converged reports whether the given running peers (all running ones when none
// are named) hold the same state.
func (m *Mesh) Converged(peers ...string) bool {
	if len(peers) == 0 {
		peers = m.Running()
	}
	stores := make([]*persist.Store, len(peers))
	for i, name := range peers {
		n := m.Node(name)
		if n == nil {
			return false
		}
		stores[i] = n.Peer.Store()
	}
	return persist.SameState(stores...)
}

// WaitConverged waits until the peers converge, failing the test after timeout,
// and returns how long it took.
func (m *Mesh) WaitConverged(timeout time.Duration, peers ...string) time.Duration {
	m.t.Helper()
	start := time.Now()
	for !m.Converged(peers...) {
		if time.Since(start) > timeout {
			m.t.Fatalf("peers %v did not converge within %s", peers, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Since(start)
}

// Logger returns the logger of test peers: silent unless COUNTERMESH_TEST_LOG is
// set (to debug, info, warn or error).
func Logger() *slog.Logger {
	level := os.Getenv("COUNTERMESH_TEST_LOG")
	if level == "" {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	var l slog.Level
	l.UnmarshalText([]byte(level))
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l}))
}
