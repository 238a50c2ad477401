package bench

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLatenciesPercentiles(t *testing.T) {
	l := NewLatencies()
	for i := 1; i <= 1000; i++ {
		l.Record(time.Duration(i) * time.Millisecond)
	}
	if l.Count() != 1000 {
		t.Fatalf("count %d, want 1000", l.Count())
	}
	for _, c := range []struct {
		p    float64
		want time.Duration
	}{{50, 500 * time.Millisecond}, {99, 990 * time.Millisecond}, {100, time.Second}} {
		got := l.Percentile(c.p)
		if d := got - c.want; d < -c.want/500 || d > c.want/500 { // 3 significant digits
			t.Errorf("p%v = %s, want %s ± 0.2%%", c.p, got, c.want)
		}
	}
	o := NewLatencies()
	o.Record(time.Hour)       // clamped to the top of the range
	o.Record(time.Nanosecond) // clamped to the bottom
	l.Merge(o)
	if l.Count() != 1002 || l.Percentile(100) < maxLatency*999/1000 {
		t.Errorf("after merge: count %d, max %s", l.Count(), l.Percentile(100))
	}
	if NewLatencies().Percentile(99) != 0 {
		t.Error("empty histogram: percentile not 0")
	}
}

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{5, 1, 3}, 3}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := median(c.in); got != c.want {
			t.Errorf("median(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}

func TestTargets(t *testing.T) {
	rows := []*Row{
		{Scenario: scenWrites, Case: caseSingle, System: sysCountermesh, OpsPerSec: 30_000},
		{Scenario: scenWrites, Case: caseSingle, System: sysRedis, OpsPerSec: 10_000},
		{Scenario: scenWrites, Case: caseBatch, System: sysCountermesh, OpsPerSec: 150_000},
		{Scenario: scenWrites, Case: caseHalfWrites, System: sysCountermesh, P99Ms: 4},
		{Scenario: scenHot, Case: caseSingle, System: sysCountermesh, OpsPerSec: 5_000},
		{Scenario: scenScale, Case: caseDisk, System: sysCountermesh, Value: 64, Unit: "bytes/reaction"},
	}
	rep := &Report{Rows: rows}
	rep.evaluate()
	checks := func(r *Row) map[string]string {
		m := map[string]string{}
		for _, c := range r.Checks {
			m[c.Target] = metText(c)
		}
		return m
	}
	want := []map[string]string{
		{"≥ 1× redis": "yes (3.00× redis)", "≥ 5× postgres": "n/a (postgres not run)"},
		{},
		{"≥ 200,000 ops/s": "NO", "≥ 1.5× redis": "n/a (redis not run)"},
		{"p99 ≤ 10 ms": "yes"},
		{"≥ 1× redis": "n/a (redis not run)", "≥ 10× postgres": "n/a (postgres not run)"},
		{"≤ 64 bytes/reaction": "yes"}, // the bound itself meets it
	}
	for i, r := range rows {
		got := checks(r)
		if len(got) != len(want[i]) {
			t.Errorf("%s/%s/%s: checks %v, want %v", r.Scenario, r.Case, r.System, got, want[i])
			continue
		}
		for k, v := range want[i] {
			if got[k] != v {
				t.Errorf("%s/%s/%s: %q = %q, want %q", r.Scenario, r.Case, r.System, k, got[k], v)
			}
		}
	}
	// Evaluating again replaces the checks rather than adding to them.
	rep.evaluate()
	if n := len(rows[0].Checks); n != 2 {
		t.Errorf("after a second evaluate: %d checks, want 2", n)
	}
	// A latency of zero (nothing measured) never meets an upper bound.
	zero := &Row{Scenario: scenWrites, Case: caseHalfWrites, System: sysCountermesh}
	(&Report{Rows: []*Row{zero}}).evaluate()
	if c := zero.Checks[0]; c.Met == nil || *c.Met {
		t.Errorf("nothing measured: %+v, want not met", c)
	}
}

func TestFormatNum(t *testing.T) {
	for in, want := range map[float64]string{0: "0", 1.5: "1.50", 999: "999", 1000: "1,000",
		1234567.8: "1,234,568", -20000: "-20,000"} {
		if got := formatNum(in); got != want {
			t.Errorf("formatNum(%v) = %q, want %q", in, got, want)
		}
	}
}

func TestReportTableAndJSON(t *testing.T) {
	rep := &Report{
		Rows: []*Row{
			{Scenario: scenWrites, Case: caseSingle, System: sysCountermesh, OpsPerSec: 12_345, P50Ms: 1.5, P99Ms: 12, Runs: 3},
			{Scenario: scenWrites, Case: caseSingle, System: sysRedis, OpsPerSec: 20_000, P50Ms: 2, P99Ms: 9, Runs: 3},
			{Scenario: scenScale, Case: caseRestart, System: sysCountermesh, Value: 1.25, Unit: "s", Errors: 2},
		},
		Skipped: []string{"postgres: --skip-postgres"},
	}
	rep.evaluate()
	var b bytes.Buffer
	rep.WriteTable(&b)
	out := b.String()
	for _, want := range []string{"target", "met?", "12,345", "NO (0.62× redis)", "n/a (postgres not run)",
		"1.25 s (2 errors)", "≤ 10 s", "skipped: postgres: --skip-postgres"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if strings.Count(out, scenWrites) != 1 {
		t.Errorf("scenario name repeated on every row:\n%s", out)
	}
	path := filepath.Join(t.TempDir(), "bench.json")
	if err := rep.WriteJSON(path); err != nil {
		t.Fatal(err)
	}
	got := readReport(t, path)
	if len(got.Rows) != 3 || got.Rows[0].OpsPerSec != 12_345 || len(got.Rows[0].Checks) != 2 ||
		got.Rows[0].Checks[0].Met == nil || *got.Rows[0].Checks[0].Met || got.Rows[0].Checks[1].Met != nil {
		t.Errorf("JSON round trip: %+v", got.Rows[0])
	}
}

func readReport(t *testing.T, path string) Report {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rep Report
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return rep
}

// The ceiling row leads the table, every countermesh throughput measured in
// requests reads as a fraction of it (a batch's in requests/s), and the mixed
// scenario is held against 2× Redis and 2× PostgreSQL.
func TestReportCeilingAndMixed(t *testing.T) {
	rep := &Report{Rows: []*Row{
		{Scenario: scenMixed, Case: caseMixed, System: sysCountermesh, OpsPerSec: 3_000, P50Ms: 5, P99Ms: 40, OpsPerRequest: 1},
		{Scenario: scenMixed, Case: caseMixed, System: sysRedis, OpsPerSec: 1_000, P50Ms: 3, P99Ms: 20, OpsPerRequest: 1},
		{Scenario: scenMixed, Case: caseMixed, System: sysPostgres, OpsPerSec: 2_000, P50Ms: 4, P99Ms: 30, OpsPerRequest: 1},
		{Scenario: scenWrites, Case: caseBatch, System: sysCountermesh, OpsPerSec: 100_000, OpsPerRequest: 100},
		{Scenario: scenWrites, Case: caseSingle, System: sysCountermesh, OpsPerSec: 5_000, OpsPerRequest: 1},
		{Scenario: scenScale, Case: caseLoad, System: sysCountermesh, OpsPerSec: 20_000}, // not through HTTP
		{Scenario: scenCeiling, Case: caseNoop, System: sysCountermesh, OpsPerSec: 20_000, P50Ms: 1, P99Ms: 4, OpsPerRequest: 1},
	}}
	r := &runner{rep: rep}
	r.sortRows()
	rep.evaluate()
	if rep.Rows[0].Scenario != scenCeiling || rep.Rows[len(rep.Rows)-3].Scenario != scenMixed {
		t.Errorf("order: ceiling first, mixed last; got first %q", rep.Rows[0].Scenario)
	}
	for _, c := range []struct {
		scenario, kase, system string
		want                   float64
	}{
		{scenMixed, caseMixed, sysCountermesh, 0.15},
		{scenWrites, caseBatch, sysCountermesh, 0.05}, // 1,000 requests/s of 20,000
		{scenWrites, caseSingle, sysCountermesh, 0.25},
		{scenMixed, caseMixed, sysRedis, 0},      // other systems are not put against it
		{scenScale, caseLoad, sysCountermesh, 0}, // nor what is not measured in requests
		{scenCeiling, caseNoop, sysCountermesh, 0},
	} {
		row := findRow(rep.Rows, c.scenario, c.kase, c.system)
		if math.Abs(row.OfCeiling-c.want) > 1e-9 {
			t.Errorf("%s / %s / %s: %.4f of the ceiling, want %.4f", c.scenario, c.kase, c.system, row.OfCeiling, c.want)
		}
	}
	mixed := findRow(rep.Rows, scenMixed, caseMixed, sysCountermesh)
	got := map[string]string{}
	for _, c := range mixed.Checks {
		got[c.Target] = metText(c)
	}
	if got["≥ 2× redis"] != "yes (3.00× redis)" || got["≥ 2× postgres"] != "NO (1.50× postgres)" || len(got) != 2 {
		t.Errorf("mixed checks: %v", got)
	}
	var b bytes.Buffer
	rep.WriteTable(&b)
	out := b.String()
	for _, want := range []string{scenCeiling, caseNoop, "20,000", scenMixed, caseMixed, "3,000", "40.0",
		"0.150× ceiling", "0.050× ceiling in requests/s", "0.250× ceiling", "≥ 2× redis", "yes (3.00× redis)",
		"≥ 2× postgres", "NO (1.50× postgres)"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if strings.Count(out, "× ceiling") != 3 {
		t.Errorf("want 3 rows put against the ceiling:\n%s", out)
	}
	path := filepath.Join(t.TempDir(), "bench.json")
	if err := rep.WriteJSON(path); err != nil {
		t.Fatal(err)
	}
	back := readReport(t, path)
	if c := findRow(back.Rows, scenCeiling, caseNoop, sysCountermesh); c == nil || c.OpsPerSec != 20_000 {
		t.Errorf("JSON: ceiling row %+v", c)
	}
	if m := findRow(back.Rows, scenMixed, caseMixed, sysCountermesh); m == nil || m.OfCeiling != 0.15 || len(m.Checks) != 2 {
		t.Errorf("JSON: mixed row %+v", m)
	}
}
