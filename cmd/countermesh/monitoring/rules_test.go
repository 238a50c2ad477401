package monitoring

import (
	"bytes"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/promql/parser"
	"go.yaml.in/yaml/v3"
)

func TestRulesAreActionable(t *testing.T) {
	seen := map[string]bool{}
	for _, g := range Rules().Groups {
		for _, r := range g.Rules {
			if !strings.HasPrefix(r.Alert, "Countermesh") || seen[r.Alert] {
				t.Errorf("alert %q: want a unique name starting with Countermesh", r.Alert)
			}
			seen[r.Alert] = true
			if d, err := model.ParseDuration(r.For); err != nil || d == 0 {
				t.Errorf("%s: for %q: want a duration above zero (%v)", r.Alert, r.For, err)
			}
			if s := r.Labels["severity"]; s != SeverityCritical && s != SeverityWarning {
				t.Errorf("%s: severity %q", r.Alert, s)
			}
			if len(r.Annotations["summary"]) < 20 || len(r.Annotations["description"]) < 150 {
				t.Errorf("%s: want a summary and a description that says what to do: %q", r.Alert, r.Annotations)
			}
		}
	}
	for _, signal := range []string{"PeerDown", "LinkDown", "ReplicationLag", "ClockSkewed", "ClockDriftRefusals",
		"DiskBelowReserve", "HighErrorRate", "CausalStale"} {
		if !seen["Countermesh"+signal] {
			t.Errorf("no alert Countermesh%s", signal)
		}
	}
}

// templateLabel matches a label an annotation template uses.
var templateLabel = regexp.MustCompile(`\$labels\.(\w+)`)

// resultLabels returns the labels of the series expr returns, for expressions
// of the kinds the rules use; ex knows the labels of the metrics.
func resultLabels(ex exported, e parser.Expr) []string {
	switch e := e.(type) {
	case *parser.VectorSelector:
		return append(slices.Clone(ex[e.Name]), targetLabels...)
	case *parser.ParenExpr:
		return resultLabels(ex, e.Expr)
	case *parser.Call:
		for _, a := range e.Args {
			if a.Type() == parser.ValueTypeVector || a.Type() == parser.ValueTypeMatrix {
				return slices.DeleteFunc(resultLabels(ex, a), func(l string) bool { return l == "le" })
			}
		}
	case *parser.MatrixSelector:
		return resultLabels(ex, e.VectorSelector)
	case *parser.AggregateExpr:
		if !e.Without {
			return e.Grouping
		}
	case *parser.BinaryExpr:
		if e.LHS.Type() != parser.ValueTypeVector {
			return resultLabels(ex, e.RHS)
		}
		if m := e.VectorMatching; m != nil && m.On && !e.Op.IsSetOperator() && e.RHS.Type() == parser.ValueTypeVector {
			return m.MatchingLabels
		}
		return resultLabels(ex, e.LHS)
	}
	return nil
}

func TestAnnotationsUseLabelsTheAlertsHave(t *testing.T) {
	ex := scrapePeer(t)
	for _, g := range Rules().Groups {
		for _, r := range g.Rules {
			e, err := parser.NewParser(parser.Options{}).ParseExpr(r.Expr)
			if err != nil {
				t.Fatalf("%s: %v", r.Alert, err)
			}
			have := resultLabels(ex, e)
			for _, text := range r.Annotations {
				for _, m := range templateLabel.FindAllStringSubmatch(text, -1) {
					if !slices.Contains(have, m[1]) {
						t.Errorf("%s: an annotation uses $labels.%s; the alert has only %v", r.Alert, m[1], have)
					}
				}
			}
		}
	}
}

func TestWriteRulesWritesAGroupsFile(t *testing.T) {
	var b bytes.Buffer
	if err := WriteRules(&b); err != nil {
		t.Fatal(err)
	}
	var got RuleFile
	if err := yaml.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(b.String(), "groups:\n") || len(got.Groups) != len(Rules().Groups) ||
		got.Groups[0].Rules[0].Expr != Rules().Groups[0].Rules[0].Expr {
		t.Errorf("WriteRules wrote:\n%s", b.String())
	}
}
