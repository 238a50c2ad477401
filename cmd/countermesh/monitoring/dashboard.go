package monitoring

import (
	"encoding/json"
	"fmt"
	"io"
)

// Dashboard is a Grafana dashboard, in the JSON model Grafana imports
// (Dashboards → New → Import).
type Dashboard struct {
	UID           string      `json:"uid"`
	Title         string      `json:"title"`
	Description   string      `json:"description"`
	Tags          []string    `json:"tags"`
	Timezone      string      `json:"timezone"`
	Editable      bool        `json:"editable"`
	Refresh       string      `json:"refresh"`
	SchemaVersion int         `json:"schemaVersion"`
	Time          TimeRange   `json:"time"`
	Templating    Templating  `json:"templating"`
	Panels        []Panel     `json:"panels"`
	Annotations   Annotations `json:"annotations"`
}

// TimeRange is the time range a dashboard opens with.
type TimeRange struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// Templating holds a dashboard's variables.
type Templating struct {
	List []Variable `json:"list"`
}

// Annotations holds a dashboard's annotation queries (none).
type Annotations struct {
	List []struct{} `json:"list"`
}

// Variable is a dashboard variable: the Prometheus data source, or the
// instances (peers) shown.
type Variable struct {
	Name       string      `json:"name"`
	Label      string      `json:"label"`
	Type       string      `json:"type"`
	Query      any         `json:"query"`
	Datasource *Datasource `json:"datasource,omitempty"`
	Definition string      `json:"definition,omitempty"`
	Refresh    int         `json:"refresh,omitempty"`
	IncludeAll bool        `json:"includeAll,omitempty"`
	Multi      bool        `json:"multi,omitempty"`
	AllValue   string      `json:"allValue,omitempty"`
}

// VariableQuery is the query of a query variable.
type VariableQuery struct {
	Query string `json:"query"`
	RefID string `json:"refId"`
}

// Datasource names the data source of a panel, target or variable.
type Datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

// Panel is a panel of a dashboard: a row heading, or a time series.
type Panel struct {
	ID          int          `json:"id"`
	Type        string       `json:"type"`
	Title       string       `json:"title"`
	Description string       `json:"description,omitempty"`
	GridPos     GridPos      `json:"gridPos"`
	Datasource  *Datasource  `json:"datasource,omitempty"`
	Targets     []Target     `json:"targets,omitempty"`
	FieldConfig *FieldConfig `json:"fieldConfig,omitempty"`
	Collapsed   bool         `json:"collapsed,omitempty"`
	Panels      []Panel      `json:"panels,omitempty"`
}

// GridPos places a panel on the dashboard's grid, 24 units wide.
type GridPos struct {
	H int `json:"h"`
	W int `json:"w"`
	X int `json:"x"`
	Y int `json:"y"`
}

// Target is one query of a panel.
type Target struct {
	RefID        string      `json:"refId"`
	Expr         string      `json:"expr"`
	LegendFormat string      `json:"legendFormat"`
	Datasource   *Datasource `json:"datasource"`
}

// FieldConfig sets the unit and bounds of a panel's values.
type FieldConfig struct {
	Defaults FieldDefaults `json:"defaults"`
	// Overrides is required by Grafana's model; empty.
	Overrides []struct{} `json:"overrides"`
}

// FieldDefaults are the defaults of a panel's fields.
type FieldDefaults struct {
	Unit string   `json:"unit"`
	Min  *float64 `json:"min,omitempty"`
	Max  *float64 `json:"max,omitempty"`
}

// prometheusDS is the data source every query runs on: the dashboard's
// datasource variable.
var prometheusDS = &Datasource{Type: "prometheus", UID: "${datasource}"}

// instanceMetric is the metric whose instance labels list the peers to choose
// from: every peer serves it once it has answered a request.
const instanceMetric = "countermesh_api_requests_total"

// sel is the label matcher of the chosen instances, for the selectors of the
// dashboard's queries.
const sel = `instance=~"$instance"`

// graph is a time-series panel under construction: its queries are legend,
// expression pairs.
type graph struct {
	title, description, unit string
	min, max                 *float64
	queries                  []string
}

// section is a row of the dashboard and its graphs.
type section struct {
	title  string
	graphs []graph
}

func ptr(f float64) *float64 { return &f }

