// Package bench is countermesh bench: a load generator and scenario runner that
// measures countermesh peers beside Redis and PostgreSQL doing the same job on
// the same machine, in the same run, and holds the figures against the
// project's targets.
//
// Everything it measures it starts itself, in a temporary directory it removes
// at the end (also when interrupted): the peer of the throughput scenarios as a
// countermesh serve process of its own (Config.Serve) with serve's defaults,
// the production profile, the mesh and scale scenarios' peers in this
// process (real region.Peer with Badger, QUIC and memberlist over an in-memory
// network, and the HTTP API on a loopback port), and, when their binaries are
// installed, a redis-server (append-only file, appendfsync always) and a
// PostgreSQL cluster (synchronous_commit on). The load generator runs in this
// process, so it competes with the systems under test for CPU.
//
// The peers run as a user's do under countermesh serve: every peer's API needs
// the mesh's API token (scope write), which the clients send, its rate limit is
// the API's default, and the API is configured by the function serve uses. The
// throughput scenarios use the production store profile. Beside them the run
// measures the ceiling: a no-op request (GET /healthz) through the same HTTP
// server, clients and connections, and prints every countermesh throughput as
// a fraction of it.
//
// The scenarios:
//
//	writes  durable writes to one peer from many clients, one op per request and batches
//	hot     every write to one item
//	reads   a page of items with the caller's reaction to each
//	mixed   a like service's job: 90% page reads, 10% reaction and clap writes
//	mesh    three regions with a one-way delay: convergence latency, sync bytes per op
//	scale   many items and reactions in one peer: memory, disk, restart time
package bench

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/countermesh/countermesh/persist"
	"github.com/countermesh/countermesh/region/httpapi"
)

// Scenario names, in the order they run.
const (
	ScenarioWrites = "writes"
	ScenarioHot    = "hot"
	ScenarioReads  = "reads"
	ScenarioMixed  = "mixed"
	ScenarioMesh   = "mesh"
	ScenarioScale  = "scale"
)

// Scenarios lists every scenario, in the order they run.
var Scenarios = []string{ScenarioWrites, ScenarioHot, ScenarioReads, ScenarioMixed, ScenarioMesh, ScenarioScale}

// How scenarios and cases read in the report, in display order.
const (
	scenCeiling = "0 ceiling"
	scenWrites  = "1 durable writes"
	scenHot     = "2 hot item"
	scenReads   = "3 reads"
	scenMesh    = "4 mesh"
	scenScale   = "5 scale"
	scenMixed   = "6 mixed"

	caseNoop        = "no-op request (GET /healthz)"
	caseSingle      = "one op per request"
	caseBatch       = "batches of 100"
	caseHalfWrites  = "one op, at half peak rate"
	casePage        = "page of 20 items"
	caseHalfReads   = "page, at half peak rate"
	caseConvergence = "convergence latency"
	caseWireHot     = "sync bytes, hot item"
	caseWireUsers   = "sync bytes, distinct users"
	caseWireKeyed   = "sync bytes, keyed increments"
	caseWirePlain   = "sync bytes, unkeyed increments"
	caseCutOff      = "write at a cut-off region"
	caseCutOffToken = "write at a cut-off region, with a token"
	caseLoad        = "bulk load"
	caseResident    = "resident memory"
	caseDisk        = "disk"
	caseRestart     = "restart to ready"
	// The scale scenario's store-level reads, within and beyond the read
	// model's budget.
	caseHotSet       = "reads, hot set"
	caseBeyondBudget = "reads, all items"
	caseMixed        = "90% pages of 20, 10% writes"
)

var (
	scenarioOrder = []string{scenCeiling, scenWrites, scenHot, scenReads, scenMesh, scenScale, scenMixed}
	caseOrder     = []string{caseNoop, caseMixed, caseSingle, caseBatch, caseHalfWrites, casePage, caseHalfReads,
		caseConvergence, caseWireHot, caseWireUsers, caseWirePlain, caseWireKeyed, caseCutOff, caseCutOffToken, caseLoad, caseResident, caseHotSet, caseBeyondBudget, caseDisk, caseRestart}
	systemOrder = []string{sysCountermesh, sysRedis, sysPostgres}
)

