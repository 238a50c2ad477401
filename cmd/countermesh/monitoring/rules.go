// Package monitoring is countermesh's monitoring as code: the Prometheus
// alerting rules and the Grafana dashboard that "countermesh monitoring rules"
// and "countermesh monitoring dashboard" print. Both query only the metrics a
// peer serves on /metrics (package region/httpapi lists them); the package's
// tests check every name and label they use against a real peer's /metrics.
package monitoring

import (
	"fmt"
	"io"

	"go.yaml.in/yaml/v3"
)

// RuleFile is a Prometheus rule file: what rule_files in prometheus.yml loads.
type RuleFile struct {
	Groups []RuleGroup `yaml:"groups"`
}

// RuleGroup is a group of rules evaluated together.
type RuleGroup struct {
	Name  string `yaml:"name"`
	Rules []Rule `yaml:"rules"`
}

// Rule is one alerting rule.
type Rule struct {
	Alert string `yaml:"alert"`
	// Expr is the PromQL expression; every series it returns is an alert.
	Expr string `yaml:"expr"`
	// For is how long Expr must hold before the alert fires.
	For string `yaml:"for"`
	// Labels hold severity: critical (act now) or warning (act today).
	Labels map[string]string `yaml:"labels"`
	// Annotations hold summary (one line) and description (what it means for
	// the mesh and what to do), Prometheus templates both.
	Annotations map[string]string `yaml:"annotations"`
}

// Severities of the rules, the severity label.
const (
	SeverityCritical = "critical"
	SeverityWarning  = "warning"
)

// alert returns a rule of the given severity.
func alert(name, severity, forDuration, expr, summary, description string) Rule {
	return Rule{Alert: name, Expr: expr, For: forDuration,
		Labels:      map[string]string{"severity": severity},
		Annotations: map[string]string{"summary": summary, "description": description}}
}

// Rules returns the alerting rules of a countermesh mesh. They expect every
// peer's /metrics scraped by the same Prometheus, with its usual instance and
// job labels.
func Rules() RuleFile {
	return RuleFile{Groups: []RuleGroup{
		{Name: "countermesh-mesh", Rules: meshRules()},
		{Name: "countermesh-peer", Rules: peerRules()},
		{Name: "countermesh-api", Rules: apiRules()},
	}}
}

// peerDown selects the peers of the topology that no peer sees alive.
const peerDown = `max by (region, peer) (countermesh_peer_alive) == 0`

// meshRules are about how the peers see each other.
func meshRules() []Rule {
	return []Rule{
		alert("CountermeshPeerDown", SeverityCritical, "2m",
			peerDown,
			`Peer {{ $labels.peer }} of region {{ $labels.region }} is down`,
			`No peer of the mesh has seen {{ $labels.peer }} ({{ $labels.region }}) alive in its membership for 2 minutes. `+
				`The other peers keep taking writes; what it acknowledged before it went down reaches them when it is back. `+
				`Check its process and log, its host, and its gossip port; "countermesh status --peer URL" against any peer shows membership and links.`),
		alert("CountermeshLinkDown", SeverityWarning, "5m",
			`countermesh_peer_linked == 0 unless on (region, peer) (`+peerDown+`)`,
			`{{ $labels.instance }} has no sync link to {{ $labels.peer }}`,
			`{{ $labels.instance }} has had no sync link to {{ $labels.peer }} ({{ $labels.region }}) for 5 minutes, though the mesh sees that peer alive. `+
				`Both keep taking writes; the changes between them wait, and replication lag grows. `+
				`Check the sync (QUIC, UDP) port between the two hosts, their certificates (countermesh_sync_handshakes_refused_total on the peer refusing) `+
				`and that both run the same topology file.`),
		alert("CountermeshReplicationLag", SeverityWarning, "5m",
			`countermesh_replication_lag_seconds > 60 unless on (region, peer) (`+peerDown+`)`,
			`{{ $labels.peer }} is {{ $value | humanizeDuration }} behind {{ $labels.instance }}`,
			`The oldest change of {{ $labels.instance }} that {{ $labels.peer }} ({{ $labels.region }}) has not acknowledged is {{ $value | humanizeDuration }} old: `+
				`readers there see older counts, and reads there with a causal token from here wait or answer stale. `+
				`Usually a link is down (CountermeshLinkDown) or a region is cut off; otherwise the remote peer is overloaded or refuses keys for its clock (CountermeshClockDriftRefusals).`),
		alert("CountermeshReplicationStalled", SeverityCritical, "15m",
			`countermesh_replication_lag_seconds > 900`,
			`{{ $labels.peer }} has taken nothing from {{ $labels.instance }} for {{ $value | humanizeDuration }}`,
			`Changes of {{ $labels.instance }} have not reached {{ $labels.peer }} ({{ $labels.region }}) for more than 15 minutes. `+
				`Nothing is lost — they are kept and sent when the link is back — but the regions' counts disagree until then. `+
				`Restore the link (see CountermeshLinkDown and CountermeshPeerDown) or, if the peer is gone for good, remove it from the topology.`),
		alert("CountermeshClockDriftRefusals", SeverityWarning, "5m",
			`(countermesh_sync_refused_keys + countermesh_sync_refusing_keys) > 0`,
			`Keys between {{ $labels.instance }} and {{ $labels.peer }} refused for clock drift`,
			`{{ $value }} keys between {{ $labels.instance }} and {{ $labels.peer }} ({{ $labels.region }}) are refused as beyond the max clock drift: `+
				`they do not replicate until the clock that stamped them is fixed, or the other clock catches up with their timestamps. `+
				`Compare the clocks of both hosts (chronyc tracking, timedatectl); "countermesh status" shows the newest refusal in its clock_skew column.`),
	}
}

