package chaos

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// Config configures a run.
type Config struct {
	// Seed draws the schedule, the faults' targets and the sessions' calls.
	Seed uint64
	// Duration is how long clients write while faults come and go. Every fault
	// runs at least once, so a run may last longer. Default 20 s.
	Duration time.Duration
	// FaultLength is the shortest a fault lasts (the longest is twice that).
	// Default 1.5 s.
	FaultLength time.Duration
	// Crashes adds a crash of a random peer (Kill, then Restart on its data) to
	// the cluster's faults. Default true; set NoCrashes to leave it out.
	NoCrashes bool
	// Workload is the client sessions.
	Workload Workload
	// ConvergeTimeout bounds the wait for convergence after the heal.
	// Default 60 s.
	ConvergeTimeout time.Duration
	// Logf receives progress lines (testing.T.Logf); nil discards them.
	Logf func(format string, args ...any)
}

func (c Config) withDefaults() Config {
	if c.Duration <= 0 {
		c.Duration = 20 * time.Second
	}
	if c.FaultLength <= 0 {
		c.FaultLength = 1500 * time.Millisecond
	}
	if c.ConvergeTimeout <= 0 {
		c.ConvergeTimeout = 60 * time.Second
	}
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
	c.Workload = c.Workload.withDefaults()
	return c
}

// Run writes through the cluster's API while injecting faults on a schedule
// drawn from the seed, then heals the cluster, waits for it to converge and
// checks the invariants. An error means the run itself broke (a fault or the
// heal could not be applied); a broken invariant is a failed verdict in the
// report.
func Run(ctx context.Context, cl Cluster, cfg Config) (*Report, error) {
	cfg = cfg.withDefaults()
	r := &Report{Seed: cfg.Seed, Cluster: cl.Describe()}
	client := NewClient(cl.Token())
	defer client.Close()
	history := &History{}
	n := &nemesis{cl: cl, client: client, items: cfg.Workload.ItemNames(), logf: cfg.Logf, history: history}
	faults := cl.Faults()
	if !cfg.NoCrashes {
		faults = append(faults, n.crashFault())
	}
	steps := Plan(cfg.Seed, faults, cfg.Duration, cfg.FaultLength)

	stop := make(chan struct{})
	sessionsDone := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(sessionsDone)
		runSessions(cfg.Seed, cfg.Workload, cl, client, history, stop)
	}()
	err := n.play(ctx, start, faults, steps)
	close(stop)
	<-sessionsDone
	r.Faults = n.injected
	r.Duration = time.Since(start)
	if err != nil {
		return r, err
	}

	healed := time.Now()
	if err := cl.Heal(ctx); err != nil {
		return r, fmt.Errorf("heal: %w", err)
	}
	n.probePending(ctx)
	items := cfg.Workload.ItemNames()
	r.Convergence, r.ConvergeErr = waitConverged(ctx, cl, client, items, healed, cfg.ConvergeTimeout)
	cfg.Logf("healed; converged in %s (%v)", r.Convergence.Round(time.Millisecond), r.ConvergeErr)
	final, err := cl.Final(ctx, items)
	if err != nil {
		return r, fmt.Errorf("final states: %w", err)
	}
	ops := history.Ops()
	r.Writes, r.Reads = CountOps(ops)
	r.Verdicts = Check(Evidence{Ops: ops, Final: final, Probes: n.probes})
	if r.ConvergeErr != nil {
		for i := range r.Verdicts {
			if r.Verdicts[i].Invariant == InvConvergence {
				r.Verdicts[i].fail("%v", r.ConvergeErr)
			}
		}
	}
	return r, nil
}

