package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Systems compared.
const (
	sysCountermesh = "countermesh"
	sysRedis       = "redis"
	sysPostgres    = "postgres"
)

// Row is one figure of the report: a throughput with its latencies, or a single
// value with its unit.
type Row struct {
	Scenario string `json:"scenario"`
	Case     string `json:"case"`
	System   string `json:"system"`
	// OpsPerSec is operations per second (for batches: operations, not
	// requests); P50Ms and P99Ms are the latency of one call (one request) in
	// milliseconds.
	OpsPerSec float64 `json:"ops_per_sec,omitempty"`
	P50Ms     float64 `json:"p50_ms,omitempty"`
	P99Ms     float64 `json:"p99_ms,omitempty"`
	// Value and Unit hold a figure that is not a throughput.
	Value float64 `json:"value,omitempty"`
	Unit  string  `json:"unit,omitempty"`
	// Note qualifies the figure (what was counted, a comparison).
	Note string `json:"note,omitempty"`
	// OpsPerRequest is how many operations one request of a throughput phase
	// carries (1, or a batch size); 0 for a figure not measured in requests.
	OpsPerRequest int `json:"ops_per_request,omitempty"`
	// OfCeiling is a countermesh throughput in requests/s as a fraction of
	// the ceiling's (a no-op request through the same HTTP stack, clients and
	// settings, in the same run); 0 when either was not measured.
	OfCeiling float64 `json:"of_ceiling,omitempty"`
	// Runs is how many times the phase ran; figures are medians over them.
	Runs   int   `json:"runs,omitempty"`
	Ops    int64 `json:"ops,omitempty"`
	Errors int64 `json:"errors,omitempty"`
	// FirstError is the first failed call's error, if any failed.
	FirstError string `json:"first_error,omitempty"`
	// Checks are the targets this figure is held against.
	Checks []Check `json:"targets,omitempty"`
	// PeerCommitP99Ms is, for a countermesh phase that wrote, an upper bound
	// of the 99th percentile of how long the peer's store took to commit a
	// batch during it: the least bucket of the peer's commit histogram
	// (countermesh_store_commit_seconds) that holds it, the upper median over
	// runs; -1 when beyond the histogram's last bound. With PeerOpsPerCommit,
	// the ops per commit (median), it tells the peer's share of a write's
	// latency from the rest (HTTP, scheduling, the clients).
	PeerCommitP99Ms  float64 `json:"peer_commit_p99_ms,omitempty"`
	PeerOpsPerCommit float64 `json:"peer_ops_per_commit,omitempty"`
	// PeerCommitMaxMs bounds the longest commit likewise: the least bucket
	// that holds every commit of the run, the upper median over runs; -1 when
	// beyond the last bound. A few long commits (a stall in Badger) hold up
	// every write queued behind them yet hardly move the commits' p99, as
	// each carries many writes.
	PeerCommitMaxMs float64 `json:"peer_commit_max_ms,omitempty"`
	// PeerAnswerP99Ms is, for a countermesh phase, an upper bound of the
	// 99th percentile of how long the peer's handlers took to answer its
	// requests, as the peer timed them (countermesh_api_request_duration_seconds,
	// every route but the bench's own GET /metrics), the upper median over
	// runs; -1 when beyond the histogram's last bound. Beside the clients'
	// p99 it tells the time a request spent in the peer's handlers from the
	// time it spent before and after them: in the network, the kernel, the
	// peer's HTTP server reading it, or the client.
	PeerAnswerP99Ms float64 `json:"peer_answer_p99_ms,omitempty"`
	// PeerLongWaits is, for a countermesh phase, how many times a goroutine
	// of the peer waited over PeerLongWaitMs to run (median over runs), from
	// the peer's go_sched_latencies_seconds: PeerLongWaitMs is that
	// histogram's least bound of 10 ms or more, the Go runtime's preemption
	// slice. Waits that long mean a few busy goroutines (a compaction, the
	// collector) held the peer's CPUs, and every request behind them waited.
	PeerLongWaits  float64 `json:"peer_long_waits,omitempty"`
	PeerLongWaitMs float64 `json:"peer_long_wait_ms,omitempty"`
}

// addNote adds a remark to r's note.
func (r *Row) addNote(s string) { r.Note = joinNotes(r.Note, s) }

