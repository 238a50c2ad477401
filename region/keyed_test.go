package region_test

import (
	"testing"
	"time"

	"github.com/countermesh/countermesh/persist"
	"github.com/countermesh/countermesh/region/regiontest"
)

// checkOnceEverywhere waits for the mesh to converge and checks that every
// running peer counts item's claps as want and answers one more retry of key as
// replayed.
func checkOnceEverywhere(t *testing.T, m *regiontest.Mesh, item, key string, by, want int64) {
	t.Helper()
	m.WaitConverged(60 * time.Second)
	for _, p := range m.Running() {
		if got := clapsAt(t, m, p, item); got != want {
			t.Errorf("%s: claps %d, want %d (the keyed increment once)", p, got, want)
		}
		if r := m.Write(p, persist.AddOnce(item, "claps", by, key))[0]; !r.Replayed {
			t.Errorf("%s: another retry was not replayed: %+v", p, r)
		}
	}
}

// A frontend's increment is retried in another region, one call after the
// other, as a load balancer failing over does: one count.
func TestKeyedIncrementRetriedInAnotherRegionCountsOnce(t *testing.T) {
	m := regiontest.NewMesh(t, threeRegions, 2)
	m.WaitConverged(30 * time.Second)
	m.Write("eu-1", persist.AddOnce("post", "claps", 3, "fe\x00k1"))
	m.Write("us-2", persist.AddOnce("post", "claps", 3, "fe\x00k1"))
	m.Write("ap-1", persist.AddOnce("post", "claps", 3, "fe\x00k1"))
	checkOnceEverywhere(t, m, "post", "fe\x00k1", 3, 3)
}

// The same keyed increment reaches both sides of a partition: each side counts
// it while the partition lasts; once healed, every peer counts it once — also
// after the peer that compensated restarts.
func TestKeyedIncrementOnBothSidesOfAPartitionCountsOnceAfterHeal(t *testing.T) {
	m := regiontest.NewMesh(t, threeRegions, 2)
	m.WaitConverged(30 * time.Second)
	cutOff(m, "ap", "eu", "us")
	m.Write("ap-2", persist.Add("post", "claps", 10))
	first := m.Write("eu-1", persist.AddOnce("post", "claps", 4, "fe\x00k2"))[0]
	second := m.Write("ap-1", persist.AddOnce("post", "claps", 4, "fe\x00k2"))[0]
	if first.Replayed || second.Replayed {
		t.Fatalf("a side of the partition knew the key already: %+v, %+v", first, second)
	}
	m.Net.Heal()
	checkOnceEverywhere(t, m, "post", "fe\x00k2", 4, 14)

	m.Stop("ap-1") // ap-1 applied second: it is the one that compensated
	m.Start("ap-1")
	checkOnceEverywhere(t, m, "post", "fe\x00k2", 4, 14)
}
