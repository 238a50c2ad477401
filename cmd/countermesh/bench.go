package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/countermesh/countermesh/cmd/countermesh/bench"
)

// runBench runs the benchmark scenarios, prints the table and writes the JSON
// report.
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	help := fmt.Sprintf(`Usage: countermesh bench [flags]

Measures countermesh peers beside Redis (appendfsync always) and PostgreSQL
(synchronous_commit on) doing the same job on this machine, and prints the
figures beside the project's targets. The peers run as countermesh serve runs
them: an API token (scope write) the clients send, the API's default rate limit;
the throughput scenarios' peer is a countermesh serve process of its own with
serve's defaults: the production profile. Every
countermesh throughput is also given as a fraction of the ceiling: a no-op
request (GET /healthz) through the same HTTP server, clients and connections.
Every countermesh phase also says, from the peer's /metrics, what its commits
took (p99, and ops per commit) and how often its goroutines waited over 10 ms
to run, so a client's latency can be told from the store's and the CPU's. It starts everything itself in a
temporary directory and stops it at the end. Redis and PostgreSQL are optional
(apt-get install redis-server postgresql); without them it says what it skipped.

Scenarios: %s. Start with --quick (under 2 minutes).

Example:
  countermesh bench --quick
  countermesh bench --scenarios writes,reads,mixed --repeat 3
`, strings.Join(bench.Scenarios, ", "))
	quick := fs.Bool("quick", false, "smaller sizes and shorter phases, the small store profile for mesh and scale: done in under 2 minutes")
	duration := fs.Duration("duration", 0, "length of one measured phase (default 10s, quick 2s)")
	repeat := fs.Int("repeat", 0, "runs of each phase; the report gives medians (default 3, quick 1)")
	scenarios := fs.String("scenarios", strings.Join(bench.Scenarios, ","), "comma-separated scenarios to run")
	clients := fs.Int("clients", 64, "concurrent clients per system")
	jsonPath := fs.String("json", "bench.json", "write the report as JSON to this file (\"\" for none)")
	skipRedis := fs.Bool("skip-redis", false, "do not run Redis")
	skipPostgres := fs.Bool("skip-postgres", false, "do not run PostgreSQL")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	scaleItems := fs.Int("scale-items", 0, "items loaded by the scale scenario (default 1,000,000, quick 10,000)")
	scaleReactions := fs.Int("scale-reactions", 0, "reactions loaded by the scale scenario (default 10,000,000, quick 100,000)")
	scaleMemory := fs.String("scale-memory", "256MiB", "memory budget of the scale scenario's peer (serve --memory)")
	peerMemory := fs.String("peer-memory", "", "memory budget of the throughput scenarios' peer (serve --memory); default none: serve's default sizing, the production profile")
	inProcess := fs.Bool("peer-in-process", false, "run the throughput scenarios' peer in this process, beside the load generator, rather than as its own countermesh serve process")
	verbose := fs.Bool("v", false, "log the peers' warnings and errors to stderr")
	if err := parseFlags(fs, help, args, stdout); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: bench takes no arguments, got %q", errUsage, fs.Args())
	}
	cfg := bench.DefaultConfig(*quick)
	cfg.Scenarios = strings.Split(*scenarios, ",")
	cfg.Clients = *clients
	cfg.SkipRedis, cfg.SkipPostgres = *skipRedis, *skipPostgres
	cfg.Progress = stderr
	if *duration != 0 {
		cfg.Duration = *duration
		cfg.Warmup = min(cfg.Warmup, *duration/4)
		cfg.WireDuration = *duration
	}
	if *repeat != 0 {
		cfg.Repeat = *repeat
	}
	if *scaleItems != 0 {
		cfg.ScaleItems = *scaleItems
	}
	if *scaleReactions != 0 {
		cfg.ScaleReactions = *scaleReactions
	}
	var err error
	if cfg.ScaleMemory, err = parseMemory("bench", "scale-memory", *scaleMemory); err != nil {
		return err
	}
	if !*inProcess {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("bench: cannot find this program to run countermesh serve (%v); use --peer-in-process", err)
		}
		cfg.Serve = bench.ServeCommand{Args: []string{exe, "serve"}}
	}
	if *peerMemory != "" {
		if cfg.ServeMemory, err = parseMemory("bench", "peer-memory", *peerMemory); err != nil {
			return err
		}
	}
	if *verbose {
		cfg.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	if os.Getenv("QUIC_GO_DISABLE_RECEIVE_BUFFER_WARNING") == "" {
		// The in-memory network has no UDP buffers to size: quic-go's warning
		// about them would only confuse the output.
		os.Setenv("QUIC_GO_DISABLE_RECEIVE_BUFFER_WARNING", "true")
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("%w: bench: %v", errUsage, err)
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	mode := "full run"
	if *quick {
		mode = "quick run (--quick)"
	}
	fmt.Fprintf(stdout, "countermesh bench: %s on %d CPUs (GOMAXPROCS %d), %s %s/%s\n", mode,
		runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	fmt.Fprintf(stdout, "the load generator runs in this process: its %d clients compete with the systems under test for those CPUs\n", cfg.Clients)
	where := "runs as countermesh serve in its own process, as Redis and PostgreSQL do"
	if *inProcess {
		where = "runs in this process (--peer-in-process)"
	}
	fmt.Fprintf(stdout, "the peer of the throughput scenarios %s\n\n", where)
	start := time.Now()
	rep, err := bench.Run(ctx, cfg)
	if errors.Is(err, bench.ErrConfig) {
		return fmt.Errorf("%w: bench: %v", errUsage, err)
	}
	if rep == nil {
		return err
	}
	if rep.Machine.Redis != "" || rep.Machine.Postgres != "" {
		fmt.Fprintf(stdout, "compared with: %s\n\n", strings.Join(nonEmpty(rep.Machine.Redis, rep.Machine.Postgres), "; "))
	}
	rep.WriteTable(stdout)
	fmt.Fprintf(stdout, "\n%d clients, %s per phase, figures are medians of %d runs; took %s\n",
		cfg.Clients, cfg.Duration, cfg.Repeat, time.Since(start).Round(time.Second))
	if *jsonPath != "" {
		if jerr := rep.WriteJSON(*jsonPath); jerr != nil {
			return errors.Join(err, jerr)
		}
		fmt.Fprintf(stdout, "report written to %s\n", *jsonPath)
	}
	if errors.Is(err, context.Canceled) {
		return errors.New("bench: interrupted; the figures above are partial")
	}
	return err
}

func nonEmpty(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}