// targets are the project's goals; they are printed beside the figures, never
// asserted.
var targets = []target{
	{scenario: scenWrites, kase: caseSingle, field: fieldOpsPerSec, vs: sysRedis, factor: 1, label: "≥ 1× redis"},
	{scenario: scenWrites, kase: caseSingle, field: fieldOpsPerSec, vs: sysPostgres, factor: 5, label: "≥ 5× postgres"},
	{scenario: scenWrites, kase: caseBatch, field: fieldOpsPerSec, bound: 200_000, label: "≥ 200,000 ops/s"},
	{scenario: scenWrites, kase: caseBatch, field: fieldOpsPerSec, vs: sysRedis, factor: 1.5, label: "≥ 1.5× redis"},
	{scenario: scenWrites, kase: caseHalfWrites, field: fieldP99, bound: 10, atMost: true, label: "p99 ≤ 10 ms"},
	{scenario: scenHot, kase: caseSingle, field: fieldOpsPerSec, vs: sysRedis, factor: 1, label: "≥ 1× redis"},
	{scenario: scenHot, kase: caseSingle, field: fieldOpsPerSec, vs: sysPostgres, factor: 10, label: "≥ 10× postgres"},
	{scenario: scenReads, kase: casePage, field: fieldOpsPerSec, vs: sysRedis, factor: 2, label: "≥ 2× redis"},
	{scenario: scenReads, kase: casePage, field: fieldOpsPerSec, vs: sysPostgres, factor: 2, label: "≥ 2× postgres"},
	{scenario: scenReads, kase: caseHalfReads, field: fieldP99, bound: 5, atMost: true, label: "p99 ≤ 5 ms"},
	{scenario: scenMesh, kase: caseConvergence, field: fieldP99, bound: 80, atMost: true, label: "p99 ≤ 80 ms (delay+flush+30)"},
	{scenario: scenScale, kase: caseResident, field: fieldValue, bound: 300, atMost: true, label: "≤ 300 bytes/item"},
	{scenario: scenScale, kase: caseDisk, field: fieldValue, bound: 64, atMost: true, label: "≤ 64 bytes/reaction"},
	{scenario: scenScale, kase: caseRestart, field: fieldValue, bound: 10, atMost: true, label: "≤ 10 s"},
	{scenario: scenMixed, kase: caseMixed, field: fieldOpsPerSec, vs: sysRedis, factor: 2, label: "≥ 2× redis"},
	{scenario: scenMixed, kase: caseMixed, field: fieldOpsPerSec, vs: sysPostgres, factor: 2, label: "≥ 2× postgres"},
}

// Where the throughput scenarios' peer runs (Settings.ThroughputPeer).
const (
	peerServed    = "countermesh serve, its own process"
	peerInProcess = "in the load generator's process"
)

// Config is one run's parameters. Start from DefaultConfig.
type Config struct {
	Quick     bool
	Scenarios []string
	// Clients is how many concurrent clients drive a system.
	Clients int
	// Duration and Warmup are those of one measured phase; Repeat is how many
	// times each phase runs (the report gives medians).
	Duration, Warmup time.Duration
	Repeat           int
	// The workload: Items and Users (Zipf), ReactPct percent reactions, the
	// rest claps; BatchSize ops per batch; PageSize items per read; Preload
	// writes made before the reads.
	Items, Users, ReactPct int
	BatchSize, PageSize    int
	Preload                int
	// The mesh: one-way delay between regions, writes timed for convergence,
	// and how long each sync-bytes phase writes.
	MeshDelay         time.Duration
	ConvergenceWrites int
	WireDuration      time.Duration
	// Scale: items and reactions loaded into one peer, whose store has
	// ScaleMemory as its memory budget (persist.Options.WithMemoryBudget).
	ScaleItems, ScaleReactions int
	ScaleMemory                int64
	// Serve, when it has Args, runs the peer of the throughput scenarios
	// (writes, hot, reads, mixed) as its own countermesh serve process with
	// the production profile, as a user runs it and as Redis and PostgreSQL
	// run. Without, that peer runs in this process with the production store
	// profile, sharing the collector and scheduler with the load generator.
	// The mesh and scale scenarios' peers always run in this process.
	Serve ServeCommand
	// ServeMemory, when positive, is the served peer's memory budget (serve
	// --memory), which sizes its store and is its runtime's soft memory
	// limit. It needs Serve.
	ServeMemory int64
	// SkipRedis and SkipPostgres leave those systems out.
	SkipRedis, SkipPostgres bool
	// Dir is where the run's temporary directory goes; default the system's.
	Dir string
	// Progress receives a line per phase as it starts; nil for none.
	Progress io.Writer
	// Logger receives the peers' logs. Default: none (a failure still ends the
	// run with its error).
	Logger *slog.Logger
}

