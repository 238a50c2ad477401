package main

import (
	"bytes"
	"context"
	"net"
	"strings"
	"testing"
	"time"
)

// TestDevRefusesABadListenAddress: a -listen that is not host:port with an IP
// address or localhost is a usage error, before anything starts.
func TestDevRefusesABadListenAddress(t *testing.T) {
	for _, addr := range []string{"nope", "example.com:8080", "127.0.0.1:99999", "127.0.0.1:http", ""} {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), []string{"dev", "-listen", addr, "-data", t.TempDir()}, &stdout, &stderr)
		if code != 2 || !strings.Contains(stderr.String(), "-listen") || stdout.Len() != 0 {
			t.Errorf("dev -listen %q: exit %d, stdout %q, stderr %q; want exit 2, nothing on stdout, and -listen named on stderr",
				addr, code, stdout.String(), stderr.String())
		}
	}
}

// TestDevParseListen: a host left out is loopback, never every interface.
func TestDevParseListen(t *testing.T) {
	for in, want := range map[string]string{
		":8080":          "127.0.0.1:8080",
		"127.0.0.1:0":    "127.0.0.1:0",
		"localhost:9000": "localhost:9000",
		"[::1]:8080":     "[::1]:8080",
		"0.0.0.0:8080":   "0.0.0.0:8080",
	} {
		if got, err := parseListen(in); err != nil || got != want {
			t.Errorf("parseListen(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

// TestDevFailsOnATakenPort: a -listen port another process holds is an error
// (exit 1) saying so, not a page quietly served elsewhere.
func TestDevFailsOnATakenPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code := run(ctx, []string{"dev", "-listen", ln.Addr().String(), "-data", t.TempDir()}, &stdout, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), "address already in use") || strings.Contains(stdout.String(), "demo page:") {
		t.Fatalf("dev -listen on a taken port: exit %d\nstdout: %s\nstderr: %s\nwant exit 1 and \"address already in use\"",
			code, stdout.String(), stderr.String())
	}
}
