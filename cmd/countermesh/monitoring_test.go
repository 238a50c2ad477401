package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
)

func TestMonitoringCommand(t *testing.T) {
	cases := []struct {
		args           []string
		code           int
		stdout, stderr string // expected in each; "" wants it empty
	}{
		{[]string{"monitoring", "rules"}, 0, "groups:\n", ""},
		{[]string{"monitoring", "dashboard"}, 0, `"panels": [`, ""},
		{[]string{"monitoring", "--help"}, 0, "Example:", ""},
		{[]string{"monitoring", "-h"}, 0, "countermesh monitoring rules", ""},
		{[]string{"monitoring", "rules", "-h"}, 0, "promtool check rules", ""},
		{[]string{"monitoring", "dashboard", "--help"}, 0, "Import", ""},
		{[]string{"monitoring"}, 2, "", "want a subcommand"},
		{[]string{"monitoring", "alerts"}, 2, "", `unknown subcommand "alerts"`},
		{[]string{"monitoring", "rules", "extra"}, 2, "", "takes no arguments, got extra"},
		{[]string{"monitoring", "dashboard", "--job", "x"}, 2, "", "flag provided but not defined: -job"},
	}
	for _, c := range cases {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), c.args, &stdout, &stderr)
		if code != c.code || !contains(stdout.String(), c.stdout) || !contains(stderr.String(), c.stderr) {
			t.Errorf("countermesh %v: exit %d\nstdout: %.200q\nstderr: %.200q\nwant exit %d, stdout with %q, stderr with %q",
				c.args, code, stdout.String(), stderr.String(), c.code, c.stdout, c.stderr)
		}
	}
}

// contains reports whether s holds want, or is empty when want is.
func contains(s, want string) bool {
	if want == "" {
		return s == ""
	}
	return strings.Contains(s, want)
}

func TestMonitoringDashboardIsJSON(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"monitoring", "dashboard"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	var d struct {
		Title  string            `json:"title"`
		Panels []json.RawMessage `json:"panels"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &d); err != nil || d.Title != "countermesh" || len(d.Panels) < 10 {
		t.Errorf("dashboard %q with %d panels, %v", d.Title, len(d.Panels), err)
	}
}
