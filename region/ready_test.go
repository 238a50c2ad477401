package region_test

import (
	"errors"
	"testing"
	"time"

	"github.com/countermesh/countermesh/persist"
	"github.com/countermesh/countermesh/region"
	"github.com/countermesh/countermesh/region/regiontest"
	"github.com/countermesh/countermesh/tests/testkit"
)

// TestLonePeerIsReady: after a full-mesh restart the first peer back finds no
// other peer reachable; it takes writes all the same, so it is ready — a load
// balancer must not keep it out. It is not ready before Run nor after it stops.
func TestLonePeerIsReady(t *testing.T) {
	m := regiontest.NewMesh(t, nil, 0)
	for _, r := range threeRegions {
		m.AddRegion(r, 1)
	}
	m.WriteTopology()

	p, err := region.New(m.Config("eu-1"))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Ready(); !errors.Is(err, region.ErrNotRunning) {
		t.Fatalf("before Run: Ready = %v, want ErrNotRunning", err)
	}
	p.Close()
	if err := p.Ready(); !errors.Is(err, region.ErrStopped) {
		t.Fatalf("after Close: Ready = %v, want ErrStopped", err)
	}

	n := m.Start("eu-1")
	testkit.WaitFor(t, 10*time.Second, "eu-1, alone in a mesh of three, ready", func() bool { return n.Peer.Ready() == nil })
	m.Write("eu-1", persist.Add("article:a", "claps", 1)) // and takes writes
	m.Stop("eu-1")
	if err := n.Peer.Ready(); !errors.Is(err, region.ErrStopped) {
		t.Fatalf("after Run returned: Ready = %v, want ErrStopped", err)
	}
}
