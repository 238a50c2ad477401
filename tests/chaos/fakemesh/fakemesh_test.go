package fakemesh

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"testing"
	"time"

	"github.com/countermesh/countermesh/tests/chaos"
	"github.com/countermesh/countermesh/tests/testkit"
)

func start(t *testing.T, bugs Bug) (*Mesh, *chaos.Client) {
	t.Helper()
	m, err := New(Options{Bugs: bugs})
	if err != nil {
		t.Fatal(err)
	}
	c := chaos.NewClient("")
	t.Cleanup(func() { c.Close(); m.Close() })
	return m, c
}

func must(t *testing.T, a chaos.Answer) chaos.Answer {
	t.Helper()
	if a.Outcome != chaos.OK {
		t.Fatalf("%s: %s", a.Outcome, a.Err)
	}
	return a
}

var ctx = context.Background()

func TestItemShape(t *testing.T) {
	m, _ := start(t, 0)
	req, _ := http.NewRequest(http.MethodGet, m.API("r1-a")+"/v1/items/x?user=u1", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var it map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&it); err != nil {
		t.Fatal(err)
	}
	reactions, _ := it["reactions"].(map[string]any)
	user, _ := it["user"].(map[string]any)
	if it["item"] != "x" || reactions["like"] != 0.0 || reactions["dislike"] != 0.0 || user["id"] != "u1" || user["reaction"] != nil || it["token"] == "" {
		t.Errorf("item %v: want every kind with zeros, the user with a null reaction, a token", it)
	}
}

func TestReactionsAndIncrements(t *testing.T) {
	m, c := start(t, 0)
	a := must(t, c.React(ctx, m.API("r1-a"), "x", "u1", "like", ""))
	if a.State.Tallies["like"] != 1 || a.Token == "" {
		t.Errorf("after a like: %v, token %q", a.State, a.Token)
	}
	must(t, c.React(ctx, m.API("r1-a"), "x", "u1", "like", ""))
	a = must(t, c.React(ctx, m.API("r1-a"), "x", "u1", "", ""))
	if a.State.Tallies["like"] != 0 {
		t.Errorf("after a like twice, then none: %v", a.State)
	}
	must(t, c.Increment(ctx, m.API("r1-a"), "x", "claps", 3, "k1", ""))
	a = must(t, c.Increment(ctx, m.API("r1-a"), "x", "claps", 3, "k1", ""))
	if a.State.Counters["claps"] != 3 {
		t.Errorf("an increment retried with its key counted %d", a.State.Counters["claps"])
	}
	if a := c.React(ctx, m.API("r1-a"), "x", "u1", "meh", ""); a.Outcome != chaos.Failed {
		t.Errorf("unknown kind: %s", a.Outcome)
	}
	testkit.WaitFor(t, 5*time.Second, "every peer sees the claps", func() bool {
		st, err := c.ReadMany(ctx, m.API("r3-b"), []string{"x", "y"})
		return err == nil && st["x"].Counters["claps"] == 3 && len(st) == 2
	})
}

func TestIgnoreIdempotencyKey(t *testing.T) {
	m, c := start(t, IgnoreIdempotencyKey)
	must(t, c.Increment(ctx, m.API("r1-a"), "x", "claps", 3, "k1", ""))
	if a := must(t, c.Increment(ctx, m.API("r1-a"), "x", "claps", 3, "k1", "")); a.State.Counters["claps"] != 6 {
		t.Errorf("the broken build counted a retry %d", a.State.Counters["claps"])
	}
}

