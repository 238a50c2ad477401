package netns

import (
	"testing"
	"time"

	"github.com/countermesh/countermesh/tests/chaos"
)

// TestChaosAcrossProcesses runs the real binary, one process per peer in its
// own network namespace, under partitions, a flapping link, a region added at
// runtime and SIGKILL crashes, and checks the five invariants. It needs root
// (see Require). -chaos.duration makes it a soak; -chaos.seed replays a
// schedule.
func TestChaosAcrossProcesses(t *testing.T) {
	Require(t)
	c := New(t, Region{"eu-west", 2}, Region{"us-east", 1}, Region{"ap-south", 1})
	chaos.RunTest(t, c, chaos.Config{
		Seed:        chaos.Seed(),
		Duration:    chaos.Duration(15 * time.Second),
		FaultLength: 1500 * time.Millisecond,
		Workload:    chaos.Workload{Pace: 20 * time.Millisecond},
	}, chaos.InvConvergence, chaos.InvCounters, chaos.InvCausal, chaos.InvTallies, chaos.InvDurable)
}
