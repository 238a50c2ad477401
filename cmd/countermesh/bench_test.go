package main

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/countermesh/countermesh/cmd/countermesh/bench"
)

// serveCommand runs this test binary as countermesh serve (see TestMain).
func serveCommand(args ...string) bench.ServeCommand {
	return bench.ServeCommand{Args: append([]string{os.Args[0], "serve"}, args...), Env: []string{"COUNTERMESH_RUN_MAIN=1"}}
}

// tinyBench is a bench run of a few seconds: few clients, short phases, small
// sizes, no Redis or PostgreSQL.
func tinyBench(t *testing.T, serve bench.ServeCommand, scenarios ...string) bench.Config {
	c := bench.DefaultConfig(true)
	c.Scenarios = scenarios
	c.Clients, c.Repeat = 4, 1
	c.Duration, c.Warmup = time.Second, 100*time.Millisecond
	c.Items, c.Users, c.Preload = 1_000, 10_000, 500
	c.SkipRedis, c.SkipPostgres = true, true
	c.Dir = t.TempDir()
	c.Serve = serve
	return c
}

// The bench drives the throughput scenarios' peer as a user runs it: a
// countermesh serve process with a memory budget, which answers every request and exits 0 when the
// run stops it with SIGTERM (Run fails otherwise).
func TestBenchDrivesAServeProcess(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cfg := tinyBench(t, serveCommand(), bench.ScenarioWrites, bench.ScenarioReads)
	cfg.ServeMemory = 64 << 20
	rep, err := bench.Run(ctx, cfg)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if !strings.Contains(rep.Settings.ThroughputPeer, "countermesh serve, its own process, memory budget 64 MiB") {
		t.Errorf("settings say the peer ran %q", rep.Settings.ThroughputPeer)
	}
	cases := map[string]bool{}
	for _, r := range rep.Rows {
		if r.Errors > 0 || r.OpsPerSec <= 0 {
			t.Errorf("%s / %s: %.0f ops/s, %d errors, first: %s", r.Scenario, r.Case, r.OpsPerSec, r.Errors, r.FirstError)
		}
		cases[r.Case] = true
		// The served peer's own /metrics says what its commits took.
		if wrote := r.Case != "page of 20 items" && r.Case != "page, at half peak rate" && r.Scenario != "0 ceiling"; wrote != (r.PeerCommitP99Ms > 0) {
			t.Errorf("%s / %s: peer's commit p99 %v ms, note %q", r.Scenario, r.Case, r.PeerCommitP99Ms, r.Note)
		}
		if r.PeerLongWaitMs < 10 {
			t.Errorf("%s / %s: no word of the served peer's scheduling: %q", r.Scenario, r.Case, r.Note)
		}
	}
	for _, c := range []string{"one op per request", "batches of 100", "page of 20 items"} {
		if !cases[c] {
			t.Errorf("no row %q in %v", c, cases)
		}
	}
	if left, _ := os.ReadDir(cfg.Dir); len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
}

// A serve process that does not start fails the run with what serve said.
func TestBenchSaysWhyServeDidNotStart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := bench.Run(ctx, tinyBench(t, serveCommand("--memory", "1KiB"), bench.ScenarioWrites))
	if err == nil || !strings.Contains(err.Error(), "at least 64MiB") {
		t.Fatalf("Run: %v; want serve's complaint about --memory", err)
	}
}
