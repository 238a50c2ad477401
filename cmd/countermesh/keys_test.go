package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/countermesh/countermesh/tests/testkit"
)

// regionEntry returns a topology's entry for a region of one peer, NAME-1, on
// free ports, with its API address.
func regionEntry(t *testing.T, region string) (entry, api string) {
	t.Helper()
	api = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	return fmt.Sprintf("  - name: %s\n    peers:\n      - name: %s-1\n        gossip: 127.0.0.1:%d\n        sync: 127.0.0.1:%d\n"+
		"        api: %s\n        cert: certs/%s-1.crt\n        key: certs/%s-1.key\n",
		region, region, freePort(t), freePort(t), api, region, region), api
}

// peerHostFiles are what a peer's host holds besides the topology: its own
// certificate and key, and what every peer shares. Never another peer's key,
// never the CA key.
func peerHostFiles(peer string) []string {
	return []string{"ca.crt", "gossip.key", "k1.secret", "frontend.token", peer + ".crt", peer + ".key"}
}

// shipToHost copies the operator's topology and the files peer needs to
// host, the way an operator copies them to the peer's machine: the topology
// replaced in one rename, so a running peer never reads half of it.
func shipToHost(t *testing.T, ops, host, peer string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(host, "certs"), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, name := range peerHostFiles(peer) {
		copyFile(t, filepath.Join(ops, "certs", name), filepath.Join(host, "certs", name))
	}
	copyFile(t, filepath.Join(ops, "topology.yaml"), filepath.Join(host, "topology.yaml.new"))
	if err := os.Rename(filepath.Join(host, "topology.yaml.new"), filepath.Join(host, "topology.yaml")); err != nil {
		t.Fatal(err)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// api calls a peer's HTTP API with the frontend token and decodes the item.
func apiCall(t *testing.T, token, method, url, body string) (int, map[string]int64) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil
	}
	defer res.Body.Close()
	var item struct{ Counters map[string]int64 }
	json.NewDecoder(res.Body).Decode(&item)
	return res.StatusCode, item.Counters
}

// waitClaps waits until the item's claps at a peer's API are want.
func waitClaps(t *testing.T, token, api, item string, want int64) {
	t.Helper()
	testkit.WaitFor(t, 20*time.Second, fmt.Sprintf("%d claps on %s at %s", want, item, api), func() bool {
		code, counters := apiCall(t, token, "GET", "http://"+api+"/v1/items/"+item, "")
		return code == http.StatusOK && counters["claps"] == want
	})
}

// TestAddARegionToARunningMesh follows the README's path for adding a region
// to a mesh of real peers, each host holding only its own key: the operator
// adds the region to the topology, issues the new peer's certificate with the
// offline CA key, ships the new peer its own files, and the edited topology
// to every host. The running peers take it on SIGHUP, the new peer links up,
// and writes replicate both ways.
func TestAddARegionToARunningMesh(t *testing.T) {
	ops := t.TempDir()
	file := filepath.Join(ops, "topology.yaml")
	src := "mesh: serve-test\nreaction_kinds: [like, dislike]\nsecurity:\n  ca: certs/ca.crt\n  gossip_key: certs/gossip.key\n" +
		"  api_tokens: [{name: frontend, file: certs/frontend.token}]\n  token_secrets: [{id: k1, file: certs/k1.secret}]\nregions:\n"
	apis := map[string]string{}
	for _, r := range []string{"eu", "us"} {
		entry, api := regionEntry(t, r)
		src += entry
		apis[r] = api
	}
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, stdout, stderr := runCmd(t, "certs", "init", "--topology", file, "--out", filepath.Join(ops, "certs")); code != 0 {
		t.Fatalf("certs init: exit %d\n%s%s", code, stdout, stderr)
	}
	caKey := filepath.Join(ops, "ca-key", "ca.key")
	token := strings.TrimSpace(string(readFile(t, filepath.Join(ops, "certs", "frontend.token"))))

	// Each peer starts on a host holding only its own key.
	hosts := map[string]string{}
	peers := map[string]*child{}
	for _, r := range []string{"eu", "us"} {
		hosts[r] = t.TempDir()
		shipToHost(t, ops, hosts[r], r+"-1")
		peers[r] = startServe(t, filepath.Join(hosts[r], "topology.yaml"), r+"-1")
	}
	peers["eu"].waitLog(t, "link up")
	peers["us"].waitLog(t, "link up")

	// The operator adds region sa and issues its peer's certificate.
	entry, api := regionEntry(t, "sa")
	apis["sa"] = api
	if err := os.WriteFile(file, []byte(src+entry), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, stdout, stderr := runCmd(t, "certs", "issue", "--topology", file, "--ca-key", caKey, "--peer", "sa-1",
		"--out", filepath.Join(ops, "certs")); code != 0 {
		t.Fatalf("certs issue: exit %d\n%s%s", code, stdout, stderr)
	}
	if code, stdout, stderr := runCmd(t, "topology", "check", file); code != 0 {
		t.Fatalf("topology check: exit %d\n%s%s", code, stdout, stderr)
	}
	hosts["sa"] = t.TempDir()
	shipToHost(t, ops, hosts["sa"], "sa-1")
	for _, r := range []string{"eu", "us"} {
		shipToHost(t, ops, hosts[r], r+"-1")
		if err := peers[r].cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
	}
	peers["eu"].waitLog(t, "region added: sa")
	peers["us"].waitLog(t, "region added: sa")
	peers["sa"] = startServe(t, filepath.Join(hosts["sa"], "topology.yaml"), "sa-1")
	peers["sa"].waitLog(t, "link up")

	for _, w := range []struct{ at, item string }{{"sa", "from-sa"}, {"eu", "from-eu"}} {
		if code, _ := apiCall(t, token, "POST", "http://"+apis[w.at]+"/v1/items/"+w.item+"/counters/claps", `{"by":3}`); code != http.StatusOK {
			t.Fatalf("clap at %s-1: status %d", w.at, code)
		}
		for _, r := range []string{"eu", "us", "sa"} {
			waitClaps(t, token, apis[r], w.item, 3)
		}
	}
	// No host holds another peer's key, nor the CA key.
	for r, host := range hosts {
		entries, err := os.ReadDir(filepath.Join(host, "certs"))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if strings.HasSuffix(e.Name(), ".key") && e.Name() != r+"-1.key" && e.Name() != "gossip.key" {
				t.Errorf("the host of %s-1 holds %s", r, e.Name())
			}
		}
	}
}
