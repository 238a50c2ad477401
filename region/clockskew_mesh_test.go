package region_test

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/countermesh/countermesh/region"
	"github.com/countermesh/countermesh/region/regiontest"
	"github.com/countermesh/countermesh/tests/testkit"
)

// TestPeerWithASkewedClockIsNotReadyUntilItIsFixed: a peer whose wall clock is
// beyond the max drift from the two others learns it from their ping acks and
// reports ErrClockSkew (so the API takes no writes there); the others, which see
// only one of two peers off, stay ready; once the clock is fixed, so is the peer.
func TestPeerWithASkewedClockIsNotReadyUntilItIsFixed(t *testing.T) {
	var skew atomic.Int64
	m := regiontest.NewMesh(t, nil, 0)
	m.Tune = func(cfg *region.Config) {
		if cfg.PeerName == "ap-1" {
			cfg.WallClock = func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
		}
	}
	for _, r := range threeRegions {
		m.AddRegion(r, 1)
	}
	m.WriteTopology()
	for _, p := range []string{"eu-1", "us-1", "ap-1"} {
		m.Start(p)
	}
	ready := func(peer string) error { return m.Node(peer).Peer.Ready() }
	testkit.WaitFor(t, 20*time.Second, "every peer ready", func() bool {
		return ready("eu-1") == nil && ready("us-1") == nil && ready("ap-1") == nil
	})

	skew.Store(int64(3 * time.Minute))
	testkit.WaitFor(t, 20*time.Second, "ap-1 to find its clock skewed", func() bool {
		return errors.Is(ready("ap-1"), region.ErrClockSkew)
	})
	t.Logf("ap-1: %v", ready("ap-1"))
	for _, p := range []string{"eu-1", "us-1"} {
		if err := ready(p); err != nil {
			t.Errorf("%s, one of whose two peers is off: %v", p, err)
		}
	}

	skew.Store(0)
	testkit.WaitFor(t, 20*time.Second, "ap-1 ready once its clock is fixed", func() bool { return ready("ap-1") == nil })
}
