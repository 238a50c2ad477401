package meshfiles

import (
	"path/filepath"
	"testing"

	"github.com/countermesh/countermesh/cmd/countermesh/servecfg"
	"github.com/countermesh/countermesh/region/httpapi"
	"github.com/countermesh/countermesh/topology"
)

// A mesh with an API token reads, as serve reads it, as one token of scope
// write with the API's default rate limit, the secret its file holds.
func TestWriteAPIToken(t *testing.T) {
	dir := t.TempDir()
	p := Peer{Region: "eu", Name: "eu-1", Host: "127.1.1.1", API: "127.0.0.1:8080"}
	if err := Write(dir, Mesh{Name: "bench", Peers: []Peer{p}, APIToken: "frontend"}); err != nil {
		t.Fatal(err)
	}
	topo, mat, err := topology.LoadPeer(filepath.Join(dir, Topology), p.Name)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := servecfg.APIConfig(topo, mat, nil, servecfg.DefaultMaxTokenAhead)
	if err != nil {
		t.Fatal(err)
	}
	secret, err := ReadAPIToken(dir, "frontend")
	if err != nil {
		t.Fatal(err)
	}
	want := httpapi.APIToken{Name: "frontend", Token: secret, Scope: httpapi.ScopeWrite}
	if len(cfg.APITokens) != 1 || cfg.APITokens[0] != want || secret == "" {
		t.Errorf("api tokens %+v, want [%+v]", cfg.APITokens, want)
	}
	if cfg.RateLimit != 0 || len(cfg.TokenKeys) != 1 || cfg.MaxTokenAhead != servecfg.DefaultMaxTokenAhead {
		t.Errorf("config %+v: want the API's default rate limit, one token secret, serve's token ahead", cfg)
	}

	// Without a token the API runs open, as the demo mesh's does.
	open := t.TempDir()
	if err := Write(open, Mesh{Name: "dev", Peers: []Peer{p}}); err != nil {
		t.Fatal(err)
	}
	topo, mat, err = topology.LoadPeer(filepath.Join(open, Topology), p.Name)
	if err != nil {
		t.Fatal(err)
	}
	if cfg, err := servecfg.APIConfig(topo, mat, nil, servecfg.DefaultMaxTokenAhead); err != nil || len(cfg.APITokens) != 0 {
		t.Errorf("open mesh: %+v, %v", cfg.APITokens, err)
	}
}