// peerRules are about one peer refusing writes.
func peerRules() []Rule {
	return []Rule{
		alert("CountermeshClockSkewed", SeverityCritical, "1m",
			`countermesh_clock_skewed == 1`,
			`{{ $labels.instance }} refuses writes: its clock is beyond the max drift`,
			`The wall clock of {{ $labels.instance }} is beyond the max drift from most of the mesh. It answers writes 503 and /readyz 503, and keeps serving reads. `+
				`Fix the host's time sync (chronyc tracking, timedatectl); the peer takes writes again once its clock is back within the drift.`),
		alert("CountermeshDiskBelowReserve", SeverityCritical, "1m",
			`countermesh_store_below_reserve == 1`,
			`{{ $labels.instance }} refuses writes: its disk is below the reserve`,
			`The data directory of {{ $labels.instance }} has less free space than the store's reserve. It answers writes 503 (Retry-After 30) and /readyz 503, `+
				`and keeps serving reads. Free or add disk space; writes resume by themselves once free space is above the reserve.`),
	}
}

// apiRules are about the answers of the HTTP API.
func apiRules() []Rule {
	return []Rule{
		alert("CountermeshHighErrorRate", SeverityWarning, "5m",
			`sum by (instance, job) (rate(countermesh_api_requests_total{code=~"5..", route!="GET /readyz"}[5m]))`+
				` / sum by (instance, job) (rate(countermesh_api_requests_total[5m])) > 0.05`,
			`{{ $value | humanizePercentage }} of the answers of {{ $labels.instance }} are 5xx`,
			`Over 5 minutes {{ $value | humanizePercentage }} of the API answers of {{ $labels.instance }} were 5xx (/readyz not counted). `+
				`A full disk and a skewed clock have their own alerts. Otherwise: 500s are logged with their cause; `+
				`countermesh_api_writes_total by outcome tells writes refused as unavailable (store failing or overloaded) `+
				`from writes of unknown outcome (not durable within the write timeout).`),
		alert("CountermeshCausalStale", SeverityWarning, "10m",
			`sum by (instance, job) (rate(countermesh_api_causal_stale_total[5m]))`+
				` / sum by (instance, job) (rate(countermesh_api_requests_total{route=~".* /v1/.*"}[5m])) > 0.01`,
			`{{ $value | humanizePercentage }} of the answers of {{ $labels.instance }} are causally stale`,
			`{{ $value | humanizePercentage }} of the API answers of {{ $labels.instance }} carry X-Causal-Stale: clients present causal tokens `+
				`from other peers whose changes have not reached this one within the causal wait (2 s). `+
				`Replication toward it is behind: look for CountermeshReplicationLag and CountermeshLinkDown on the peers its clients also use.`),
	}
}

// WriteRules writes the alerting rules as a YAML rule file.
func WriteRules(w io.Writer) error { return writeRuleFile(w, Rules()) }

// writeRuleFile writes f as YAML.
func writeRuleFile(w io.Writer, f RuleFile) error {
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(f); err != nil {
		return fmt.Errorf("monitoring: write rules: %w", err)
	}
	if err := enc.Close(); err != nil {
		return fmt.Errorf("monitoring: write rules: %w", err)
	}
	return nil
}
