package monitoring

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestDashboardLayout(t *testing.T) {
	d := NewDashboard()
	ids := map[int]bool{}
	var graphs []Panel
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d twice", p.ID)
		}
		ids[p.ID] = true
		if p.GridPos.X < 0 || p.GridPos.W <= 0 || p.GridPos.X+p.GridPos.W > 24 || p.GridPos.H <= 0 {
			t.Errorf("panel %q at %+v: off the 24-unit grid", p.Title, p.GridPos)
		}
		for _, q := range graphs {
			if overlap(p.GridPos, q.GridPos) {
				t.Errorf("panels %q and %q overlap", p.Title, q.Title)
			}
		}
		graphs = append(graphs, p)
		if p.Type == "row" {
			continue
		}
		refs := map[string]bool{}
		if len(p.Targets) == 0 || p.FieldConfig == nil || p.FieldConfig.Defaults.Unit == "" {
			t.Errorf("panel %q: want queries and a unit", p.Title)
		}
		for _, tg := range p.Targets {
			if refs[tg.RefID] || tg.LegendFormat == "" || tg.Datasource == nil {
				t.Errorf("panel %q: target %+v: want a unique refId, a legend and a data source", p.Title, tg)
			}
			refs[tg.RefID] = true
			if !strings.Contains(tg.Expr, `instance=~"$instance"`) {
				t.Errorf("panel %q: %s does not follow the instance variable", p.Title, tg.Expr)
			}
		}
	}
	for _, want := range []string{"countermesh_api_request_duration_seconds_bucket", "countermesh_api_writes_total",
		"countermesh_api_live_subscribers", "countermesh_api_connections", "countermesh_replication_lag_seconds",
		"countermesh_peer_alive", "countermesh_clock_skewed", "countermesh_store_below_reserve", "countermesh_api_causal_stale_total"} {
		found := false
		for _, p := range d.Panels {
			for _, tg := range p.Targets {
				found = found || strings.Contains(tg.Expr, want+"{")
			}
		}
		if !found {
			t.Errorf("no panel shows %s", want)
		}
	}
}

func overlap(a, b GridPos) bool {
	return a.X < b.X+b.W && b.X < a.X+a.W && a.Y < b.Y+b.H && b.Y < a.Y+a.H
}

func TestWriteDashboardWritesJSON(t *testing.T) {
	var b bytes.Buffer
	if err := WriteDashboard(&b); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got["uid"] != "countermesh" || len(got["panels"].([]any)) != len(NewDashboard().Panels) {
		t.Errorf("WriteDashboard wrote:\n%s", b.String())
	}
	if strings.Contains(b.String(), `\u003`) {
		t.Error("WriteDashboard escaped <, > or & in a query")
	}
}