// DefaultConfig returns the full run's parameters, or the quick run's: smaller
// sizes and durations, and the small store profile for the mesh and scale
// scenarios, done within 2 minutes on 2 cores.
func DefaultConfig(quick bool) Config {
	c := Config{
		Scenarios: slices.Clone(Scenarios), Clients: 64,
		Duration: 10 * time.Second, Warmup: 2 * time.Second, Repeat: 3,
		Items: 100_000, Users: 1_000_000, ReactPct: 80, BatchSize: 100, PageSize: 20, Preload: 100_000,
		MeshDelay: 30 * time.Millisecond, ConvergenceWrites: 200, WireDuration: 10 * time.Second,
		ScaleItems: 1_000_000, ScaleReactions: 10_000_000, ScaleMemory: 256 << 20,
	}
	if quick {
		c.Quick = true
		c.Duration, c.Warmup, c.Repeat = 2*time.Second, 500*time.Millisecond, 1
		c.Preload = 10_000
		c.ConvergenceWrites, c.WireDuration = 40, 2*time.Second
		c.ScaleItems, c.ScaleReactions = 10_000, 100_000
	}
	return c
}

// ErrConfig marks a Config that Run refuses.
var ErrConfig = errors.New("bad bench configuration")

// Validate reports, with an error matching ErrConfig, what Run would refuse in
// c: a caller checks it before announcing a run.
func (c Config) Validate() error { return c.validate() }

func (c Config) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrConfig, fmt.Sprintf(format, args...))
	}
	for _, s := range c.Scenarios {
		if !slices.Contains(Scenarios, s) {
			return bad("unknown scenario %q (want some of %s)", s, strings.Join(Scenarios, ","))
		}
	}
	switch {
	case len(c.Scenarios) == 0:
		return bad("no scenario to run")
	case c.Clients < 1 || c.Repeat < 1 || c.BatchSize < 1 || c.PageSize < 1 || c.Items < 1 || c.Users < 1:
		return bad("clients, repeat, batch size, page size, items and users must be at least 1")
	case c.BatchSize > 1000:
		return bad("batch size over 1,000, the most one POST /v1/ops carries")
	case c.PageSize > 100:
		return bad("page size over 100, the most one GET /v1/items reads")
	case c.Duration <= 0 || c.WireDuration <= 0:
		return bad("durations must be positive")
	case c.ScaleItems < 1 || c.ScaleReactions < 0:
		return bad("scale items must be at least 1, reactions not negative")
	case c.ServeMemory != 0 && len(c.Serve.Args) == 0:
		return bad("a memory budget for the served peer, but no peer is served (the peer runs in this process)")
	}
	return nil
}

// runner holds one run's state.
type runner struct {
	cfg  Config
	dir  string
	rep  *Report
	work workload
	seed uint64 // advances per phase, so no two phases make the same ops
}

// Run runs the configured scenarios and returns the report. When ctx ends it
// stops everything it started and returns what it measured so far with ctx's
// error.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Progress == nil {
		cfg.Progress = io.Discard
	}
	dir, err := os.MkdirTemp(cfg.Dir, "countermesh-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	r := &runner{cfg: cfg, dir: dir, work: workload{items: cfg.Items, users: cfg.Users, reactPct: cfg.ReactPct}}
	r.rep = &Report{
		Started: time.Now(),
		Machine: Machine{CPUs: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), Go: runtime.Version(),
			OS: runtime.GOOS, Arch: runtime.GOARCH},
		Settings: Settings{
			Quick: cfg.Quick, Scenarios: cfg.Scenarios, Clients: cfg.Clients, DurationSec: cfg.Duration.Seconds(),
			Repeat: cfg.Repeat, Items: cfg.Items, Users: cfg.Users, BatchSize: cfg.BatchSize, PageSize: cfg.PageSize,
			ScaleItems: cfg.ScaleItems, ScaleReacts: cfg.ScaleReactions, MeshDelayMs: ms(cfg.MeshDelay),
			StoreProfile: "production (persist.DefaultOptions)", LoadInProcess: true,
			APIToken: "scope write, the API's default rate limit", RateLimit: httpapi.DefaultRateLimit,
			Burst: httpapi.DefaultBurst,
		},
	}
	r.rep.Settings.ThroughputPeer = peerInProcess
	if len(cfg.Serve.Args) > 0 {
		r.rep.Settings.ThroughputPeer = peerServed
		if cfg.ServeMemory > 0 {
			r.rep.Settings.ThroughputPeer += fmt.Sprintf(", memory budget %d MiB (serve --memory)", cfg.ServeMemory>>20)
		}
	}
	if cfg.Quick {
		r.rep.Settings.StoreProfile = "production (persist.DefaultOptions); mesh and scale: small (persist.SmallOptions)"
	}
	err = r.run(ctx)
	r.rep.Seconds = time.Since(r.rep.Started).Seconds()
	r.sortRows()
	r.rep.evaluate()
	if err == nil {
		err = ctx.Err()
	}
	return r.rep, err
}

