package region_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/countermesh/countermesh/persist"
	"github.com/countermesh/countermesh/region/regiontest"
	"github.com/countermesh/countermesh/tests/testkit"
)

var threeRegions = []string{"eu", "us", "ap"}

// writeAt makes n increments of claps on item at peer, and n reactions.
func writeAt(m *regiontest.Mesh, peer, item string, n int) {
	for i := range n {
		m.Write(peer, persist.Add(item, "claps", 1),
			persist.React(item, fmt.Sprintf("%s-u%d", peer, i%5), []string{"like", "dislike"}[i%2]))
	}
}

// cutOff partitions region from the others.
func cutOff(m *regiontest.Mesh, region string, others ...string) {
	var hosts []string
	for _, r := range others {
		hosts = append(hosts, m.HostsOf(r)...)
	}
	m.Net.Partition(m.HostsOf(region), hosts)
}

// clapsAt reads the claps of item at a running peer.
func clapsAt(t *testing.T, m *regiontest.Mesh, peer, item string) int64 {
	t.Helper()
	v, err := m.Node(peer).Peer.Store().ReadItem(item, "")
	if err != nil {
		t.Fatal(err)
	}
	return v.Counters["claps"]
}

func TestWritesAtEveryPeerConverge(t *testing.T) {
	m := regiontest.NewMesh(t, threeRegions, 2)
	peers := m.Running()
	for _, p := range peers {
		writeAt(m, p, "article", 20)
	}
	took := m.WaitConverged(30 * time.Second)
	t.Logf("converged %s after the last write", took)
	for _, p := range peers {
		if got := clapsAt(t, m, p, "article"); got != int64(20*len(peers)) {
			t.Errorf("%s: claps %d, want %d", p, got, 20*len(peers))
		}
	}
}

func TestPartitionedRegionConvergesAfterHealWithNothingLost(t *testing.T) {
	m := regiontest.NewMesh(t, threeRegions, 2)
	m.WaitConverged(30 * time.Second)
	cutOff(m, "ap", "eu", "us")
	// Load on both sides of the partition for a while.
	acked := 0
	for range 3 {
		for _, p := range m.Running() {
			writeAt(m, p, "hot", 10)
			acked += 10
		}
		time.Sleep(200 * time.Millisecond) // let the partition last; not a wait for a condition
	}
	if m.Converged() {
		t.Fatal("the mesh converged across a partition")
	}
	m.Net.Heal()
	took := m.WaitConverged(60 * time.Second)
	t.Logf("converged %s after the heal", took)
	for _, p := range m.Running() {
		if got := clapsAt(t, m, p, "hot"); got != int64(acked) {
			t.Errorf("%s: claps %d, want every acknowledged increment: %d", p, got, acked)
		}
	}
}

func TestRestartedPeerCatchesUpFromTheLog(t *testing.T) {
	m := regiontest.NewMesh(t, threeRegions[:2], 1)
	writeAt(m, "eu-1", "a", 10)
	m.WaitConverged(30 * time.Second)
	replica := m.Node("us-1").Peer.Store().Replica()
	m.Stop("us-1")
	writeAt(m, "eu-1", "a", 10)
	m.Start("us-1")
	m.WaitConverged(30 * time.Second)
	if got := m.Node("us-1").Peer.Store().Replica(); got != replica {
		t.Errorf("restart changed the replica id: %s → %s", replica, got)
	}
	if got := clapsAt(t, m, "us-1", "a"); got != 20 {
		t.Errorf("claps after catch-up = %d, want 20", got)
	}
}

func TestPeerWithAnEmptyDataDirIsANewReplicaAndCatchesUp(t *testing.T) {
	m := regiontest.NewMesh(t, threeRegions[:2], 1)
	m.Tune = nil
	writeAt(m, "us-1", "a", 10) // us-1's own writes, which it will lose
	writeAt(m, "eu-1", "a", 10)
	m.WaitConverged(30 * time.Second)
	replica := m.Node("us-1").Peer.Store().Replica()
	m.Stop("us-1")
	m.Wipe("us-1")
	m.Start("us-1")
	m.WaitConverged(30 * time.Second)
	if got := m.Node("us-1").Peer.Store().Replica(); got == replica {
		t.Error("a wiped peer reused its replica id")
	}
	// Its old writes live on in eu-1 and come back by anti-entropy.
	if got := clapsAt(t, m, "us-1", "a"); got != 20 {
		t.Errorf("claps on the new replica = %d, want 20", got)
	}
}

func TestPartialPartitionStillConverges(t *testing.T) {
	m := regiontest.NewMesh(t, threeRegions, 1)
	m.WaitConverged(30 * time.Second)
	// eu-1 cannot reach ap-1 (one way), but eu–us and us–ap work: deltas are not
	// forwarded, so anti-entropy between us-1 and ap-1 must carry eu-1's writes.
	m.Net.SetFaults(m.Host("eu-1"), m.Host("ap-1"), faultDown())
	writeAt(m, "eu-1", "p", 10)
	writeAt(m, "ap-1", "p", 10)
	took := m.WaitConverged(60 * time.Second)
	t.Logf("converged %s after the writes", took)
	if got := clapsAt(t, m, "ap-1", "p"); got != 20 {
		t.Errorf("ap-1 claps = %d, want 20", got)
	}
}

// A peer told to stop first ships what its linked peers have not yet
// acknowledged: a write made just before the stop reaches the other region
// while the stopped peer stays down.
func TestStoppingPeerShipsWhatIsPending(t *testing.T) {
	m := regiontest.NewMesh(t, threeRegions[:2], 1)
	// Linked, not only converged: two empty stores hold the same state
	// before their peers have even met, and a stop ships to linked peers.
	testkit.WaitFor(t, 30*time.Second, "eu-1's exchange to serve a link to us-1", func() bool {
		for _, r := range m.Node("eu-1").Peer.Status().Regions {
			for _, p := range r.Peers {
				if p.Name == "us-1" && p.Linked {
					return true
				}
			}
		}
		return false
	})
	writeAt(m, "eu-1", "last-words", 5)
	m.Stop("eu-1")
	if got := clapsAt(t, m, "us-1", "last-words"); got != 5 {
		t.Errorf("us-1 has claps %d of the 5 written just before eu-1 stopped, want all: the stop did not drain", got)
	}
}
