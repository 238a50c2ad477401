package chaos

import (
	"fmt"
	"strings"
	"time"
)

// Report is the outcome of a run: what was done, and the verdict on each
// invariant.
type Report struct {
	Seed          uint64
	Cluster       string
	Duration      time.Duration // from the first call to the end of the faults
	Writes, Reads Counts
	Faults        []Injection
	Convergence   time.Duration // from the heal until every peer answered the same
	ConvergeErr   error         // why the mesh did not converge, if it did not
	Verdicts      []Verdict
}

// OK reports whether no invariant failed.
func (r *Report) OK() bool {
	for _, v := range r.Verdicts {
		if v.Status == Fail {
			return false
		}
	}
	return len(r.Verdicts) > 0
}

// Verdict returns the verdict on an invariant (one of the Inv constants).
func (r *Report) Verdict(invariant string) Verdict {
	for _, v := range r.Verdicts {
		if v.Invariant == invariant {
			return v
		}
	}
	return Verdict{Invariant: invariant, Status: NotExercised}
}

// Summary prints the run: operations, faults, convergence and each verdict, and
// the seed that replays it.
func (r *Report) Summary() string {
	var b strings.Builder
	verdict := "PASS"
	if !r.OK() {
		verdict = "FAIL"
	}
	fmt.Fprintf(&b, "chaos run %s — seed %d — %s\n", verdict, r.Seed, r.Cluster)
	fmt.Fprintf(&b, "  duration     %s\n", r.Duration.Round(time.Millisecond))
	fmt.Fprintf(&b, "  writes       %d attempted: %d ok, %d failed, %d unknown (%d requests with retries; %d sent to several peers)\n",
		r.Writes.Attempted, r.Writes.OK, r.Writes.Failed, r.Writes.Unknown, r.Writes.Requests, r.Writes.Spread)
	fmt.Fprintf(&b, "  reads        %d attempted: %d ok, %d failed\n", r.Reads.Attempted, r.Reads.OK, r.Reads.Failed+r.Reads.Unknown)
	counts := map[string]int{}
	var names []string
	for _, in := range r.Faults {
		if counts[in.Fault] == 0 {
			names = append(names, in.Fault)
		}
		counts[in.Fault]++
	}
	var parts []string
	for _, name := range names {
		parts = append(parts, fmt.Sprintf("%s×%d", name, counts[name]))
	}
	fmt.Fprintf(&b, "  faults       %d injected: %s\n", len(r.Faults), strings.Join(parts, ", "))
	for _, in := range r.Faults {
		line := fmt.Sprintf("    %8s %-14s %s (%s)", in.At, in.Fault, in.What, in.For.Round(time.Millisecond))
		if in.Err != "" {
			line += " ERROR " + in.Err
		}
		b.WriteString(line + "\n")
	}
	if r.ConvergeErr != nil {
		fmt.Fprintf(&b, "  convergence  NOT REACHED: %v\n", r.ConvergeErr)
	} else {
		fmt.Fprintf(&b, "  convergence  %s after the heal\n", r.Convergence.Round(time.Millisecond))
	}
	for _, v := range r.Verdicts {
		fmt.Fprintf(&b, "  %-13s %s (%d checked)\n", v.Status, v.Invariant, v.Checked)
		for _, p := range v.Problems {
			fmt.Fprintf(&b, "      %s\n", p)
		}
	}
	if !r.OK() {
		fmt.Fprintf(&b, "  replay the schedule with -chaos.seed=%d\n", r.Seed)
	}
	return b.String()
}
