package main

import (
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/countermesh/countermesh/cmd/countermesh/monitoring"
)

const monitoringUsage = `Usage:
  countermesh monitoring rules       print Prometheus alerting rules for a mesh (YAML)
  countermesh monitoring dashboard   print a Grafana dashboard of a mesh (JSON)

Both query the metrics every peer serves on /metrics; scrape every peer with
the same Prometheus. The rules alert on a peer down, a sync link down,
replication lag, a clock beyond the max drift and keys refused for it, a disk
below the store's reserve, the rate of 5xx answers and of causally stale
answers; each says what it means and what to do. List the file under
rule_files in prometheus.yml. Import the dashboard in Grafana (Dashboards,
New, Import) and pick a Prometheus data source.

Example:
  countermesh monitoring rules > /etc/prometheus/countermesh.rules.yml
  promtool check rules /etc/prometheus/countermesh.rules.yml
  countermesh monitoring dashboard > countermesh.dashboard.json
`

// runMonitoring runs "countermesh monitoring SUBCOMMAND".
func runMonitoring(args []string, stdout, stderr io.Writer) error {
	writers := map[string]func(io.Writer) error{
		"rules":     monitoring.WriteRules,
		"dashboard": monitoring.WriteDashboard,
	}
	if len(args) == 0 {
		fmt.Fprint(stderr, monitoringUsage)
		return fmt.Errorf("%w: monitoring: want a subcommand, rules or dashboard", errUsage)
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, monitoringUsage)
		return nil
	}
	write, ok := writers[args[0]]
	if !ok {
		fmt.Fprint(stderr, monitoringUsage)
		return fmt.Errorf("%w: monitoring: unknown subcommand %q", errUsage, args[0])
	}
	fs := flag.NewFlagSet("monitoring "+args[0], flag.ContinueOnError)
	if err := parseFlags(fs, monitoringUsage, args[1:], stdout); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fmt.Fprint(stderr, monitoringUsage)
		return fmt.Errorf("%w: monitoring %s takes no arguments, got %s", errUsage, args[0], strings.Join(fs.Args(), " "))
	}
	return write(stdout)
}