// joinNotes joins remarks on one figure, in order, leaving out empty ones.
func joinNotes(notes ...string) string {
	return strings.Join(slices.DeleteFunc(notes, func(n string) bool { return n == "" }), "; ")
}

// key identifies a row.
func (r *Row) key() string { return r.Scenario + "|" + r.Case + "|" + r.System }

// Check is one target held against a row.
type Check struct {
	Target string `json:"target"`
	// Met is nil when the target could not be evaluated (a system skipped).
	Met *bool `json:"met"`
	// Why says what was compared, or why it could not be.
	Why string `json:"why,omitempty"`
}

// Field of a row a target is about.
type field int

const (
	fieldOpsPerSec field = iota
	fieldP99
	fieldValue
)

func (f field) of(r *Row) float64 {
	switch f {
	case fieldOpsPerSec:
		return r.OpsPerSec
	case fieldP99:
		return r.P99Ms
	default:
		return r.Value
	}
}

// target is a goal for one countermesh figure: at least factor × the same
// figure of another system, or at least (atMost: at most) bound.
type target struct {
	scenario, kase string
	field          field
	vs             string  // the system compared with, or "" for an absolute bound
	factor         float64 // with vs
	bound          float64 // without vs
	atMost         bool
	label          string // how the target reads in the table
}

// evaluate attaches the target's check to its row, if the row exists.
func (t target) evaluate(rows []*Row) {
	me := findRow(rows, t.scenario, t.kase, sysCountermesh)
	if me == nil {
		return
	}
	got := t.field.of(me)
	c := Check{Target: t.label}
	want := t.bound
	if t.vs != "" {
		other := findRow(rows, t.scenario, t.kase, t.vs)
		if other == nil || t.field.of(other) == 0 {
			c.Why = t.vs + " not run"
			me.Checks = append(me.Checks, c)
			return
		}
		want = t.factor * t.field.of(other)
		c.Why = fmt.Sprintf("%.2f× %s", got/t.field.of(other), t.vs)
	}
	met := got >= want
	if t.atMost {
		met = got <= want && got > 0
	}
	c.Met = &met
	me.Checks = append(me.Checks, c)
}

func findRow(rows []*Row, scenario, kase, system string) *Row {
	for _, r := range rows {
		if r.Scenario == scenario && r.Case == kase && r.System == system {
			return r
		}
	}
	return nil
}

// Report is everything one run measured; it is what --json writes.
type Report struct {
	Started  time.Time `json:"started"`
	Seconds  float64   `json:"seconds"`
	Machine  Machine   `json:"machine"`
	Settings Settings  `json:"settings"`
	Rows     []*Row    `json:"rows"`
	// Skipped lists what did not run, and why.
	Skipped []string `json:"skipped,omitempty"`
	// Notes are remarks printed under the table.
	Notes []string `json:"notes,omitempty"`
}

