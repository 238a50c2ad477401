package inprocess

import (
	"testing"
	"time"

	"github.com/countermesh/countermesh/tests/chaos"
)

// TestChaosInProcess runs every in-process fault, and crashes, against 3 regions
// of 2 peers, and checks the five invariants. -chaos.duration makes it a soak;
// -chaos.seed replays a schedule.
func TestChaosInProcess(t *testing.T) {
	c := New(t, []string{"eu-west", "us-east", "ap-south"}, 2)
	chaos.RunTest(t, c, chaos.Config{
		Seed:        chaos.Seed(),
		Duration:    chaos.Duration(20 * time.Second),
		FaultLength: 1500 * time.Millisecond,
	}, chaos.InvConvergence, chaos.InvCounters, chaos.InvCausal, chaos.InvTallies, chaos.InvDurable)
}