func TestPartition(t *testing.T) {
	m, c := start(t, 0)
	partition := m.Faults()[0]
	what, err := partition.Inject(ctx, rand.New(rand.NewPCG(1, 1)))
	if err != nil {
		t.Fatal(err)
	}
	var cut, sibling, other string
	for r := range m.isolated {
		cut, sibling = r+"-a", r+"-b"
	}
	for _, p := range m.Peers() {
		if p[:2] != cut[:2] {
			other = p
		}
	}
	claps := func(peer string) int64 {
		return c.Read(ctx, m.API(peer), "x", "", "").State.Counters["claps"]
	}
	// A second write reaching the cut peer's sibling proves that the round
	// which shipped the first to every peer linked to it is over.
	must(t, c.Increment(ctx, m.API(cut), "x", "claps", 1, "k", ""))
	testkit.WaitFor(t, 5*time.Second, "the first write to reach "+sibling, func() bool { return claps(sibling) == 1 })
	must(t, c.Increment(ctx, m.API(cut), "x", "claps", 1, "k2", ""))
	testkit.WaitFor(t, 5*time.Second, "the second write to reach "+sibling, func() bool { return claps(sibling) == 2 })
	if a := must(t, c.Read(ctx, m.API(other), "x", "", "")); a.State.Counters["claps"] != 0 {
		t.Fatalf("%s: %s saw a write of %s", what, other, cut)
	}
	partition.Repair(ctx)
	testkit.WaitFor(t, 5*time.Second, "the writes cross the healed link", func() bool { return claps(other) == 2 })
}

func TestKillAndRestart(t *testing.T) {
	for _, bugs := range []Bug{0, AckBeforeDurable} {
		t.Run(bugs.String(), func(t *testing.T) {
			m, c := start(t, bugs)
			api := m.API("r1-a")
			must(t, c.Increment(ctx, api, "x", "claps", 2, "k", ""))
			if err := m.Kill("r1-a"); err != nil {
				t.Fatal(err)
			}
			// Failed, or unknown when sent on a connection the kill broke.
			if a := c.Increment(ctx, api, "x", "claps", 1, "k2", ""); a.Outcome == chaos.OK {
				t.Errorf("a killed peer answered %s", a.Outcome)
			}
			if err := m.Restart(ctx, "r1-a"); err != nil {
				t.Fatal(err)
			}
			if m.API("r1-a") != api {
				t.Fatalf("restarted at %s, was %s", m.API("r1-a"), api)
			}
			want := int64(2)
			if bugs != 0 {
				want = 0 // acknowledged, never made durable
			}
			if got := must(t, c.Read(ctx, api, "x", "", "")).State.Counters["claps"]; got != want {
				t.Errorf("after the restart claps = %d, want %d", got, want)
			}
		})
	}
}

// TestCausalTokenOverSkew: a reaction written with the token of an earlier one
// wins over it even on a clock 60 s behind — unless the build stamps writes
// with its wall clock.
func TestCausalTokenOverSkew(t *testing.T) {
	for _, bugs := range []Bug{0, WallClockLWW} {
		t.Run(bugs.String(), func(t *testing.T) {
			m, c := start(t, bugs)
			if _, err := m.Faults()[1].Inject(ctx, rand.New(rand.NewPCG(1, 1))); err != nil {
				t.Fatal(err)
			}
			var ahead, behind string
			for r, d := range m.skew {
				if d > 0 {
					ahead = r + "-a"
				} else {
					behind = r + "-a"
				}
			}
			a := must(t, c.React(ctx, m.API(ahead), "x", "u", "like", ""))
			must(t, c.React(ctx, m.API(behind), "x", "u", "dislike", a.Token))
			want := "dislike"
			if bugs != 0 {
				want = "like"
			}
			testkit.WaitFor(t, 5*time.Second, "the peers agree on "+want, func() bool {
				final, _ := m.Final(ctx, []string{"x"})
				for _, st := range final {
					if st["x"].Registers["u"] != want {
						return false
					}
				}
				return true
			})
		})
	}
}

