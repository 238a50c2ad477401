package region_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/countermesh/countermesh/region"
	"github.com/countermesh/countermesh/region/regiontest"
	"github.com/countermesh/countermesh/tests/testkit"
	"github.com/countermesh/countermesh/topology/pki"
)

// editTopology replaces old with new in the mesh's topology file, failing
// the test if the file has no old.
func editTopology(t *testing.T, m *regiontest.Mesh, old, new string) {
	t.Helper()
	data, err := os.ReadFile(m.File)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), old) {
		t.Fatalf("the topology has no %q", old)
	}
	if err := writeFile(m.File, strings.Replace(string(data), old, new, 1)); err != nil {
		t.Fatal(err)
	}
}

// reloadAll reloads the topology at each named peer, failing the test on a
// refusal.
func reloadAll(t *testing.T, m *regiontest.Mesh, peers ...string) {
	t.Helper()
	for _, p := range peers {
		if err := m.Node(p).Peer.Reload(); err != nil {
			t.Fatalf("reload at %s: %v", p, err)
		}
	}
}

// TestGossipKeyringRotatesByReload rotates the gossip key of a running mesh
// the way an operator does — the new key listed second, then first, then
// alone — reloading every peer at each step: the peers keep their link and
// replicate throughout, and a region added afterwards, whose topology knows
// only the new key, joins them.
func TestGossipKeyringRotatesByReload(t *testing.T) {
	m := regiontest.NewMesh(t, threeRegions[:2], 1)
	linked := func() bool { return m.Node("eu-1").Peer.Linked("us-1") && m.Node("us-1").Peer.Linked("eu-1") }
	testkit.WaitFor(t, 30*time.Second, "eu-1 and us-1 to link", linked)

	newKey := pki.EncodeGossipKey(pki.NewGossipKey())
	if err := os.WriteFile(filepath.Join(m.Dir, "gossip-2.key"), newKey, 0o600); err != nil {
		t.Fatal(err)
	}
	steps := []string{"gossip_key: gossip.key", "gossip_key: [gossip.key, gossip-2.key]",
		"gossip_key: [gossip-2.key, gossip.key]", "gossip_key: gossip-2.key"}
	for i := 1; i < len(steps); i++ {
		editTopology(t, m, steps[i-1], steps[i])
		reloadAll(t, m, "eu-1", "us-1")
		if !linked() {
			t.Fatalf("after %q the link is down", steps[i])
		}
		writeAt(m, "eu-1", "rotation", 1)
		writeAt(m, "us-1", "rotation", 1)
		m.WaitConverged(30 * time.Second)
	}

	// From here the old key is gone: the file the mesh's topology names holds
	// the new one, and the new region is given only that.
	if err := os.WriteFile(filepath.Join(m.Dir, "gossip.key"), newKey, 0o600); err != nil {
		t.Fatal(err)
	}
	m.AddRegion("ap", 1)
	m.WriteTopology()
	reloadAll(t, m, "eu-1", "us-1")
	m.Start("ap-1")
	testkit.WaitFor(t, 30*time.Second, "ap-1 to link with eu-1 and us-1", func() bool {
		ap := m.Node("ap-1").Peer
		return ap.Linked("eu-1") && ap.Linked("us-1")
	})
	writeAt(m, "ap-1", "after", 2)
	m.WaitConverged(30 * time.Second)
	if !linked() {
		t.Error("eu-1 and us-1 lost their link")
	}
}

// TestReloadNeedingARestartIsRefused: a reload that changes a peer's own API
// address is refused at that peer, saying why, and its topology kept; the
// other peer, whose addresses stay, takes it.
func TestReloadNeedingARestartIsRefused(t *testing.T) {
	m := regiontest.NewMesh(t, threeRegions[:2], 1)
	eu := m.Node("eu-1").Peer
	before := eu.Topology()
	self, _ := before.Peer("eu-1")
	editTopology(t, m, "api: "+self.API, "api: "+m.Host("eu-1")+":8081")

	err := eu.Reload()
	if !errors.Is(err, region.ErrRestartNeeded) || !strings.Contains(err.Error(),
		"api address from "+self.API+" to "+m.Host("eu-1")+":8081") {
		t.Fatalf("reload at eu-1: %v, want a refusal naming the api address", err)
	}
	if eu.Topology() != before {
		t.Error("eu-1 put the refused topology in force")
	}
	reloadAll(t, m, "us-1")
	if p, _ := m.Node("us-1").Peer.Topology().Peer("eu-1"); p.API != m.Host("eu-1")+":8081" {
		t.Errorf("us-1 sees eu-1's api at %s after its reload", p.API)
	}
	writeAt(m, "eu-1", "a", 1)
	m.WaitConverged(30 * time.Second)
}
