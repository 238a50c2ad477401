package netns

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/countermesh/countermesh/topology/pki"
)

// The ports every peer uses, each at its own address.
const (
	gossipPort = 7946
	syncPort   = 7947
	apiPort    = 8080
)

// mesh is the name of the mesh in the topology.
const mesh = "chaos"

// buildBinary builds cmd/countermesh into dir, without the race detector so
// the peers run at full speed, and returns its path.
func buildBinary(dir string) (string, error) {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		goCmd = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	out, err := exec.Command(goCmd, "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("go env GOMOD: not inside the module")
	}
	bin := filepath.Join(dir, "countermesh")
	build := exec.Command(goCmd, "build", "-o", bin, "./cmd/countermesh")
	build.Dir = filepath.Dir(gomod)
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/countermesh: %v\n%s", err, out)
	}
	return bin, nil
}

// material is the mesh's security material in a directory: the CA (kept in
// memory to issue the certificates of peers added later), the gossip key and
// the API token.
type material struct {
	dir   string
	ca    *pki.CA
	token string
}

// newMaterial writes a new CA, gossip key, API token and token secret under
// dir/certs.
func newMaterial(dir string) (*material, error) {
	ca, err := pki.NewCA(mesh)
	if err != nil {
		return nil, err
	}
	m := &material{dir: dir, ca: ca, token: pki.NewToken()}
	err = m.write(map[string][]byte{
		"ca.crt":       ca.CertPEM(),
		"gossip.key":   pki.EncodeGossipKey(pki.NewGossipKey()),
		"chaos.token":  []byte(m.token + "\n"),
		"token.secret": pki.EncodeTokenSecret(pki.NewTokenSecret()),
	})
	return m, err
}

// issue writes a certificate and key for a peer at hosts.
func (m *material) issue(region, peer string, hosts ...string) error {
	cert, key, err := m.ca.Issue(pki.PeerIdentity{Mesh: mesh, Region: region, Name: peer, Hosts: hosts})
	if err != nil {
		return err
	}
	return m.write(map[string][]byte{peer + ".crt": cert, peer + ".key": key})
}

func (m *material) write(files map[string][]byte) error {
	if err := os.MkdirAll(filepath.Join(m.dir, "certs"), 0o700); err != nil {
		return err
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(m.dir, "certs", name), data, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// topologyYAML is the topology of regions (in order) and their peers, each
// with its address.
func topologyYAML(regions []string, peers map[string][]*peer) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "mesh: %s\nreaction_kinds: [like, dislike]\n", mesh)
	b.WriteString("security:\n  ca: certs/ca.crt\n  gossip_key: certs/gossip.key\n")
	b.WriteString("  api_tokens:\n    - name: chaos\n      file: certs/chaos.token\n")
	b.WriteString("  token_secrets:\n    - id: chaos\n      file: certs/token.secret\n")
	b.WriteString("regions:\n")
	for _, r := range regions {
		fmt.Fprintf(&b, "  - name: %s\n    peers:\n", r)
		for _, p := range peers[r] {
			fmt.Fprintf(&b, "      - name: %s\n", p.name)
			fmt.Fprintf(&b, "        gossip: %s:%d\n        sync: %s:%d\n        api: %s:%d\n",
				p.addr, gossipPort, p.addr, syncPort, p.api, apiPort)
			fmt.Fprintf(&b, "        cert: certs/%s.crt\n        key: certs/%s.key\n", p.name, p.name)
		}
	}
	return b.Bytes()
}

// writeAtomic writes data to path through a file renamed over it, so a peer
// reloading the topology reads the old file or the new one, never half.
func writeAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