func (r *runner) has(s string) bool { return slices.Contains(r.cfg.Scenarios, s) }

func (r *runner) run(ctx context.Context) error {
	if r.has(ScenarioWrites) || r.has(ScenarioHot) || r.has(ScenarioReads) || r.has(ScenarioMixed) {
		for _, start := range r.systems() {
			if err := r.runSystem(ctx, start); err != nil {
				return err
			}
		}
	}
	if r.has(ScenarioMesh) && ctx.Err() == nil {
		if err := r.mesh(ctx); err != nil {
			return fmt.Errorf("mesh: %w", err)
		}
	}
	if r.has(ScenarioScale) && ctx.Err() == nil {
		if err := r.scale(ctx); err != nil {
			return fmt.Errorf("scale: %w", err)
		}
	}
	return nil
}

// starter starts one system under test in a directory.
type starter struct {
	name  string
	start func(dir string) (system, error)
}

// systems returns the systems to compare, noting in the report those skipped.
func (r *runner) systems() []starter {
	clients := r.cfg.Clients
	list := []starter{{sysCountermesh, func(dir string) (system, error) {
		o := r.clusterOptions(0)
		o.store = persist.DefaultOptions // the throughput scenarios run the production profile, also when quick
		return startCountermesh(dir, clients, o, r.cfg.Serve, r.cfg.ServeMemory)
	}}}
	skip := func(name, why string) { r.rep.Skipped = append(r.rep.Skipped, name+": "+why) }
	switch bin, version, err := findRedis(); {
	case r.cfg.SkipRedis:
		skip(sysRedis, "--skip-redis")
	case err != nil:
		skip(sysRedis, err.Error()+" (install it: apt-get install redis-server)")
	default:
		r.rep.Machine.Redis = version
		list = append(list, starter{sysRedis, func(dir string) (system, error) { return startRedis(bin, dir, clients) }})
	}
	switch binDir, version, err := findPostgres(); {
	case r.cfg.SkipPostgres:
		skip(sysPostgres, "--skip-postgres")
	case err != nil:
		skip(sysPostgres, err.Error()+" (install it: apt-get install postgresql)")
	default:
		r.rep.Machine.Postgres = version
		list = append(list, starter{sysPostgres, func(dir string) (system, error) { return startPostgres(binDir, dir, clients) }})
	}
	return list
}

// clusterOptions returns the options of the peers the run starts.
func (r *runner) clusterOptions(delay time.Duration) clusterOptions {
	o := clusterOptions{store: persist.DefaultOptions, delay: delay, log: r.cfg.Logger}
	if r.cfg.Quick {
		o.store = persist.SmallOptions
	}
	return o
}

