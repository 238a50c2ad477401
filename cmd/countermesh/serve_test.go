package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/countermesh/countermesh/tests/testkit"
	"github.com/countermesh/countermesh/topology/pki"
)

// TestMain lets tests run the real command as a child process: the test binary
// re-executed with COUNTERMESH_RUN_MAIN set is countermesh. Run as tests, it
// fails the package's run if they leave goroutines behind.
func TestMain(m *testing.M) {
	if os.Getenv("COUNTERMESH_RUN_MAIN") != "" {
		main()
		return
	}
	testkit.VerifyNoLeaks(m)
}

// freePort returns a port free for both UDP and TCP on 127.0.0.1.
func freePort(t *testing.T) int {
	t.Helper()
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		l.Close()
		if err == nil {
			u.Close()
			return port
		}
	}
	t.Fatal("no free port")
	return 0
}

// twoPeerTopology writes a topology of two regions of one peer each on free
// ports, with certificates made by certs init, and returns it with the peers'
// API addresses.
func twoPeerTopology(t *testing.T) (string, map[string]string) {
	dir := t.TempDir()
	apis := map[string]string{}
	var b strings.Builder
	b.WriteString("mesh: serve-test\nreaction_kinds: [like, dislike]\nsecurity:\n  ca: certs/ca.crt\n  gossip_key: certs/gossip.key\n" +
		"  token_secrets: [{id: k1, file: certs/k1.secret}]\nregions:\n")
	for _, r := range []string{"eu", "us"} {
		api := fmt.Sprintf("127.0.0.1:%d", freePort(t))
		apis[r+"-1"] = api
		fmt.Fprintf(&b, "  - name: %s\n    peers:\n      - name: %s-1\n        gossip: 127.0.0.1:%d\n        sync: 127.0.0.1:%d\n        api: %s\n        cert: certs/%s-1.crt\n        key: certs/%s-1.key\n",
			r, r, freePort(t), freePort(t), api, r, r)
	}
	file := filepath.Join(dir, "topology.yaml")
	if err := os.WriteFile(file, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if code := run(context.Background(), []string{"certs", "init", "--topology", file, "--out", filepath.Join(dir, "certs")}, &out, &out); code != 0 {
		t.Fatalf("certs init: exit %d: %s", code, out.String())
	}
	return file, apis
}

// child is a countermesh process whose log lines are collected.
type child struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	log  strings.Builder
	done chan error
}

func startServe(t *testing.T, topo, peer string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "serve", "--local", "--topology", topo, "--peer", peer, "--data", filepath.Join(t.TempDir(), peer))
	cmd.Env = append(os.Environ(), "COUNTERMESH_RUN_MAIN=1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, done: make(chan error, 1)}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			c.mu.Lock()
			c.log.WriteString(sc.Text() + "\n")
			c.mu.Unlock()
		}
		c.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		if t.Failed() {
			t.Logf("%s log:\n%s", peer, c.logText())
		}
	})
	return c
}

func (c *child) logText() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.log.String()
}

func (c *child) waitLog(t *testing.T, what string) {
	t.Helper()
	testkit.WaitFor(t, 20*time.Second, fmt.Sprintf("%q in the log", what), func() bool {
		return strings.Contains(c.logText(), what)
	})
}

