package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestUsageAndExitCodes(t *testing.T) {
	cases := []struct {
		args []string
		code int
		out  string // expected in stdout+stderr
	}{
		{nil, 2, "Usage:"},
		{[]string{"nope"}, 2, `unknown command "nope"`},
		{[]string{"version"}, 0, "countermesh"},
		{[]string{"help"}, 0, "countermesh dev"},
		{[]string{"dev", "-regions", "solo"}, 2, "at least two regions"},
		{[]string{"dev", "-traffic", "-1"}, 2, "must not be negative"},
		{[]string{"dev", "extra"}, 2, "unexpected argument"},
		{[]string{"dev", "-h"}, 0, "-partition-every"},
	}
	for _, c := range cases {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), c.args, &stdout, &stderr)
		if code != c.code || !strings.Contains(stdout.String()+stderr.String(), c.out) {
			t.Errorf("countermesh %v: exit %d, output %q; want exit %d and %q",
				c.args, code, stdout.String()+stderr.String(), c.code, c.out)
		}
	}
}

// TestDevMeshConverges runs the README's first command for a few seconds, with a
// partition in the middle, and expects every region to converge.
func TestDevMeshConverges(t *testing.T) {
	var stdout, stderr bytes.Buffer
	args := []string{"dev", "-duration", "3s", "-traffic", "50", "-partition-every", "1s", "-report", "400ms",
		"-listen", "127.0.0.1:0", "-data", t.TempDir()}
	if code := run(context.Background(), args, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{"demo page:", "PARTITIONED", "converged: every region shows the same counts"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