// Machine describes where the run happened.
type Machine struct {
	CPUs       int    `json:"cpus"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	Go         string `json:"go"`
	OS         string `json:"os"`
	Arch       string `json:"arch"`
	Redis      string `json:"redis,omitempty"`
	Postgres   string `json:"postgres,omitempty"`
}

// Settings are the run's parameters.
type Settings struct {
	Quick         bool     `json:"quick"`
	Scenarios     []string `json:"scenarios"`
	Clients       int      `json:"clients"`
	DurationSec   float64  `json:"duration_sec"`
	Repeat        int      `json:"repeat"`
	Items         int      `json:"items"`
	Users         int      `json:"users"`
	BatchSize     int      `json:"batch_size"`
	PageSize      int      `json:"page_size"`
	ScaleItems    int      `json:"scale_items"`
	ScaleReacts   int      `json:"scale_reactions"`
	MeshDelayMs   float64  `json:"mesh_delay_ms"`
	StoreProfile  string   `json:"store_profile"`
	LoadInProcess bool     `json:"load_generator_in_process"`
	// ThroughputPeer says where the throughput scenarios' peer ran.
	ThroughputPeer string `json:"throughput_peer"`
	// APIToken describes the token the clients send; RateLimit and Burst are
	// its rate limit, the API's default, in operations/s and operations.
	APIToken  string  `json:"api_token"`
	RateLimit float64 `json:"rate_limit_ops_per_sec"`
	Burst     int     `json:"rate_limit_burst"`
}

// evaluate holds every target against the rows, and puts every countermesh
// throughput against the ceiling.
func (rep *Report) evaluate() {
	for _, r := range rep.Rows {
		r.Checks = nil
	}
	for _, t := range targets {
		t.evaluate(rep.Rows)
	}
	rep.relateToCeiling()
}

// relateToCeiling sets OfCeiling on every countermesh throughput measured in
// requests: its requests/s over the ceiling's.
func (rep *Report) relateToCeiling() {
	ceiling := findRow(rep.Rows, scenCeiling, caseNoop, sysCountermesh)
	for _, r := range rep.Rows {
		r.OfCeiling = 0
		if ceiling == nil || ceiling.OpsPerSec <= 0 || r == ceiling || r.System != sysCountermesh || r.OpsPerRequest < 1 {
			continue
		}
		r.OfCeiling = r.OpsPerSec / float64(r.OpsPerRequest) / ceiling.OpsPerSec
	}
}

// ceilingText renders a row's fraction of the ceiling, or "".
func ceilingText(r *Row) string {
	switch {
	case r.OfCeiling == 0:
		return ""
	case r.OpsPerRequest > 1:
		return fmt.Sprintf("%.3f× ceiling in requests/s", r.OfCeiling)
	default:
		return fmt.Sprintf("%.3f× ceiling", r.OfCeiling)
	}
}

// WriteJSON writes the report to path.
func (rep *Report) WriteJSON(path string) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// WriteTable prints the report as a table, targets beside the figures.
func (rep *Report) WriteTable(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "scenario\tcase\tsystem\tops/s\tp50 ms\tp99 ms\tfigure\ttarget\tmet?\t")
	last := ""
	for _, r := range rep.Rows {
		scen := r.Scenario
		if scen == last {
			scen = ""
		}
		last = r.Scenario
		fig := ""
		if r.Unit != "" {
			fig = formatNum(r.Value) + " " + r.Unit
		}
		if r.Note != "" {
			fig = strings.TrimSpace(fig + " " + r.Note)
		}
		if c := ceilingText(r); c != "" && fig != "" {
			fig = c + "; " + fig
		} else if c != "" {
			fig = c
		}
		if r.Errors > 0 {
			fig = strings.TrimSpace(fmt.Sprintf("%s (%d errors)", fig, r.Errors))
		}
		first := Check{}
		if len(r.Checks) > 0 {
			first = r.Checks[0]
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", scen, r.Case, r.System,
			formatRate(r.OpsPerSec), formatMs(r.P50Ms), formatMs(r.P99Ms), fig, first.Target, metText(first))
		for _, c := range r.Checks[min(1, len(r.Checks)):] {
			fmt.Fprintf(tw, "\t\t\t\t\t\t\t%s\t%s\t\n", c.Target, metText(c))
		}
	}
	tw.Flush()
	for _, s := range rep.Skipped {
		fmt.Fprintln(w, "skipped:", s)
	}
	for _, n := range rep.Notes {
		fmt.Fprintln(w, "note:", n)
	}
}

// metText renders a check's outcome.
func metText(c Check) string {
	switch {
	case c.Target == "":
		return ""
	case c.Met == nil:
		return "n/a (" + c.Why + ")"
	case *c.Met && c.Why != "":
		return "yes (" + c.Why + ")"
	case *c.Met:
		return "yes"
	case c.Why != "":
		return "NO (" + c.Why + ")"
	default:
		return "NO"
	}
}

func formatRate(v float64) string {
	if v == 0 {
		return ""
	}
	return formatNum(v)
}

func formatMs(v float64) string {
	switch {
	case v == 0:
		return ""
	case v < 10:
		return fmt.Sprintf("%.2f", v)
	default:
		return fmt.Sprintf("%.1f", v)
	}
}

// formatNum prints a figure with thousands separators, and decimals only when
// it is small.
func formatNum(v float64) string {
	if v != 0 && math.Abs(v) < 100 {
		return fmt.Sprintf("%.2f", v)
	}
	n := int64(math.Round(v))
	neg := n < 0
	if neg {
		n = -n
	}
	s := fmt.Sprint(n)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
