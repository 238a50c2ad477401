package chaos_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/countermesh/countermesh/tests/chaos"
	"github.com/countermesh/countermesh/tests/chaos/fakemesh"
	"github.com/countermesh/countermesh/tests/testkit"
)

// invariants lists the five invariants in the checker's order.
var invariants = []string{chaos.InvConvergence, chaos.InvCounters, chaos.InvCausal, chaos.InvTallies, chaos.InvDurable}

// selfTestConfig is a short run: every fault once or twice in about 3 s. Seed
// 7 plans add-region, clock-skew, crash, partition, lost-answers, crash: each
// fault after the sessions got going, crashes twice.
func selfTestConfig(seed uint64) chaos.Config {
	return chaos.Config{
		Seed:            seed,
		Duration:        3 * time.Second,
		FaultLength:     300 * time.Millisecond,
		ConvergeTimeout: 3 * time.Second,
		// Every third acknowledged increment is sent again with its key, so
		// even a slow run resends a few in every session.
		Workload: chaos.Workload{Pace: 5 * time.Millisecond, DuplicateEvery: 3},
	}
}

// runFake runs cfg against a fake mesh and returns the report; the test fails
// if the mesh leaves goroutines running.
func runFake(t *testing.T, opts fakemesh.Options, cfg chaos.Config) *chaos.Report {
	t.Helper()
	testkit.NoLeaks(t)
	m, err := fakemesh.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r, err := chaos.Run(ctx, m, cfg)
	m.Close()
	if r != nil {
		t.Logf("\n%s", r.Summary())
	}
	if err != nil {
		t.Fatalf("run could not complete: %v", err)
	}
	return r
}

// TestSelfCorrectMeshPasses: the correct fake passes every invariant, and the
// run exercises each of them.
func TestSelfCorrectMeshPasses(t *testing.T) {
	r := runFake(t, fakemesh.Options{}, selfTestConfig(7))
	for _, inv := range invariants {
		if v := r.Verdict(inv); v.Status != chaos.Pass {
			t.Errorf("%s: %s, want PASS", inv, v.Status)
		}
	}
}

// Each deliberately broken build fails its invariant; the invariants the bug
// implies may fail too, and every other one passes:
//
//   - no-replication-to-one-peer: 1 fails; the starved peer misses the others'
//     acknowledged writes, so 2 fails and 3 may.
//   - ignore-idempotency-key: 2 fails (the workload resends every third
//     acknowledged increment with its key).
//   - idempotency-per-peer: 2 fails (half of those resends go to another
//     peer, and writes whose answers were lost are retried at other peers).
//   - wall-clock-lww: 3 fails (the clock-skew fault puts one region 30 s ahead
//     and another 30 s behind).
//   - tally-as-counter: 4 fails (shared users react in every region at once).
//   - ack-before-durable: 5 fails; the writes lost are lost for good, so 2
//     fails, and 3 may.
func TestSelfCatchesBugs(t *testing.T) {
	for _, tc := range []struct {
		bug     fakemesh.Bug
		fails   string
		mayFail []string
	}{
		{fakemesh.NoReplicationToOnePeer, chaos.InvConvergence, []string{chaos.InvCounters, chaos.InvCausal}},
		{fakemesh.IgnoreIdempotencyKey, chaos.InvCounters, nil},
		{fakemesh.IdempotencyPerPeer, chaos.InvCounters, nil},
		{fakemesh.WallClockLWW, chaos.InvCausal, nil},
		{fakemesh.TallyAsCounter, chaos.InvTallies, nil},
		{fakemesh.AckBeforeDurable, chaos.InvDurable, []string{chaos.InvCounters, chaos.InvCausal}},
	} {
		t.Run(tc.bug.String(), func(t *testing.T) {
			cfg := selfTestConfig(7)
			if tc.fails == chaos.InvConvergence {
				cfg.ConvergeTimeout = time.Second // it never converges
			}
			r := runFake(t, fakemesh.Options{Bugs: tc.bug}, cfg)
			for _, inv := range invariants {
				v := r.Verdict(inv)
				switch {
				case inv == tc.fails:
					if v.Status != chaos.Fail {
						t.Errorf("%s: %s, want FAIL", inv, v.Status)
					}
				case slices.Contains(tc.mayFail, inv):
				default:
					if v.Status != chaos.Pass {
						t.Errorf("%s: %s, want PASS: the bug should not break it", inv, v.Status)
					}
				}
			}
		})
	}
}

// TestSelfCatchesIdempotencyPerPeerByFailover: with no acknowledged increment
// resent, only the client's retries after an unknown outcome — at another peer,
// as a frontend fails over — can count an increment twice. Keys remembered per
// peer then break invariant 2, and the correct mesh, under the same run, does
// not.
func TestSelfCatchesIdempotencyPerPeerByFailover(t *testing.T) {
	cfg := selfTestConfig(7)
	cfg.Workload.DuplicateEvery = -1
	for _, tc := range []struct {
		bugs fakemesh.Bug
		want chaos.Status
	}{
		{fakemesh.IdempotencyPerPeer, chaos.Fail},
		{0, chaos.Pass},
	} {
		t.Run(tc.bugs.String(), func(t *testing.T) {
			r := runFake(t, fakemesh.Options{Bugs: tc.bugs}, cfg)
			if r.Writes.Spread == 0 {
				t.Fatal("no write was sent to more than one peer: the run proves nothing")
			}
			for _, inv := range invariants {
				want := chaos.Pass
				if inv == chaos.InvCounters {
					want = tc.want
				}
				if v := r.Verdict(inv); v.Status != want {
					t.Errorf("%s: %s, want %s", inv, v.Status, want)
				}
			}
		})
	}
}
