package main

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/countermesh/countermesh/cmd/countermesh/meshfiles"
	"github.com/countermesh/countermesh/persist"
	"github.com/countermesh/countermesh/region"
	"github.com/countermesh/countermesh/region/httpapi"
	"github.com/countermesh/countermesh/region/node"
	"github.com/countermesh/countermesh/sync/transport/faultnet"
)

// devRegion is one region of the demo mesh: one peer and its HTTP API.
type devRegion struct {
	name   string
	host   string       // the peer's host on the demo's network
	ln     net.Listener // the API's, until its node takes it
	node   *node.Node
	peer   *region.Peer    // of node
	api    *httpapi.Server // of node
	apiURL string

	mu  sync.Mutex
	cut bool
}

func (r *devRegion) isCut() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cut
}

// devMesh is the demo: real peers (QUIC with mutual TLS, memberlist, Badger),
// linked over an in-memory network the demo can partition, each with its HTTP API
// on a loopback port.
type devMesh struct {
	dir     string
	net     *faultnet.Network
	regions []*devRegion
	log     *slog.Logger
}

// startDevMesh writes a topology and certificates under dir and starts one node
// (a peer with its API) per region.
func startDevMesh(dir string, names []string, logger *slog.Logger) (*devMesh, error) {
	m := &devMesh{dir: dir, net: faultnet.New(1), log: logger}
	mesh := meshfiles.Mesh{Name: "dev", Comment: "The demo mesh of countermesh dev. Its HTTP API is open (no api_tokens)."}
	for i, name := range names {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			m.close()
			return nil, err
		}
		r := &devRegion{name: name, host: meshfiles.Host(i), ln: ln, apiURL: "http://" + ln.Addr().String()}
		m.regions = append(m.regions, r)
		mesh.Peers = append(mesh.Peers, r.files())
	}
	if err := meshfiles.Launch(dir, mesh, func(i int) error { return m.startRegion(m.regions[i]) }); err != nil {
		m.close()
		return nil, err
	}
	return m, nil
}

// files describes a region's peer for its topology file.
func (r *devRegion) files() meshfiles.Peer {
	return meshfiles.Peer{Region: r.name, Name: r.name + "-1", Host: r.host, API: strings.TrimPrefix(r.apiURL, "http://")}
}

// startRegion starts a region's node, its API configured as serve configures
// it (open: the demo's topology lists no API tokens).
func (m *devMesh) startRegion(r *devRegion) error {
	cfg := meshfiles.PeerConfig(m.dir, r.files(), m.net)
	cfg.Logger = m.log.With("region", r.name)
	nc := meshfiles.NodeConfig(cfg)
	nc.Listener, nc.DrainTimeout = r.ln, 2*time.Second
	r.ln = nil // the node closes it, also when it fails
	n, err := meshfiles.Start(nc)
	if err != nil {
		return err
	}
	r.node, r.peer, r.api = n, n.Peer(), n.API()
	return nil
}

// partition cuts a region off from every other region, or heals it.
func (m *devMesh) partition(name string, cut bool) error {
	var target *devRegion
	for _, r := range m.regions {
		if r.name == name {
			target = r
		}
	}
	if target == nil {
		return fmt.Errorf("no region %q", name)
	}
	target.mu.Lock()
	target.cut = cut
	target.mu.Unlock()
	for _, o := range m.regions {
		if o != target {
			f := faultnet.Faults{Down: cut || o.isCut()}
			m.net.SetFaults(target.host, o.host, f)
			m.net.SetFaults(o.host, target.host, f)
		}
	}
	return nil
}

// converged reports whether every region holds the same state.
func (m *devMesh) converged() bool {
	stores := make([]*persist.Store, len(m.regions))
	for i, r := range m.regions {
		stores[i] = r.peer.Store()
	}
	return persist.SameState(stores...)
}

// close stops every region's node, API first, and waits for them.
func (m *devMesh) close() {
	for _, r := range m.regions {
		if r.node != nil {
			r.node.Close()
		} else if r.ln != nil {
			r.ln.Close()
		}
	}
	m.net.Close()
}

var _ io.Writer = (*syncWriter)(nil)