// sections are the dashboard's contents, top to bottom.
func sections() []section {
	return []section{
		{"Mesh", []graph{
			{title: "Peers alive, as each peer sees them", unit: "none", min: ptr(0), max: ptr(1),
				description: "1 while the remote peer is alive in the observer's membership. A peer no one sees alive fires CountermeshPeerDown.",
				queries:     []string{"{{instance}} → {{peer}}", `countermesh_peer_alive{` + sel + `}`}},
			{title: "Sync links up", unit: "none", min: ptr(0), max: ptr(1),
				description: "1 while the observer has a sync link to the remote peer (CountermeshLinkDown).",
				queries:     []string{"{{instance}} → {{peer}}", `countermesh_peer_linked{` + sel + `}`}},
			{title: "Replication lag", unit: "s", min: ptr(0),
				description: "Age of the oldest change of the observer the remote peer has not acknowledged (CountermeshReplicationLag).",
				queries:     []string{"{{instance}} → {{peer}}", `countermesh_replication_lag_seconds{` + sel + `}`}},
			{title: "Changes not yet acknowledged", unit: "short", min: ptr(0),
				description: "Changes of the observer the remote peer has not acknowledged.",
				queries:     []string{"{{instance}} → {{peer}}", `countermesh_replication_lag_seqs{` + sel + `}`}},
			{title: "Keys refused for clock drift", unit: "short", min: ptr(0),
				description: "Keys refused as beyond the max clock drift, either way (CountermeshClockDriftRefusals).",
				queries: []string{
					"{{peer}} refuses keys of {{instance}}", `countermesh_sync_refused_keys{` + sel + `}`,
					"{{instance}} refuses keys of {{peer}}", `countermesh_sync_refusing_keys{` + sel + `}`,
				}},
			{title: "Writes refused for the clock or the disk", unit: "none", min: ptr(0), max: ptr(1),
				description: "1 while the peer refuses writes because its clock is beyond the max drift (CountermeshClockSkewed) " +
					"or its disk is below the reserve (CountermeshDiskBelowReserve).",
				queries: []string{
					"{{instance}} clock skewed", `countermesh_clock_skewed{` + sel + `}`,
					"{{instance}} disk below reserve", `countermesh_store_below_reserve{` + sel + `}`,
				}},
		}},
		{"API", []graph{
			{title: "Requests by route", unit: "reqps", min: ptr(0),
				queries: []string{"{{route}}", `sum by (route) (rate(countermesh_api_requests_total{` + sel + `}[$__rate_interval]))`}},
			{title: "5xx answers", unit: "percentunit", min: ptr(0),
				description: "Share of answers that were 5xx, /readyz not counted (CountermeshHighErrorRate).",
				queries: []string{"{{instance}}", `sum by (instance) (rate(countermesh_api_requests_total{code=~"5..", route!="GET /readyz", ` + sel + `}[$__rate_interval]))` +
					` / sum by (instance) (rate(countermesh_api_requests_total{` + sel + `}[$__rate_interval]))`}},
			{title: "Latency by route (p50, p99)", unit: "s", min: ptr(0),
				description: "Live event streams are left out: their duration is the stream's.",
				queries: []string{
					"p50 {{route}}", latencyQuantile("0.5"),
					"p99 {{route}}", latencyQuantile("0.99"),
				}},
			{title: "Writes by outcome", unit: "ops", min: ptr(0),
				description: "ok, replayed (an idempotent retry), invalid, conflict, unavailable (refused: disk, clock, overload), unknown (not durable in time), error.",
				queries:     []string{"{{kind}} {{outcome}}", `sum by (kind, outcome) (rate(countermesh_api_writes_total{` + sel + `}[$__rate_interval]))`}},
			{title: "Causal tokens", unit: "reqps", min: ptr(0),
				description: "Reads that waited for replication to catch up with their causal token, and answers sent stale (CountermeshCausalStale).",
				queries: []string{
					"{{instance}} waited", `rate(countermesh_api_causal_waits_total{` + sel + `}[$__rate_interval])`,
					"{{instance}} stale", `rate(countermesh_api_causal_stale_total{` + sel + `}[$__rate_interval])`,
				}},
			{title: "Causal wait (p99)", unit: "s", min: ptr(0),
				queries: []string{"{{instance}}", `histogram_quantile(0.99, sum by (instance, le) (rate(countermesh_api_causal_wait_seconds_bucket{` + sel + `}[$__rate_interval])))`}},
			{title: "Live subscribers", unit: "short", min: ptr(0),
				queries: []string{"{{instance}}", `countermesh_api_live_subscribers{` + sel + `}`}},
			{title: "Connections", unit: "short", min: ptr(0),
				description: "Open connections; connections refused past the cap and requests refused by the rate limit, per second.",
				queries: []string{
					"{{instance}} open", `countermesh_api_connections{` + sel + `}`,
					"{{instance}} refused/s", `rate(countermesh_api_connections_refused_total{` + sel + `}[$__rate_interval])`,
					"{{instance}} rate limited/s", `rate(countermesh_api_rate_limited_total{` + sel + `}[$__rate_interval])`,
				}},
		}},
		{"Store and edge", []graph{
			{title: "Store size on disk", unit: "bytes", min: ptr(0),
				queries: []string{"{{instance}}", `countermesh_store_bytes{` + sel + `}`}},
			{title: "Refused at the edge", unit: "short", min: ptr(0),
				description: "Per second: QUIC handshakes refused by reason, gossip dropped, memberlist nodes refused.",
				queries: []string{
					"{{instance}} handshakes {{reason}}", `rate(countermesh_sync_handshakes_refused_total{` + sel + `}[$__rate_interval])`,
					"{{instance}} gossip dropped", `rate(countermesh_gossip_dropped_total{` + sel + `}[$__rate_interval])`,
					"{{instance}} nodes refused", `rate(countermesh_gossip_nodes_refused_total{` + sel + `}[$__rate_interval])`,
				}},
		}},
	}
}

