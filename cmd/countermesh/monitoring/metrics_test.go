package monitoring

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/countermesh/countermesh/region/httpapi"
	"github.com/countermesh/countermesh/region/regiontest"
	"github.com/countermesh/countermesh/tests/testkit"
)

// TestMain fails the package's run if its tests leave goroutines behind.
func TestMain(m *testing.M) {
	// Fault-network sockets are not *net.UDPConn; quic-go would warn on each.
	os.Setenv("QUIC_GO_DISABLE_RECEIVE_BUFFER_WARNING", "true")
	testkit.VerifyNoLeaks(m)
}

// exported maps every series name a peer serves on /metrics to its label
// names.
type exported map[string][]string

// scrapePeer runs a mesh of two real peers, serves the API of one as serve
// does (on the listener that caps connections), writes and reads through it (a
// metric vector shows only once it has a value), and returns what its /metrics
// serves.
func scrapePeer(t *testing.T) exported {
	t.Helper()
	mesh := regiontest.NewMesh(t, []string{"eu", "us"}, 1)
	s, err := httpapi.New(httpapi.Config{Backend: mesh.Node("eu-1").Peer, Logger: regiontest.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	srv := httptest.NewUnstartedServer(s.Handler())
	if srv.Listener, err = s.LimitListener(srv.Listener); err != nil {
		t.Fatal(err)
	}
	srv.Start()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		srv.Close()
	})
	for _, req := range []struct{ method, path, body string }{
		{"PUT", "/v1/items/a/reactions/u1", `{"reaction":"like"}`},
		{"POST", "/v1/items/a/counters/claps", `{"by":1}`},
		{"GET", "/v1/items/a", ""},
	} {
		r, err := http.NewRequest(req.method, srv.URL+req.path, strings.NewReader(req.body))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s %s: status %d", req.method, req.path, resp.StatusCode)
		}
	}
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return seriesNames(families)
}

// seriesNames returns the series names of metric families and their labels: a
// histogram's family name stands for its _bucket (with le), _sum and _count.
func seriesNames(families map[string]*dto.MetricFamily) exported {
	ex := exported{}
	for name, f := range families {
		var labels []string
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if !slices.Contains(labels, l.GetName()) {
					labels = append(labels, l.GetName())
				}
			}
		}
		if f.GetType() != dto.MetricType_HISTOGRAM {
			ex[name] = labels
			continue
		}
		ex[name+"_bucket"] = append(slices.Clone(labels), "le")
		ex[name+"_sum"] = labels
		ex[name+"_count"] = labels
	}
	return ex
}

// targetLabels are the labels Prometheus adds to every series it scrapes.
var targetLabels = []string{"instance", "job"}

// has reports whether the series name has label l.
func (ex exported) has(name, l string) bool {
	return slices.Contains(targetLabels, l) || slices.Contains(ex[name], l)
}

// queries returns every PromQL expression of the rules and the dashboard, by
// where it is used, with the dashboard's variables replaced by values.
func queries() map[string]string {
	q := map[string]string{}
	for _, g := range Rules().Groups {
		for _, r := range g.Rules {
			q["rule "+r.Alert] = r.Expr
		}
	}
	grafana := strings.NewReplacer("$__rate_interval", "5m", "$instance", ".*")
	for _, p := range NewDashboard().Panels {
		for _, t := range p.Targets {
			q["panel "+p.Title+" "+t.RefID] = grafana.Replace(t.Expr)
		}
	}
	return q
}

// check returns what is wrong with expr: a parse error, a series name not in
// ex, or a label that none of the series it selects or aggregates has.
func (ex exported) check(expr string) []string {
	e, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	if err != nil {
		return []string{err.Error()}
	}
	var problems []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		switch n := n.(type) {
		case *parser.VectorSelector:
			if _, ok := ex[n.Name]; !ok {
				problems = append(problems, "no metric "+n.Name)
				return nil
			}
			for _, m := range n.LabelMatchers {
				if m.Name != model.MetricNameLabel && !ex.has(n.Name, m.Name) {
					problems = append(problems, n.Name+" has no label "+m.Name)
				}
			}
		case *parser.AggregateExpr:
			problems = append(problems, ex.checkLabels(n.Expr, n.Grouping)...)
		case *parser.BinaryExpr:
			if n.VectorMatching != nil {
				problems = append(problems, ex.checkLabels(n.LHS, n.VectorMatching.MatchingLabels)...)
				problems = append(problems, ex.checkLabels(n.RHS, n.VectorMatching.MatchingLabels)...)
			}
		}
		return nil
	})
	return problems
}

// checkLabels returns the labels of names that some series selected under e
// lacks.
func (ex exported) checkLabels(e parser.Expr, names []string) []string {
	var problems []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			for _, l := range names {
				if _, known := ex[vs.Name]; known && !ex.has(vs.Name, l) {
					problems = append(problems, "grouped or matched by "+l+", which "+vs.Name+" lacks")
				}
			}
		}
		return nil
	})
	return problems
}

func TestQueriesUseExportedMetrics(t *testing.T) {
	ex := scrapePeer(t)
	qs := queries()
	if len(qs) < 20 {
		t.Fatalf("only %d queries found", len(qs))
	}
	qs["dashboard variable instance"] = instanceMetric
	for where, expr := range qs {
		for _, p := range ex.check(expr) {
			t.Errorf("%s: %s\n\t%s", where, p, expr)
		}
	}
}

// TestCheckFindsUnknownNamesAndLabels shows that the check above can fail.
func TestCheckFindsUnknownNamesAndLabels(t *testing.T) {
	ex := exported{
		"countermesh_peer_linked":                         {"region", "peer"},
		"countermesh_api_request_duration_seconds_bucket": {"route", "le"},
	}
	cases := []struct{ expr, want string }{
		{`countermesh_peer_linked{peer="a"} == 0`, ""},
		{`histogram_quantile(0.9, sum by (route, le, instance) (rate(countermesh_api_request_duration_seconds_bucket[5m])))`, ""},
		{`countermesh_peer_linkd == 0`, "no metric countermesh_peer_linkd"},
		{`countermesh_peer_linked{node="a"}`, "has no label node"},
		{`sum by (code) (countermesh_peer_linked)`, "grouped or matched by code"},
		{`countermesh_peer_linked unless on (zone) countermesh_peer_linked`, "grouped or matched by zone"},
		{`rate(countermesh_peer_linked[5m]`, "unclosed"},
	}
	for _, c := range cases {
		got := strings.Join(ex.check(c.expr), "; ")
		if c.want == "" && got != "" || !strings.Contains(got, c.want) {
			t.Errorf("check(%s) = %q, want %q", c.expr, got, c.want)
		}
	}
}