// waitConverged polls every peer's API until all answer the same view of every
// item and every peer has shipped all its changes to every other (Unsettled), and
// returns how long that took from healed. Views alone would miss registers,
// which the API does not list.
func waitConverged(ctx context.Context, cl Cluster, client *Client, items []string, healed time.Time, timeout time.Duration) (time.Duration, error) {
	deadline := time.Now().Add(timeout)
	var last string
	for {
		if why, err := converged(ctx, cl, client, items); err != nil {
			last = err.Error()
		} else if why == "" {
			return time.Since(healed), nil
		} else {
			last = why
		}
		if time.Now().After(deadline) {
			return time.Since(healed), fmt.Errorf("not converged %s after the heal: %s", timeout, last)
		}
		select {
		case <-ctx.Done():
			return time.Since(healed), ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// converged says why the peers have not converged yet, or "" if they have.
func converged(ctx context.Context, cl Cluster, client *Client, items []string) (string, error) {
	states := map[string]PeerState{}
	for _, p := range cl.Peers() {
		why, err := client.Unsettled(ctx, cl.API(p))
		if err != nil || why != "" {
			return p + ": " + why, err
		}
		if states[p], err = client.ReadMany(ctx, cl.API(p), items); err != nil {
			return "", err
		}
	}
	if diffs := Differences(states, items); len(diffs) > 0 {
		return fmt.Sprintf("%d items differ, first %s", len(diffs), diffs[0]), nil
	}
	return "", nil
}

// Injection is one fault as it was injected.
type Injection struct {
	Fault string
	What  string        // what it did, as the cluster said
	At    time.Duration // from the start of the run
	For   time.Duration
	Err   string // why it could not be injected or repaired
}

// nemesis plays a schedule of faults against a cluster.
type nemesis struct {
	cl       Cluster
	client   *Client
	items    []string
	logf     func(string, ...any)
	injected []Injection
	probes   []CrashProbe
	killed   map[string]time.Time // peers killed and not yet restarted
	history  *History             // what the sessions did so far
}

func (n *nemesis) play(ctx context.Context, start time.Time, faults []Fault, steps []Step) error {
	for _, st := range steps {
		f := faults[st.Fault]
		if err := sleepUntil(ctx, start.Add(st.At)); err != nil {
			return err
		}
		in := Injection{Fault: f.Name, At: time.Since(start).Round(time.Millisecond), For: st.For}
		what, err := f.Inject(ctx, rand.New(rand.NewPCG(st.Seed, 1)))
		in.What = what
		if err != nil {
			in.Err = "inject: " + err.Error()
			n.injected = append(n.injected, in)
			return fmt.Errorf("fault %s: %w", f.Name, err)
		}
		n.logf("%7s  %-12s %s (for %s)", in.At, f.Name, what, st.For.Round(time.Millisecond))
		if err := sleepUntil(ctx, time.Now().Add(st.For)); err != nil {
			return err
		}
		if f.Repair != nil {
			if err := f.Repair(ctx); err != nil {
				in.Err = "repair: " + err.Error()
				n.injected = append(n.injected, in)
				return fmt.Errorf("fault %s: repair: %w", f.Name, err)
			}
		}
		n.injected = append(n.injected, in)
	}
	return nil
}

func sleepUntil(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err()
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// crashFault kills a random peer and restarts it on its data, then reads what
// it holds: everything it acknowledged before the kill must be there.
func (n *nemesis) crashFault() Fault {
	var victim string
	return Fault{
		Name: "crash",
		Inject: func(ctx context.Context, rng *rand.Rand) (string, error) {
			peers := n.cl.Peers()
			victim = peers[rng.IntN(len(peers))]
			if err := n.awaitAckedIncrement(ctx, victim); err != nil {
				return "", err
			}
			if n.killed == nil {
				n.killed = map[string]time.Time{}
			}
			n.killed[victim] = time.Now()
			if err := n.cl.Kill(victim); err != nil {
				return "", err
			}
			return fmt.Sprintf("%s killed (no drain, no flush), to restart on its data", victim), nil
		},
		Repair: func(ctx context.Context) error {
			if err := n.cl.Restart(ctx, victim); err != nil {
				return err
			}
			return n.probe(ctx, victim)
		},
	}
}

// crashWarmup bounds how long a crash waits for its victim to acknowledge an
// increment: a crash of a peer that acknowledged nothing would prove nothing.
const crashWarmup = 10 * time.Second

// awaitAckedIncrement waits (up to crashWarmup) until peer has acknowledged an
// increment, so that its crash tests something.
func (n *nemesis) awaitAckedIncrement(ctx context.Context, peer string) error {
	deadline := time.Now().Add(crashWarmup)
	for time.Now().Before(deadline) {
		for _, op := range n.history.Ops() {
			if op.Kind != Increment {
				continue
			}
			for _, t := range op.Attempts() {
				if t.Outcome == OK && t.Peer == peer {
					return nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil // crash it anyway; the durability verdict will say it was not exercised
}

// probe reads a restarted peer's view of every item.
func (n *nemesis) probe(ctx context.Context, peer string) error {
	killed := n.killed[peer]
	delete(n.killed, peer)
	var st PeerState
	var err error
	for range 20 { // the API answers once Restart returns; a read may still race a fault
		if st, err = n.client.ReadMany(ctx, n.cl.API(peer), n.items); err == nil {
			n.probes = append(n.probes, CrashProbe{Peer: peer, Killed: killed, State: st})
			return nil
		}
		if errors.Is(ctx.Err(), context.Canceled) {
			return ctx.Err()
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("read %s after its restart: %w", peer, err)
}

// probePending probes peers the heal restarted (killed when the run stopped).
func (n *nemesis) probePending(ctx context.Context) {
	for peer := range n.killed {
		if err := n.probe(ctx, peer); err != nil {
			n.logf("probe %s: %v", peer, err)
		}
	}
}