// runSystem starts one system, runs the throughput scenarios on it and stops it.
func (r *runner) runSystem(ctx context.Context, st starter) (err error) {
	dir, err := os.MkdirTemp(r.dir, st.name+"-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	r.progress("starting %s", st.name)
	sys, err := st.start(dir)
	if err != nil {
		// A comparison system that does not start is skipped, not fatal.
		if st.name != sysCountermesh {
			r.rep.Skipped = append(r.rep.Skipped, fmt.Sprintf("%s: did not start: %v", st.name, err))
			return nil
		}
		return err
	}
	defer func() {
		if cerr := sys.close(); err == nil && cerr != nil {
			err = fmt.Errorf("stop %s: %w", st.name, cerr)
		}
	}()
	if c, ok := sys.(ceilinged); ok {
		r.measure(ctx, scenCeiling, caseNoop, sys, r.phase(1, 0), func(uint64) call { return c.noop })
	}
	if r.has(ScenarioWrites) {
		if err := r.writes(ctx, sys); err != nil {
			return err
		}
	}
	if r.has(ScenarioHot) {
		if err := r.hot(ctx, sys); err != nil {
			return err
		}
	}
	if r.has(ScenarioReads) {
		if err := r.reads(ctx, sys); err != nil {
			return err
		}
	}
	if r.has(ScenarioMixed) {
		if err := r.mixed(ctx, sys); err != nil {
			return err
		}
	}
	return nil
}

func (r *runner) progress(format string, args ...any) {
	fmt.Fprintf(r.cfg.Progress, "bench: "+format+"\n", args...)
}

// nextSeed returns a seed no phase used before.
func (r *runner) nextSeed() uint64 {
	r.seed += 1 << 20
	return r.seed
}

// measure runs a phase Repeat times and adds a row of the medians.
func (r *runner) measure(ctx context.Context, scenario, kase string, sys system, p phase, newCall func(seed uint64) call) *Row {
	row := &Row{Scenario: scenario, Case: kase, System: sys.name(), OpsPerRequest: p.opsPerCall}
	var rates, p50s, p99s, lates []float64
	var peer peerWatch
	for i := range r.cfg.Repeat {
		if ctx.Err() != nil {
			break
		}
		r.progress("%s / %s / %s (run %d of %d, %s)", scenario, kase, sys.name(), i+1, r.cfg.Repeat, p.duration)
		base := r.nextSeed()
		observe := peer.start(ctx, sys)
		res := runPhase(ctx, p, func(client int) call { return newCall(base + uint64(client)) })
		observe()
		rates = append(rates, res.opsPerSec(p.opsPerCall))
		p50s = append(p50s, ms(res.lat.Percentile(50)))
		p99s = append(p99s, ms(res.lat.Percentile(99)))
		if res.late.Count() > 0 {
			lates = append(lates, ms(res.late.Percentile(99)))
		}
		row.Ops += res.calls * int64(p.opsPerCall)
		row.Errors += res.errors
		if res.firstErr != nil && row.FirstError == "" {
			row.FirstError = res.firstErr.Error()
		}
	}
	row.Runs = len(rates)
	row.OpsPerSec, row.P50Ms, row.P99Ms = median(rates), median(p50s), median(p99s)
	if len(lates) > 0 {
		// On this machine the clients share the CPUs with the peer: their
		// timers fire late when it is busy, and the latency counts from when
		// a call was due. Said beside the figure, so the reader can tell.
		row.addNote(fmt.Sprintf("load generator woke p99 %.2f ms late, included", median(lates)))
	}
	peer.report(row)
	r.rep.Rows = append(r.rep.Rows, row)
	return row
}

// add adds a row of a single figure.
func (r *runner) add(row *Row) { r.rep.Rows = append(r.rep.Rows, row) }

// phase returns the phase of the configured clients, warm-up and duration.
func (r *runner) phase(opsPerCall int, rate float64) phase {
	return phase{clients: r.cfg.Clients, warmup: r.cfg.Warmup, duration: r.cfg.Duration, rate: rate, opsPerCall: opsPerCall}
}

// sortRows orders the rows by scenario, case and system.
func (r *runner) sortRows() {
	index := func(list []string, s string) int {
		if i := slices.Index(list, s); i >= 0 {
			return i
		}
		return len(list)
	}
	slices.SortStableFunc(r.rep.Rows, func(a, b *Row) int {
		return cmp.Or(
			cmp.Compare(index(scenarioOrder, a.Scenario), index(scenarioOrder, b.Scenario)),
			cmp.Compare(index(caseOrder, a.Case), index(caseOrder, b.Case)),
			cmp.Compare(index(systemOrder, a.System), index(systemOrder, b.System)))
	})
}

// dataDir makes a directory for one scenario under the run's directory.
func (r *runner) dataDir(name string) (string, error) {
	return os.MkdirTemp(r.dir, name+"-")
}
