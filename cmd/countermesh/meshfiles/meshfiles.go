// Package meshfiles writes the topology file and security material of a mesh
// whose peers all run on one machine, and configures its peers: the demo mesh of
// countermesh dev and the meshes countermesh bench starts.
package meshfiles

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/countermesh/countermesh/region"
	"github.com/countermesh/countermesh/topology/pki"
)

// Topology is the name of the topology file Write writes.
const Topology = "topology.yaml"

// Peer is one peer of the mesh, alone in its region.
type Peer struct {
	Region, Name string
	Host         string // its host: gossip on Host:7946, sync on Host:7000
	API          string // its API address, host:port
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

// Write writes into dir (made if missing) the topology file of mesh with the
// reaction kinds like and dislike, a new CA, every peer's certificate and key,
// a gossip key and a token secret. comment, when not empty, heads the topology
// file.
func Write(dir, mesh, comment string, peers []Peer) error {
	ca, err := pki.NewCA(mesh)
	if err != nil {
		return err
	}
	files := map[string][]byte{"ca.crt": ca.CertPEM(), "gossip.key": pki.EncodeGossipKey(pki.NewGossipKey()),
		"token.secret": pki.EncodeTokenSecret(pki.NewTokenSecret())}
	var b strings.Builder
	if comment != "" {
		fmt.Fprintf(&b, "# %s\n", comment)
	}
	fmt.Fprintf(&b, "mesh: %s\nreaction_kinds: [like, dislike]\nsecurity:\n  ca: ca.crt\n  gossip_key: gossip.key\n"+
		"  token_secrets:\n    - id: %[1]s\n      file: token.secret\nregions:\n", mesh)
	for _, p := range peers {
		cert, key, err := ca.Issue(pki.PeerIdentity{Mesh: mesh, Region: p.Region, Name: p.Name, Hosts: []string{p.Host}})
		if err != nil {
			return err
		}
		files[p.Name+".crt"], files[p.Name+".key"] = cert, key
		fmt.Fprintf(&b, "  - name: %s\n    peers:\n      - name: %s\n        gossip: %s:7946\n        sync: %[3]s:7000\n        api: %s\n        cert: %[2]s.crt\n        key: %[2]s.key\n",
			p.Region, p.Name, p.Host, p.API)
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
