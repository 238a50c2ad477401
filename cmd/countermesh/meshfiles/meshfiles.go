// Package meshfiles writes the topology file and security material of a mesh
// whose peers all run on one machine, and configures and starts its peers: the
// demo mesh of countermesh dev and the meshes countermesh bench starts.
package meshfiles

import (
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/countermesh/countermesh/cmd/countermesh/servecfg"
	"github.com/countermesh/countermesh/region"
	"github.com/countermesh/countermesh/region/httpapi"
	"github.com/countermesh/countermesh/region/node"
	"github.com/countermesh/countermesh/topology"
	"github.com/countermesh/countermesh/topology/pki"
)

// Topology is the name of the topology file Write writes.
const Topology = "topology.yaml"

// Mesh is what Write writes.
type Mesh struct {
	// Name is the mesh's name.
	Name string
	// Comment, when not empty, heads the topology file.
	Comment string
	// Peers are the mesh's peers, one per region.
	Peers []Peer
	// APIToken, when not empty, names the one API token of the mesh: scope
	// write, no rate_limit of its own (the API's default applies), its secret
	// in the file TokenFile names. Empty: the API runs open.
	APIToken string
}

// Peer is one peer of the mesh, alone in its region.
type Peer struct {
	Region, Name string
	Host         string // its host, which its certificate names
	API          string // its API address, host:port
	// Gossip and Sync are its gossip and sync addresses, host:port; empty
	// for Host:7946 and Host:7000.
	Gossip, Sync string
}

// addrs returns the peer's gossip and sync addresses.
func (p Peer) addrs() (gossip, sync string) {
	return cmp.Or(p.Gossip, p.Host+":7946"), cmp.Or(p.Sync, p.Host+":7000")
}

// Host returns the host of the i-th peer (from 0) of a mesh on one machine, on
// its in-memory network.
func Host(i int) string { return fmt.Sprintf("127.1.%d.1", i+1) }

// Launch writes m into dir, as Write does, and starts its peers in order with
// start, which gets each peer's index in m.Peers. It returns the first error,
// naming the peer that did not start; the caller stops those that did.
func Launch(dir string, m Mesh, start func(i int) error) error {
	if err := Write(dir, m); err != nil {
		return err
	}
	for i, p := range m.Peers {
		if err := start(i); err != nil {
			return fmt.Errorf("start %s: %w", p.Name, err)
		}
	}
	return nil
}

// TokenFile returns the file, under the mesh's directory, holding the API
// token called name.
func TokenFile(name string) string { return name + ".token" }

// ReadAPIToken returns the API token called name of the mesh Write wrote into
// dir, as a frontend given its file reads it.
func ReadAPIToken(dir, name string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, TokenFile(name)))
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// PeerConfig returns the configuration of a peer of the mesh Write wrote into
// dir: fast local timings, its data in dir/data/<region>, on network.
func PeerConfig(dir string, p Peer, network region.Network) region.Config {
	cfg := region.DefaultLocalConfig()
	cfg.TopologyFile = filepath.Join(dir, Topology)
	cfg.PeerName = p.Name
	cfg.DataDir = filepath.Join(dir, "data", p.Region)
	cfg.Network = network
	return cfg
}

// NodeConfig returns the configuration of a node running the peer cfg
// configures, with its HTTP API configured as countermesh serve configures it
// (servecfg.APIConfig, serve's defaults) from the topology and files the peer
// reads.
func NodeConfig(cfg region.Config) node.Config {
	return node.Config{Peer: cfg, API: func(t *topology.Topology, mat *topology.Material) (httpapi.Config, error) {
		return servecfg.APIConfig(t, mat, cfg.Logger, servecfg.DefaultMaxTokenAhead)
	}}
}

// Start makes and starts a node; one that does not start is closed.
func Start(cfg node.Config) (*node.Node, error) {
	n, err := node.New(cfg)
	if err != nil {
		return nil, err
	}
	if err := n.Start(); err != nil {
		n.Close()
		return nil, err
	}
	return n, nil
}

// Write writes into dir (made if missing) the topology file of m with the
// reaction kinds like and dislike, a new CA, every peer's certificate and key,
// a gossip key, a token secret and, when m names one, the API token.
func Write(dir string, m Mesh) error {
	ca, err := pki.NewCA(m.Name)
	if err != nil {
		return err
	}
	files := map[string][]byte{"ca.crt": ca.CertPEM(), "gossip.key": pki.EncodeGossipKey(pki.NewGossipKey()),
		"token.secret": pki.EncodeTokenSecret(pki.NewTokenSecret())}
	var b strings.Builder
	if m.Comment != "" {
		fmt.Fprintf(&b, "# %s\n", m.Comment)
	}
	fmt.Fprintf(&b, "mesh: %s\nreaction_kinds: [like, dislike]\nsecurity:\n  ca: ca.crt\n  gossip_key: gossip.key\n"+
		"  token_secrets:\n    - id: %[1]s\n      file: token.secret\n", m.Name)
	if m.APIToken != "" {
		files[TokenFile(m.APIToken)] = []byte(pki.NewToken() + "\n")
		fmt.Fprintf(&b, "  api_tokens:\n    - name: %s\n      file: %s\n      scope: write\n", m.APIToken, TokenFile(m.APIToken))
	}
	b.WriteString("regions:\n")
	for _, p := range m.Peers {
		cert, key, err := ca.Issue(pki.PeerIdentity{Mesh: m.Name, Region: p.Region, Name: p.Name, Hosts: []string{p.Host}})
		if err != nil {
			return err
		}
		files[p.Name+".crt"], files[p.Name+".key"] = cert, key
		gossip, sync := p.addrs()
		fmt.Fprintf(&b, "  - name: %s\n    peers:\n      - name: %s\n        gossip: %s\n        sync: %s\n        api: %s\n        cert: %[2]s.crt\n        key: %[2]s.key\n",
			p.Region, p.Name, gossip, sync, p.API)
	}
	files[Topology] = []byte(b.String())
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			return err
		}
	}
	return nil
}
