package monitoring

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// promtool returns the path of Prometheus's promtool. Without it the test is
// skipped, unless COUNTERMESH_REQUIRE_PROMTOOL is set (CI installs Debian's
// prometheus package and sets it).
func promtool(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("COUNTERMESH_REQUIRE_PROMTOOL") != "" {
			t.Fatalf("promtool is required (COUNTERMESH_REQUIRE_PROMTOOL is set): %v", err)
		}
		t.Skip("no promtool (Debian's prometheus package has it)")
	}
	return path
}

// writeRules writes rules as a rule file in dir and returns its path.
func writeRules(t *testing.T, dir string, rules RuleFile) string {
	t.Helper()
	var b bytes.Buffer
	if err := writeRuleFile(&b, rules); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "countermesh.rules.yml")
	if err := os.WriteFile(file, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

// runPromtool runs promtool with args, failing the test if it fails.
func runPromtool(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(promtool(t), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestPromtoolChecksTheRules(t *testing.T) {
	file := writeRules(t, t.TempDir(), Rules())
	out := runPromtool(t, "check", "rules", file)
	n := 0
	for _, g := range Rules().Groups {
		n += len(g.Rules)
	}
	if want := "SUCCESS: " + strconv.Itoa(n) + " rules found"; !strings.Contains(out, want) {
		t.Errorf("promtool check rules says %q, want %q", out, want)
	}
}

// alertTests are promtool unit tests of the rules: a mesh of eu-1, us-1 and
// ap-1, where ap-1 is down, eu-1 has lost its link to us-1 and falls behind,
// eu-1's clock is skewed and us-1's disk is below the reserve.
const alertTests = `rule_files: [countermesh.rules.yml]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - {series: 'countermesh_peer_alive{instance="eu-1",job="cm",region="ap",peer="ap-1"}', values: '0x40'}
      - {series: 'countermesh_peer_alive{instance="us-1",job="cm",region="ap",peer="ap-1"}', values: '0x40'}
      - {series: 'countermesh_peer_alive{instance="eu-1",job="cm",region="us",peer="us-1"}', values: '1x40'}
      - {series: 'countermesh_peer_alive{instance="us-1",job="cm",region="eu",peer="eu-1"}', values: '1x40'}
      - {series: 'countermesh_peer_linked{instance="eu-1",job="cm",region="ap",peer="ap-1"}', values: '0x40'}
      - {series: 'countermesh_peer_linked{instance="us-1",job="cm",region="ap",peer="ap-1"}', values: '0x40'}
      - {series: 'countermesh_peer_linked{instance="eu-1",job="cm",region="us",peer="us-1"}', values: '0x40'}
      - {series: 'countermesh_peer_linked{instance="us-1",job="cm",region="eu",peer="eu-1"}', values: '1x40'}
      - {series: 'countermesh_replication_lag_seconds{instance="eu-1",job="cm",region="ap",peer="ap-1"}', values: '0+60x40'}
      - {series: 'countermesh_replication_lag_seconds{instance="eu-1",job="cm",region="us",peer="us-1"}', values: '0+60x40'}
      - {series: 'countermesh_replication_lag_seconds{instance="us-1",job="cm",region="eu",peer="eu-1"}', values: '0x40'}
      - {series: 'countermesh_sync_refused_keys{instance="eu-1",job="cm",region="us",peer="us-1"}', values: '0x5 3x35'}
      - {series: 'countermesh_sync_refusing_keys{instance="eu-1",job="cm",region="us",peer="us-1"}', values: '0x40'}
      - {series: 'countermesh_sync_refused_keys{instance="us-1",job="cm",region="eu",peer="eu-1"}', values: '0x40'}
      - {series: 'countermesh_sync_refusing_keys{instance="us-1",job="cm",region="eu",peer="eu-1"}', values: '0x40'}
      - {series: 'countermesh_clock_skewed{instance="eu-1",job="cm"}', values: '0 0 1x40'}
      - {series: 'countermesh_clock_skewed{instance="us-1",job="cm"}', values: '0x40'}
      - {series: 'countermesh_store_below_reserve{instance="eu-1",job="cm"}', values: '0x40'}
      - {series: 'countermesh_store_below_reserve{instance="us-1",job="cm"}', values: '1x40'}
      # eu-1 answers 10 % 503s; us-1's 503s are all /readyz, which does not count.
      - {series: 'countermesh_api_requests_total{instance="eu-1",job="cm",route="GET /v1/items/{item}",code="200"}', values: '0+100x40'}
      - {series: 'countermesh_api_requests_total{instance="eu-1",job="cm",route="PUT /v1/items/{item}/reactions/{user}",code="503"}', values: '0+10x40'}
      - {series: 'countermesh_api_requests_total{instance="us-1",job="cm",route="GET /v1/items/{item}",code="200"}', values: '0+100x40'}
      - {series: 'countermesh_api_requests_total{instance="us-1",job="cm",route="GET /readyz",code="503"}', values: '0+50x40'}
      - {series: 'countermesh_api_causal_stale_total{instance="eu-1",job="cm"}', values: '0+5x40'}
      - {series: 'countermesh_api_causal_stale_total{instance="us-1",job="cm"}', values: '0x40'}
    alert_rule_test:
      - {eval_time: 1m, alertname: CountermeshPeerDown, exp_alerts: []}
      - eval_time: 5m
        alertname: CountermeshPeerDown
        exp_alerts: [{exp_labels: {severity: critical, region: ap, peer: ap-1}}]
      - eval_time: 10m
        alertname: CountermeshLinkDown
        exp_alerts: [{exp_labels: {severity: warning, instance: eu-1, job: cm, region: us, peer: us-1}}]
      - eval_time: 10m
        alertname: CountermeshReplicationLag
        exp_alerts: [{exp_labels: {severity: warning, instance: eu-1, job: cm, region: us, peer: us-1}}]
      - {eval_time: 25m, alertname: CountermeshReplicationStalled, exp_alerts: []}
      - eval_time: 35m
        alertname: CountermeshReplicationStalled
        exp_alerts:
          - {exp_labels: {severity: critical, instance: eu-1, job: cm, region: ap, peer: ap-1}}
          - {exp_labels: {severity: critical, instance: eu-1, job: cm, region: us, peer: us-1}}
      - {eval_time: 10m, alertname: CountermeshClockDriftRefusals, exp_alerts: []}
      - eval_time: 15m
        alertname: CountermeshClockDriftRefusals
        exp_alerts: [{exp_labels: {severity: warning, instance: eu-1, job: cm, region: us, peer: us-1}}]
      - eval_time: 5m
        alertname: CountermeshClockSkewed
        exp_alerts: [{exp_labels: {severity: critical, instance: eu-1, job: cm}}]
      - eval_time: 5m
        alertname: CountermeshDiskBelowReserve
        exp_alerts: [{exp_labels: {severity: critical, instance: us-1, job: cm}}]
      - eval_time: 10m
        alertname: CountermeshHighErrorRate
        exp_alerts: [{exp_labels: {severity: warning, instance: eu-1, job: cm}}]
      - {eval_time: 5m, alertname: CountermeshCausalStale, exp_alerts: []}
      - eval_time: 15m
        alertname: CountermeshCausalStale
        exp_alerts: [{exp_labels: {severity: warning, instance: eu-1, job: cm}}]
`

// TestAlertsFireWhenTheyShould runs promtool's unit tests of the rules, with
// their annotations left out (promtool compares them whole; check rules
// validates their templates).
func TestAlertsFireWhenTheyShould(t *testing.T) {
	dir := t.TempDir()
	rules := Rules()
	n := 0
	for _, g := range rules.Groups {
		for i := range g.Rules {
			g.Rules[i].Annotations = nil
			n++
		}
	}
	tested := strings.Count(alertTests, "alertname: ")
	writeRules(t, dir, rules)
	file := filepath.Join(dir, "countermesh.tests.yml")
	if err := os.WriteFile(file, []byte(alertTests), 0o644); err != nil {
		t.Fatal(err)
	}
	runPromtool(t, "test", "rules", file)
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if !strings.Contains(alertTests, "alertname: "+r.Alert+",") && !strings.Contains(alertTests, "alertname: "+r.Alert+"\n") {
				t.Errorf("rule %s has no unit test (%d of %d rules tested)", r.Alert, tested, n)
			}
		}
	}
}
