package chaos

import (
	"context"
	"flag"
	"math/rand/v2"
	"testing"
	"time"
)

// The flags of every test binary that runs chaos (go test ./tests/chaos/...).
var (
	flagSeed     = flag.Uint64("chaos.seed", 0, "seed of the chaos runs (0 draws one; a failing run prints its seed)")
	flagDuration = flag.Duration("chaos.duration", 0, "how long each chaos run injects faults: the soak profile (0 runs the short profile)")
)

// Soak reports whether a soak duration was asked for with -chaos.duration.
func Soak() bool { return *flagDuration > 0 }

// Seed returns the seed given with -chaos.seed, or a random one.
func Seed() uint64 {
	if *flagSeed != 0 {
		return *flagSeed
	}
	return rand.Uint64()
}

// Duration returns the soak duration given with -chaos.duration, or short.
func Duration(short time.Duration) time.Duration {
	if Soak() {
		return *flagDuration
	}
	return short
}

// RunTest runs cfg against cl as a test: it logs the summary, fails the test on a broken
// invariant or a run that could not complete, and requires every invariant in
// exercised to have been checked at least once.
func RunTest(t *testing.T, cl Cluster, cfg Config, exercised ...string) *Report {
	t.Helper()
	if cfg.Logf == nil {
		cfg.Logf = t.Logf
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.withDefaults().Duration+5*time.Minute)
	defer cancel()
	r, err := Run(ctx, cl, cfg)
	if r != nil {
		t.Logf("\n%s", r.Summary())
	}
	if err != nil {
		t.Fatalf("chaos run (seed %d) could not complete: %v", cfg.Seed, err)
	}
	if !r.OK() {
		t.Fatalf("chaos run failed: an invariant is broken; replay with -chaos.seed=%d", r.Seed)
	}
	for _, inv := range exercised {
		if v := r.Verdict(inv); v.Status != Pass {
			t.Errorf("%s: %s — the run did not exercise it (seed %d)", inv, v.Status, r.Seed)
		}
	}
	return r
}