// latencyQuantile is the query of a quantile of API latency by route.
func latencyQuantile(q string) string {
	return `histogram_quantile(` + q + `, sum by (route, le) (rate(countermesh_api_request_duration_seconds_bucket{` +
		`route!="GET /v1/items/{item}/events", ` + sel + `}[$__rate_interval])))`
}

// NewDashboard returns the Grafana dashboard of a countermesh mesh: a row per
// section, two graphs side by side.
func NewDashboard() Dashboard {
	d := Dashboard{
		UID: "countermesh", Title: "countermesh",
		Description: "A countermesh mesh: membership, links, replication lag, clocks, disk, and the HTTP API of every peer.",
		Tags:        []string{"countermesh"}, Timezone: "browser", Editable: true, Refresh: "30s",
		SchemaVersion: 39, Time: TimeRange{From: "now-1h", To: "now"},
		Annotations: Annotations{List: []struct{}{}},
		Templating: Templating{List: []Variable{
			{Name: "datasource", Label: "Data source", Type: "datasource", Query: "prometheus"},
			{Name: "instance", Label: "Peer", Type: "query", Datasource: prometheusDS, Refresh: 2,
				IncludeAll: true, Multi: true, AllValue: ".*",
				Definition: instanceQuery(), Query: VariableQuery{Query: instanceQuery(), RefID: "instance"}},
		}},
	}
	id, y := 0, 0
	for _, s := range sections() {
		id++
		d.Panels = append(d.Panels, Panel{ID: id, Type: "row", Title: s.title, GridPos: GridPos{H: 1, W: 24, Y: y}})
		y++
		for i, g := range s.graphs {
			id++
			d.Panels = append(d.Panels, g.panel(id, GridPos{H: 8, W: 12, X: 12 * (i % 2), Y: y + 8*(i/2)}))
		}
		y += 8 * ((len(s.graphs) + 1) / 2)
	}
	return d
}

// instanceQuery lists the peers the dashboard can show.
func instanceQuery() string { return "label_values(" + instanceMetric + ", instance)" }

// panel returns the graph as a time-series panel.
func (g graph) panel(id int, pos GridPos) Panel {
	p := Panel{ID: id, Type: "timeseries", Title: g.title, Description: g.description, GridPos: pos,
		Datasource:  prometheusDS,
		FieldConfig: &FieldConfig{Defaults: FieldDefaults{Unit: g.unit, Min: g.min, Max: g.max}, Overrides: []struct{}{}}}
	for i := 0; i+1 < len(g.queries); i += 2 {
		p.Targets = append(p.Targets, Target{RefID: string(rune('A' + i/2)), LegendFormat: g.queries[i],
			Expr: g.queries[i+1], Datasource: prometheusDS})
	}
	return p
}

// WriteDashboard writes the dashboard as indented JSON.
func WriteDashboard(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false) // a query's <, > and & read as written
	if err := enc.Encode(NewDashboard()); err != nil {
		return fmt.Errorf("monitoring: write dashboard: %w", err)
	}
	return nil
}