func TestTallyAsCounterCountsAUserTwice(t *testing.T) {
	m, c := start(t, TallyAsCounter)
	m.mu.Lock()
	m.isolated["r1"] = true
	m.mu.Unlock()
	must(t, c.React(ctx, m.API("r1-a"), "x", "u", "like", ""))
	must(t, c.React(ctx, m.API("r2-a"), "x", "u", "like", ""))
	m.Heal(ctx)
	testkit.WaitFor(t, 5*time.Second, "a like counted for each region", func() bool {
		return c.Read(ctx, m.API("r3-a"), "x", "", "").State.Tallies["like"] == 2
	})
}

// readClaps reads x's claps at peer.
func readClaps(m *Mesh, c *chaos.Client, peer string) int64 {
	a := c.Read(ctx, m.API(peer), "x", "", "")
	if a.Outcome != chaos.OK {
		return -1
	}
	return a.State.Counters["claps"]
}

// TestIdempotencyAcrossPeers: a keyed increment sent again at other peers —
// in another region once the key reached it, and on both sides of a partition
// before — counts once in the converged mesh; with IdempotencyPerPeer only a
// retry at the same peer does.
func TestIdempotencyAcrossPeers(t *testing.T) {
	for _, tc := range []struct {
		bugs Bug
		want int64 // claps once converged
	}{
		{0, 3 + 4},
		{IdempotencyPerPeer, 2*3 + 2*4},
	} {
		t.Run(tc.bugs.String(), func(t *testing.T) {
			m, c := start(t, tc.bugs)
			must(t, c.Increment(ctx, m.API("r1-a"), "x", "claps", 3, "k1", ""))
			must(t, c.Increment(ctx, m.API("r1-a"), "x", "claps", 3, "k1", ""))
			testkit.WaitFor(t, 5*time.Second, "k1 reaches r2-b", func() bool { return readClaps(m, c, "r2-b") == 3 })
			must(t, c.Increment(ctx, m.API("r2-b"), "x", "claps", 3, "k1", ""))

			m.mu.Lock()
			m.isolated["r1"] = true
			m.mu.Unlock()
			must(t, c.Increment(ctx, m.API("r1-b"), "x", "claps", 4, "k2", ""))
			must(t, c.Increment(ctx, m.API("r3-a"), "x", "claps", 4, "k2", ""))
			if err := m.Heal(ctx); err != nil {
				t.Fatal(err)
			}
			testkit.WaitFor(t, 5*time.Second, "every peer converged", func() bool {
				final, _ := m.Final(ctx, []string{"x"})
				for _, st := range final {
					if st["x"].Counters["claps"] != tc.want {
						return false
					}
				}
				return len(final) == 6
			})
		})
	}
}

// TestLostAnswers: while a region loses its answers, a write there is applied
// but the client hears nothing (unknown); reads are answered; once repaired,
// writes are answered again.
func TestLostAnswers(t *testing.T) {
	m, c := start(t, 0)
	var lost chaos.Fault
	for _, f := range m.Faults() {
		if f.Name == "lost-answers" {
			lost = f
		}
	}
	if _, err := lost.Inject(ctx, rand.New(rand.NewPCG(1, 1))); err != nil {
		t.Fatal(err)
	}
	var region string
	for r := range m.lost {
		region = r
	}
	if a := c.Increment(ctx, m.API(region+"-a"), "x", "claps", 2, "k", ""); a.Outcome != chaos.Unknown {
		t.Fatalf("a write whose answer was lost: %s (%s), want unknown", a.Outcome, a.Err)
	}
	if got := must(t, c.Read(ctx, m.API(region+"-a"), "x", "", "")).State.Counters["claps"]; got != 2 {
		t.Errorf("the write of the lost answer: claps = %d, want 2 (applied)", got)
	}
	if err := lost.Repair(ctx); err != nil {
		t.Fatal(err)
	}
	if got := must(t, c.Increment(ctx, m.API(region+"-a"), "x", "claps", 2, "k", "")).State.Counters["claps"]; got != 2 {
		t.Errorf("its retry after the repair: claps = %d, want 2 (replayed)", got)
	}
}