// TestServeLinksPeersAndStopsCleanlyOnSIGTERM runs two real peer processes: they
// link up over QUIC, and SIGTERM makes each drain and exit 0.
func TestServeLinksPeersAndStopsCleanlyOnSIGTERM(t *testing.T) {
	topo, apis := twoPeerTopology(t)
	eu := startServe(t, topo, "eu-1")
	us := startServe(t, topo, "us-1")
	eu.waitLog(t, "link up")
	us.waitLog(t, "link up")

	// A clap through eu-1's API reaches us-1's API.
	res, err := http.Post("http://"+apis["eu-1"]+"/v1/items/post/counters/claps", "application/json", strings.NewReader(`{"by":2}`))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("clap at eu-1: %s", res.Status)
	}
	// The causal token eu-1 minted is good at us-1: they share the mesh's secret.
	req, err := http.NewRequest("PUT", "http://"+apis["us-1"]+"/v1/items/post/reactions/u1", strings.NewReader(`{"reaction":"like"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Causal-Token", res.Header.Get("X-Causal-Token"))
	if res, err := http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	} else if res.Body.Close(); res.StatusCode != http.StatusOK {
		t.Fatalf("reaction at us-1 with eu-1's token: %s", res.Status)
	}
	testkit.WaitFor(t, 10*time.Second, "eu-1's claps at us-1", func() bool {
		var item struct{ Counters map[string]int64 }
		res, err := http.Get("http://" + apis["us-1"] + "/v1/items/post")
		if err != nil {
			return false
		}
		json.NewDecoder(res.Body).Decode(&item)
		res.Body.Close()
		return item.Counters["claps"] == 2
	})
	for name, c := range map[string]*child{"eu-1": eu, "us-1": us} {
		if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-c.done:
			if err != nil {
				t.Errorf("%s exited with %v after SIGTERM, want exit 0", name, err)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("%s did not exit within 20 s of SIGTERM", name)
		}
		if !strings.Contains(c.logText(), "stopped") {
			t.Errorf("%s did not log its stop", name)
		}
	}
}

func TestServeUsage(t *testing.T) {
	var out bytes.Buffer
	if code := run(context.Background(), []string{"serve", "--peer", "x"}, &out, &out); code != 2 {
		t.Errorf("serve without --topology: exit %d, want 2: %s", code, out.String())
	}
	topo, _ := twoPeerTopology(t)
	for _, memory := range []string{"lots", "1MiB"} {
		out.Reset()
		code := run(context.Background(), []string{"serve", "--topology", topo, "--peer", "eu-1", "--data", t.TempDir(),
			"--memory", memory}, &out, &out)
		if code != 2 || !strings.Contains(out.String(), "--memory") {
			t.Errorf("serve --memory %s: exit %d, output %q", memory, code, out.String())
		}
	}
	out.Reset()
	code := run(context.Background(), []string{"serve", "--topology", topo, "--peer", "nope", "--data", t.TempDir()}, &out, &out)
	if code != 1 || !strings.Contains(out.String(), `peer "nope" is not in`) {
		t.Errorf("serve of an unknown peer: exit %d, output %q", code, out.String())
	}
	// A topology written before token secrets existed.
	editFile(t, topo, "  token_secrets: [{id: k1, file: certs/k1.secret}]\n", "")
	out.Reset()
	code = run(context.Background(), []string{"serve", "--local", "--topology", topo, "--peer", "eu-1", "--data", t.TempDir()}, &out, &out)
	if code != 1 || !strings.Contains(out.String(), "lists no security.token_secrets") {
		t.Errorf("serve without token secrets: exit %d, output %q", code, out.String())
	}
}

// TestServeReloadsTokenSecrets: a topology reload that retires the signing
// token secret for a new one puts it in force without a restart: tokens signed
// with the retired secret are refused from then on.
func TestServeReloadsTokenSecrets(t *testing.T) {
	topo, apis := twoPeerTopology(t)
	eu := startServe(t, topo, "eu-1")
	eu.waitLog(t, "serving")
	get := func(token string) *http.Response {
		t.Helper()
		req, err := http.NewRequest("GET", "http://"+apis["eu-1"]+"/v1/items/post", nil)
		if err != nil {
			t.Fatal(err)
		}
		if token != "" {
			req.Header.Set("X-Causal-Token", token)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	old := get("").Header.Get("X-Causal-Token")
	if res := get(old); res.StatusCode != http.StatusOK {
		t.Fatalf("read with eu-1's own token: %s", res.Status)
	}

	dir := filepath.Dir(topo)
	if err := os.WriteFile(filepath.Join(dir, "certs", "k2.secret"), pki.EncodeTokenSecret(pki.NewTokenSecret()), 0o600); err != nil {
		t.Fatal(err)
	}
	editFile(t, topo, "{id: k1, file: certs/k1.secret}", "{id: k2, file: certs/k2.secret}")
	if err := eu.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	eu.waitLog(t, "token secrets in force")
	if res := get(old); res.StatusCode != http.StatusBadRequest {
		t.Fatalf("read with a token of the retired secret: %s, want 400", res.Status)
	}
	fresh := get("").Header.Get("X-Causal-Token")
	if res := get(fresh); res.StatusCode != http.StatusOK {
		t.Fatalf("read with a token of the new secret: %s", res.Status)
	}
}

// editFile replaces the first old in file with new, failing the test if file
// has no old.
func editFile(t *testing.T, file, old, new string) {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), old) {
		t.Fatalf("%s has no %q", file, old)
	}
	if err := os.WriteFile(file, []byte(strings.Replace(string(data), old, new, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
}
