package topology

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// base is a valid topology; cases edit it. Its line numbers matter.
const base = `mesh: demo
reaction_kinds: [like, dislike]
security:
  ca: ca.crt
  gossip_key: gossip.key
  api_tokens:
    - name: frontend
      file: frontend.token
regions:
  - name: eu
    peers:
      - name: eu-1
        gossip: 127.0.0.1:7101
        sync: 127.0.0.1:7201
        api: 127.0.0.1:7301
        cert: eu-1.crt
        key: eu-1.key
  - name: us
    peers:
      - name: us-1
        gossip: 127.0.0.1:7111
        sync: 127.0.0.1:7211
        api: 127.0.0.1:7311
        cert: us-1.crt
        key: us-1.key
`

// edit returns base with each pair old, new of edits replaced; old must occur
// exactly once.
func edit(t *testing.T, edits ...string) string {
	t.Helper()
	s := base
	for i := 0; i+1 < len(edits); i += 2 {
		if n := strings.Count(s, edits[i]); n != 1 {
			t.Fatalf("edit %q occurs %d times in base", edits[i], n)
		}
		s = strings.Replace(s, edits[i], edits[i+1], 1)
	}
	return s
}

// problemLines returns the problems of err as "file:line: msg" strings.
func problemLines(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	var te *Error
	if !errors.As(err, &te) {
		t.Fatalf("error %v (%T) is not a *topology.Error", err, err)
	}
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("error does not match ErrInvalid")
	}
	var lines []string
	for _, p := range te.Problems {
		lines = append(lines, p.String())
	}
	if strings.Join(lines, "\n") != err.Error() {
		t.Errorf("Error() = %q, want the problems joined by newlines", err.Error())
	}
	return lines
}

func TestParseValid(t *testing.T) {
	topo, err := Parse("conf/t.yaml", []byte(base))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if topo.Mesh != "demo" || !slices.Equal(topo.ReactionKinds, []string{"like", "dislike"}) {
		t.Errorf("mesh %q, kinds %v", topo.Mesh, topo.ReactionKinds)
	}
	if topo.File != "conf/t.yaml" || topo.Dir != "conf" {
		t.Errorf("File %q, Dir %q", topo.File, topo.Dir)
	}
	wantSec := Security{CA: "conf/ca.crt", GossipKeys: []string{"conf/gossip.key"},
		APITokens: []APIToken{{Name: "frontend", File: "conf/frontend.token", Scope: ScopeWrite}}}
	if !slices.Equal(wantSec.APITokens, topo.Security.APITokens) || wantSec.CA != topo.Security.CA ||
		!slices.Equal(wantSec.GossipKeys, topo.Security.GossipKeys) {
		t.Errorf("security = %+v, want %+v", topo.Security, wantSec)
	}
	want := Peer{Name: "us-1", Region: "us", Gossip: "127.0.0.1:7111", Sync: "127.0.0.1:7211",
		API: "127.0.0.1:7311", Cert: "conf/us-1.crt", Key: "conf/us-1.key"}
	if p, ok := topo.Peer("us-1"); !ok || p != want {
		t.Errorf("Peer(us-1) = %+v, %v; want %+v", p, ok, want)
	}
	if _, ok := topo.Peer("nope"); ok {
		t.Error("Peer(nope) found")
	}
	if r, ok := topo.RegionOf("eu-1"); !ok || r != "eu" {
		t.Errorf("RegionOf(eu-1) = %q, %v", r, ok)
	}
	if _, ok := topo.RegionOf("nope"); ok {
		t.Error("RegionOf(nope) found")
	}
	if r, ok := topo.Region("us"); !ok || len(r.Peers) != 1 {
		t.Errorf("Region(us) = %+v, %v", r, ok)
	}
	var names []string
	for _, p := range topo.Peers() {
		names = append(names, p.Name)
	}
	if !slices.Equal(names, []string{"eu-1", "us-1"}) {
		t.Errorf("Peers() = %v", names)
	}
}

// TestParseTokenScopesRateLimitsAndOrigins reads every access field, with its
// defaults.
func TestParseTokenScopesRateLimitsAndOrigins(t *testing.T) {
	src := edit(t, "  api_tokens:\n    - name: frontend\n      file: frontend.token\n", `  api_tokens:
    - name: frontend
      file: frontend.token
    - name: browser
      file: browser.token
      scope: read
      rate_limit: {ops_per_second: 20}
    - name: importer
      file: importer.token
      scope: write
      rate_limit: {ops_per_second: 100_000, burst: 1000000}
  cors_origins: [https://www.example.com, "http://localhost:3000", "http://[::1]:8080"]
`)
	topo, err := Parse("t.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	want := []APIToken{
		{Name: "frontend", File: "frontend.token", Scope: ScopeWrite},
		{Name: "browser", File: "browser.token", Scope: ScopeRead, RateLimit: RateLimit{OpsPerSecond: 20, Burst: 40}},
		{Name: "importer", File: "importer.token", Scope: ScopeWrite, RateLimit: RateLimit{OpsPerSecond: 100_000, Burst: 1_000_000}},
	}
	if !slices.Equal(topo.Security.APITokens, want) {
		t.Errorf("api tokens %+v, want %+v", topo.Security.APITokens, want)
	}
	if origins := []string{"https://www.example.com", "http://localhost:3000", "http://[::1]:8080"}; !slices.Equal(topo.Security.CORSOrigins, origins) {
		t.Errorf("cors origins %q, want %q", topo.Security.CORSOrigins, origins)
	}
}

func TestParseAcceptsVariants(t *testing.T) {
	cases := map[string]string{
		"absolute paths":                    edit(t, "cert: eu-1.crt", "cert: /etc/countermesh/eu-1.crt"),
		"no api tokens":                     edit(t, "  api_tokens:\n    - name: frontend\n      file: frontend.token\n", ""),
		"empty api tokens":                  edit(t, "  api_tokens:\n    - name: frontend\n      file: frontend.token\n", "  api_tokens: []\n"),
		"token secrets":                     edit(t, "regions:\n", "  token_secrets:\n    - {id: k2, file: k2.secret}\n    - {id: k1, file: k1.secret}\nregions:\n"),
		"host names":                        edit(t, "127.0.0.1:7101", "eu-1.example.com:7101"),
		"IPv6":                              edit(t, "127.0.0.1:7101", `"[::1]:7101"`),
		"same port, other host":             edit(t, "127.0.0.1:7111", "127.0.0.2:7101"),
		"another peer without cert and key": edit(t, "        cert: us-1.crt\n        key: us-1.key\n", ""),
		"gossip keys being rotated":         edit(t, "gossip_key: gossip.key", "gossip_key: [gossip-2.key, gossip.key]"),
		"aliases": `mesh: demo
reaction_kinds: &kinds [like]
security: {ca: ca.crt, gossip_key: g.key}
regions:
  - name: eu
    peers: &peers
      - {name: eu-1, gossip: "h1:1", sync: "h1:2", api: "h1:3", cert: c, key: k}
`,
		"comments and quotes": "# the mesh\nmesh: \"demo\"\n" + strings.TrimPrefix(base, "mesh: demo\n"),
	}
	for name, src := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := Parse("t.yaml", []byte(src)); err != nil {
				t.Errorf("Parse: %v", err)
			}
		})
	}
}

func TestParseReportsEachProblem(t *testing.T) {
	const (
		nameRule = "want 1-63 lowercase letters, digits or hyphens, not starting or ending with a hyphen"
		kindRule = "want 1-32 lowercase letters, digits, '_' or '-'"
	)
	cases := []struct {
		name string
		src  string
		want string // the one problem expected
	}{
		// YAML itself.
		{"empty file", "", "t.yaml: empty topology"},
		{"only a comment", "# nothing\n", "t.yaml: empty topology"},
		{"syntax error", edit(t, "reaction_kinds: [like, dislike]", "reaction_kinds: [like, dislike"),
			"t.yaml:2: bad YAML: did not find expected ',' or ']'"},
		{"bad indentation", edit(t, "  gossip_key: gossip.key", " gossip_key: gossip.key"),
			"t.yaml:5: bad YAML: did not find expected key"},
		{"two documents", base + "---\nmesh: other\n", "t.yaml:26: bad YAML: more than one document"},
		{"not a mapping", "- mesh\n", "t.yaml:1: topology: want a mapping, got a list"},
		{"tab indentation", "mesh: demo\n\tregions: []\n", "t.yaml:2: bad YAML: found a tab character that violates indentation"},

		// Fields.
		{"unknown top-level field", base + "colour: blue\n",
			`t.yaml:26: unknown field "colour" in topology (want mesh, reaction_kinds, security, regions)`},
		{"memory not a size", edit(t, "        key: eu-1.key\n", "        key: eu-1.key\n        memory: lots\n"),
			`t.yaml:18: peer "eu-1": memory "lots": want a size such as 512MiB or 2GiB`},
		{"memory too small", edit(t, "        key: eu-1.key\n", "        key: eu-1.key\n        memory: 1MiB\n"),
			`t.yaml:18: peer "eu-1": memory 1MiB: want 64 MiB to 1.0 TiB`},
		{"memory as a number", edit(t, "        key: eu-1.key\n", "        key: eu-1.key\n        memory: 512\n"),
			`t.yaml:18: peer "eu-1": memory: want a string, got an integer`},
		{"unknown peer field", edit(t, "        key: eu-1.key\n", "        key: eu-1.key\n        gosip: x\n"),
			`t.yaml:18: unknown field "gosip" in peer (want name, gossip, sync, api, cert, key, memory)`},
		{"unknown security field", edit(t, "  ca: ca.crt", "  cert: ca.crt\n  ca: ca.crt"),
			`t.yaml:4: unknown field "cert" in security (want ca, gossip_key, api_tokens, token_secrets, cors_origins)`},
		{"unknown region field", edit(t, "  - name: us\n", "  - name: us\n    zone: b\n"),
			`t.yaml:19: unknown field "zone" in region (want name, peers)`},
		{"unknown token field", edit(t, "      file: frontend.token", "      file: frontend.token\n      role: all"),
			`t.yaml:9: unknown field "role" in api token (want name, file, scope, rate_limit)`},
		{"repeated field", edit(t, "        api: 127.0.0.1:7301\n", "        api: 127.0.0.1:7301\n        api: 127.0.0.1:7302\n"),
			`t.yaml:16: field "api" repeated (first at line 15)`},
		{"non-string field name", edit(t, "mesh: demo", "mesh: demo\n3: x"),
			"t.yaml:2: topology: field names must be strings, got an integer"},

		// Types.
		{"mesh is a list", edit(t, "mesh: demo", "mesh: [demo]"), "t.yaml:1: topology: mesh: want a string, got a list"},
		{"port is an integer", edit(t, "gossip: 127.0.0.1:7101", "gossip: 7101"),
			`t.yaml:13: peer "eu-1": gossip: want a string, got an integer`},
		{"regions is a string", base[:strings.Index(base, "regions:")] + "regions: all\n",
			"t.yaml:9: topology: regions: want a list, got a string"},
		{"peers is a mapping", base[:strings.Index(base, "  - name: us")] + "  - name: us\n    peers: {a: 1}\n",
			`t.yaml:19: region "us": peers: want a list, got a mapping`},
		{"security is a list", "mesh: demo\nreaction_kinds: [like]\nsecurity: [ca]\n" + base[strings.Index(base, "regions:"):],
			"t.yaml:3: security: want a mapping, got a list"},
		{"peer is a string", edit(t, "      - name: us-1\n        gossip: 127.0.0.1:7111\n        sync: 127.0.0.1:7211\n        api: 127.0.0.1:7311\n        cert: us-1.crt\n        key: us-1.key\n", "      - us-1\n"),
			"t.yaml:20: peer: want a mapping, got a string"},
		{"region is an integer", base + "  - 42\n", "t.yaml:26: region: want a mapping, got an integer"},
		{"reaction kind is a boolean", edit(t, "[like, dislike]", "[like, true]"),
			"t.yaml:2: reaction kind: want a string, got a boolean"},

		// Required fields.
		{"missing mesh", strings.TrimPrefix(base, "mesh: demo\n"), `t.yaml:1: topology: missing field "mesh"`},
		{"missing reaction kinds", edit(t, "reaction_kinds: [like, dislike]\n", ""), `t.yaml:1: topology: missing field "reaction_kinds"`},
		{"missing security", edit(t, "security:\n  ca: ca.crt\n  gossip_key: gossip.key\n  api_tokens:\n    - name: frontend\n      file: frontend.token\n", ""),
			`t.yaml:1: topology: missing field "security"`},
		{"missing regions", base[:strings.Index(base, "regions:")], `t.yaml:1: topology: missing field "regions"`},
		{"missing ca", edit(t, "  ca: ca.crt\n", ""), `t.yaml:4: security: missing field "ca"`},
		{"missing gossip key", edit(t, "  gossip_key: gossip.key\n", ""), `t.yaml:4: security: missing field "gossip_key"`},
		{"missing token file", edit(t, "      file: frontend.token\n", ""), `t.yaml:7: api token "frontend": missing field "file"`},
		{"missing region name", edit(t, "  - name: us\n    peers:\n", "  - peers:\n"), `t.yaml:18: region: missing field "name"`},
		{"missing peer name", edit(t, "      - name: us-1\n        gossip", "      - gossip"), `t.yaml:20: peer: missing field "name"`},
		{"missing gossip", edit(t, "        gossip: 127.0.0.1:7101\n", ""), `t.yaml:12: peer "eu-1": missing field "gossip"`},
		{"missing sync", edit(t, "        sync: 127.0.0.1:7201\n", ""), `t.yaml:12: peer "eu-1": missing field "sync"`},
		{"missing api", edit(t, "        api: 127.0.0.1:7301\n", ""), `t.yaml:12: peer "eu-1": missing field "api"`},
		{"empty gossip key list", edit(t, "gossip_key: gossip.key", "gossip_key: []"), `t.yaml:5: gossip_key is empty: list at least one key file`},
		{"gossip key listed twice", edit(t, "gossip_key: gossip.key", "gossip_key: [g.key, g.key]"), `t.yaml:5: gossip_key: "g.key" listed twice (first at line 5)`},
		{"gossip key not a file name", edit(t, "gossip_key: gossip.key", "gossip_key: [g.key, {a: b}]"), `t.yaml:5: gossip_key: want a file name, got a mapping`},
		{"empty mesh", edit(t, "mesh: demo", "mesh:"), "t.yaml:1: topology: mesh is empty"},
		{"empty quoted key path", edit(t, "key: us-1.key", `key: ""`), `t.yaml:25: peer "us-1": key is empty`},

		// Names.
		{"uppercase mesh", edit(t, "mesh: demo", "mesh: Demo"), `t.yaml:1: bad mesh name "Demo": ` + nameRule},
		{"mesh starting with a hyphen", edit(t, "mesh: demo", "mesh: -demo"), `t.yaml:1: bad mesh name "-demo": ` + nameRule},
		{"region with an underscore", edit(t, "name: us\n", "name: us_east\n"), `t.yaml:18: bad region name "us_east": ` + nameRule},
		{"peer name too long", edit(t, "name: eu-1", "name: "+strings.Repeat("p", 64)),
			`t.yaml:12: bad peer name "` + strings.Repeat("p", 64) + `": ` + nameRule},
		{"peer name with a dot", edit(t, "name: eu-1", "name: eu.1"), `t.yaml:12: bad peer name "eu.1": ` + nameRule},
		{"token name with a space", edit(t, "name: frontend", `name: "front end"`),
			`t.yaml:7: bad api token name "front end": want 1-63 lowercase letters, digits, '_' or '-'`},
		{"duplicate region", edit(t, "  - name: us\n", "  - name: eu\n"), `t.yaml:18: region "eu" defined twice (first at line 10)`},
		{"duplicate peer", edit(t, "name: us-1", "name: eu-1"), `t.yaml:20: peer "eu-1" defined twice (first at line 12)`},
		{"duplicate token", edit(t, "      file: frontend.token\n", "      file: frontend.token\n    - name: frontend\n      file: other.token\n"),
			`t.yaml:9: api token "frontend" defined twice (first at line 7)`},
		{"token secret id with a capital", edit(t, "regions:\n", "  token_secrets:\n    - {id: K1, file: k1.secret}\nregions:\n"),
			`t.yaml:10: bad token secret id "K1": want 1-63 lowercase letters, digits, '_' or '-'`},
		{"duplicate token secret", edit(t, "regions:\n", "  token_secrets:\n    - {id: k1, file: k1.secret}\n    - {id: k1, file: k2.secret}\nregions:\n"),
			`t.yaml:11: token secret "k1" defined twice (first at line 10)`},
		{"token secret without a file", edit(t, "regions:\n", "  token_secrets:\n    - id: k1\nregions:\n"),
			`t.yaml:10: token secret "k1": missing field "file"`},
		{"unknown token secret field", edit(t, "regions:\n", "  token_secrets:\n    - {id: k1, file: k1.secret, name: x}\nregions:\n"),
			`t.yaml:10: unknown field "name" in token secret (want id, file)`},

		// Token scopes and rate limits.
		{"unknown scope", edit(t, "      file: frontend.token", "      file: frontend.token\n      scope: admin"),
			`t.yaml:9: api token "frontend": unknown scope "admin": want write (frontends: everything) or read (browsers: reads and live streams)`},
		{"scope is a list", edit(t, "      file: frontend.token", "      file: frontend.token\n      scope: [read]"),
			`t.yaml:9: api token "frontend": scope: want a string, got a list`},
		{"rate limit without ops per second", edit(t, "      file: frontend.token", "      file: frontend.token\n      rate_limit: {burst: 10}"),
			`t.yaml:9: api token "frontend": rate_limit: missing field "ops_per_second"`},
		{"rate limit of zero", edit(t, "      file: frontend.token", "      file: frontend.token\n      rate_limit: {ops_per_second: 0}"),
			`t.yaml:9: api token "frontend": rate_limit: ops_per_second is 0: want 1 to 1000000000`},
		{"negative burst", edit(t, "      file: frontend.token", "      file: frontend.token\n      rate_limit:\n        ops_per_second: 10\n        burst: -1"),
			`t.yaml:11: api token "frontend": rate_limit: burst is -1: want 1 to 1000000000`},
		{"fractional rate", edit(t, "      file: frontend.token", "      file: frontend.token\n      rate_limit: {ops_per_second: 0.5}"),
			`t.yaml:9: api token "frontend": rate_limit: ops_per_second: want a whole number of operations, got a number`},
		{"rate as a string", edit(t, "      file: frontend.token", "      file: frontend.token\n      rate_limit: {ops_per_second: \"50k\"}"),
			`t.yaml:9: api token "frontend": rate_limit: ops_per_second: want a whole number of operations, got a string`},
		{"rate limit is a number", edit(t, "      file: frontend.token", "      file: frontend.token\n      rate_limit: 100"),
			`t.yaml:9: api token "frontend": rate_limit: want a mapping, got an integer`},
		{"unknown rate limit field", edit(t, "      file: frontend.token", "      file: frontend.token\n      rate_limit: {ops_per_second: 5, per: minute}"),
			`t.yaml:9: unknown field "per" in api token "frontend": rate_limit (want ops_per_second, burst)`},

		// CORS origins.
		{"origin with a path", edit(t, "regions:\n", "  cors_origins: [https://app.example.com/page]\nregions:\n"),
			`t.yaml:9: bad cors origin "https://app.example.com/page": an origin has no user, path, query or fragment: want scheme://host[:port] as browsers send it, e.g. https://www.example.com`},
		{"origin with a trailing slash", edit(t, "regions:\n", "  cors_origins: [https://app.example.com/]\nregions:\n"),
			`t.yaml:9: bad cors origin "https://app.example.com/": browsers send it as "https://app.example.com"; write that`},
		{"origin in capitals", edit(t, "regions:\n", "  cors_origins: [https://App.Example.com]\nregions:\n"),
			`t.yaml:9: bad cors origin "https://App.Example.com": browsers send it as "https://app.example.com"; write that`},
		{"origin with its default port", edit(t, "regions:\n", "  cors_origins: [\"https://app.example.com:443\"]\nregions:\n"),
			`t.yaml:9: bad cors origin "https://app.example.com:443": browsers send it as "https://app.example.com"; write that`},
		{"origin without a scheme", edit(t, "regions:\n", "  cors_origins: [app.example.com]\nregions:\n"),
			`t.yaml:9: bad cors origin "app.example.com": want scheme://host[:port] as browsers send it, e.g. https://www.example.com`},
		{"wildcard origin", edit(t, "regions:\n", "  cors_origins: [\"*\"]\nregions:\n"),
			`t.yaml:9: bad cors origin "*": list each origin; a wildcard is not accepted`},
		{"origin listed twice", edit(t, "regions:\n", "  cors_origins:\n    - https://app.example.com\n    - https://app.example.com\nregions:\n"),
			`t.yaml:11: cors origin "https://app.example.com" listed twice (first at line 10)`},
		{"origin is a number", edit(t, "regions:\n", "  cors_origins: [8080]\nregions:\n"),
			`t.yaml:9: cors origin: want a string, got an integer`},
		{"cors origins is a string", edit(t, "regions:\n", "  cors_origins: https://app.example.com\nregions:\n"),
			`t.yaml:9: security: cors_origins: want a list, got a string`},

		// Regions.
		{"no regions", base[:strings.Index(base, "regions:")] + "regions: []\n", "t.yaml:9: regions is empty: list at least one region"},
		{"region without peers", edit(t, "  - name: us\n    peers:\n      - name: us-1\n        gossip: 127.0.0.1:7111\n        sync: 127.0.0.1:7211\n        api: 127.0.0.1:7311\n        cert: us-1.crt\n        key: us-1.key\n", "  - name: us\n    peers: []\n"),
			`t.yaml:19: region "us" has no peers`},
		{"region with null peers", base + "  - name: ap\n    peers:\n", `t.yaml:27: region "ap" has no peers`},
		{"region with no peers field", base + "  - name: ap\n", `t.yaml:26: region "ap" has no peers`},

		// Addresses.
		{"missing port", edit(t, "gossip: 127.0.0.1:7101", "gossip: 127.0.0.1"),
			`t.yaml:13: bad gossip address "127.0.0.1": missing port in address`},
		{"port out of range", edit(t, "sync: 127.0.0.1:7201", "sync: 127.0.0.1:72010"),
			`t.yaml:14: bad sync address "127.0.0.1:72010": port 72010 out of range 1-65535`},
		{"port zero", edit(t, "api: 127.0.0.1:7301", "api: 127.0.0.1:0"),
			`t.yaml:15: bad api address "127.0.0.1:0": port 0 out of range 1-65535`},
		{"port not a number", edit(t, "api: 127.0.0.1:7301", "api: 127.0.0.1:http"),
			`t.yaml:15: bad api address "127.0.0.1:http": port "http" is not a number`},
		{"negative port", edit(t, "api: 127.0.0.1:7301", "api: 127.0.0.1:-1"),
			`t.yaml:15: bad api address "127.0.0.1:-1": port "-1" is not a number`},
		{"missing host", edit(t, "api: 127.0.0.1:7301", `api: ":7301"`),
			`t.yaml:15: bad api address ":7301": missing host`},
		{"unspecified host", edit(t, "api: 127.0.0.1:7301", "api: 0.0.0.0:7301"),
			`t.yaml:15: bad api address "0.0.0.0:7301": 0.0.0.0 is not an address other peers can dial`},
		{"bad host", edit(t, "api: 127.0.0.1:7301", "api: bad_host:7301"),
			`t.yaml:15: bad api address "bad_host:7301": bad host "bad_host"`},
		{"IPv6 without brackets", edit(t, "api: 127.0.0.1:7301", `api: "::1:7301"`),
			`t.yaml:15: bad api address "::1:7301": too many colons in address`},
		{"duplicate address across peers", edit(t, "sync: 127.0.0.1:7211", "sync: 127.0.0.1:7101"),
			`t.yaml:22: sync address 127.0.0.1:7101 of peer "us-1" is also the gossip address of peer "eu-1" (line 13)`},
		{"duplicate address in another spelling", edit(t, "api: 127.0.0.1:7311", "api: 127.0.0.1:07301"),
			`t.yaml:23: api address 127.0.0.1:7301 of peer "us-1" is also the api address of peer "eu-1" (line 15)`},
		{"duplicate address within a peer", edit(t, "api: 127.0.0.1:7301", "api: 127.0.0.1:7201"),
			`t.yaml:15: api address 127.0.0.1:7201 of peer "eu-1" is also its sync address`},
		{"duplicate host name, any case", edit(t, "127.0.0.1:7101", "Node-A:7101", "127.0.0.1:7111", "node-a:7101"),
			`t.yaml:21: gossip address node-a:7101 of peer "us-1" is also the gossip address of peer "eu-1" (line 13)`},

		// Reaction kinds.
		{"no reaction kinds", edit(t, "[like, dislike]", "[]"), "t.yaml:2: reaction_kinds is empty: list at least one reaction kind"},
		{"null reaction kinds", edit(t, "reaction_kinds: [like, dislike]", "reaction_kinds:"), "t.yaml:2: reaction_kinds is empty: list at least one reaction kind"},
		{"reaction kinds not a list", edit(t, "[like, dislike]", "like"), "t.yaml:2: topology: reaction_kinds: want a list, got a string"},
		{"duplicate reaction kind", edit(t, "reaction_kinds: [like, dislike]", "reaction_kinds:\n  - like\n  - like"),
			`t.yaml:4: reaction kind "like" listed twice (first at line 3)`},
		{"uppercase reaction kind", edit(t, "[like, dislike]", "[like, Dislike]"), `t.yaml:2: bad reaction kind "Dislike": ` + kindRule},
		{"reaction kind too long", edit(t, "[like, dislike]", "[like, "+strings.Repeat("k", 33)+"]"),
			`t.yaml:2: bad reaction kind "` + strings.Repeat("k", 33) + `": ` + kindRule},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			topo, err := Parse("t.yaml", []byte(c.src))
			if topo != nil {
				t.Errorf("Parse returned a topology with an error")
			}
			got := problemLines(t, err)
			if len(got) != 1 || got[0] != c.want {
				t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), c.want)
			}
		})
	}
}

// TestParseReportsEveryProblemAtOnce breaks many rules in one file.
func TestParseReportsEveryProblemAtOnce(t *testing.T) {
	src := edit(t,
		"mesh: demo", "mesh: Demo",
		"[like, dislike]", "[like, like]",
		"  gossip_key: gossip.key\n", "",
		"        gossip: 127.0.0.1:7101", "        gossip: 127.0.0.1",
		"name: us-1", "name: eu-1",
		"sync: 127.0.0.1:7211", "sync: 127.0.0.1:7201",
	) + "  - name: ap\n    peers: []\nextra: 1\n"
	want := []string{
		`t.yaml:1: bad mesh name "Demo": want 1-63 lowercase letters, digits or hyphens, not starting or ending with a hyphen`,
		`t.yaml:2: reaction kind "like" listed twice (first at line 2)`,
		`t.yaml:4: security: missing field "gossip_key"`,
		`t.yaml:12: bad gossip address "127.0.0.1": missing port in address`,
		`t.yaml:19: peer "eu-1" defined twice (first at line 11)`,
		`t.yaml:21: sync address 127.0.0.1:7201 of peer "eu-1" is also the sync address of peer "eu-1" (line 13)`,
		`t.yaml:26: region "ap" has no peers`,
		`t.yaml:27: unknown field "extra" in topology (want mesh, reaction_kinds, security, regions)`,
	}
	got := problemLines(t, mustFail(t, src))
	if !slices.Equal(got, want) {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func mustFail(t *testing.T, src string) error {
	t.Helper()
	_, err := Parse("t.yaml", []byte(src))
	if err == nil {
		t.Fatal("Parse succeeded")
	}
	return err
}

func TestExampleFileParses(t *testing.T) {
	const file = "examples/three-regions.yaml"
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	topo, err := Parse(file, data)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if len(topo.Regions) != 3 || len(topo.Peers()) != 6 {
		t.Errorf("%d regions and %d peers, want 3 and 6", len(topo.Regions), len(topo.Peers()))
	}
	for _, r := range topo.Regions {
		if len(r.Peers) != 2 {
			t.Errorf("region %s has %d peers", r.Name, len(r.Peers))
		}
	}
	if p, _ := topo.Peer("eu-west-1"); p.Cert != filepath.Join("examples", "certs", "eu-west-1.crt") {
		t.Errorf("cert of eu-west-1 = %q", p.Cert)
	}
}

// TestParseBoundsAliasExpansion repeats, through aliases, a region of many
// peers many times: Parse must stop early rather than walk them all.
func TestParseBoundsAliasExpansion(t *testing.T) {
	var b strings.Builder
	b.WriteString("mesh: demo\nreaction_kinds: [like]\nsecurity: {ca: c, gossip_key: g}\nregions:\n")
	b.WriteString("  - &r\n    name: eu\n    peers:\n      - &p {name: p, gossip: \"h:1\", sync: \"h:2\", api: \"h:3\", cert: c, key: k}\n")
	for range 2000 {
		b.WriteString("      - *p\n")
	}
	for range 2000 {
		b.WriteString("  - *r\n")
	}
	got := problemLines(t, mustFail(t, b.String()))
	want := "t.yaml:8: too many regions, peers and tokens (over 10000): stopped reading here"
	if !slices.Contains(got, want) {
		t.Errorf("problems lack %q: %d problems, first %q", want, len(got), got[:min(3, len(got))])
	}
}

// TestParseReadsAPeersMemoryBudget: memory takes a size in IEC or SI units.
func TestParseReadsAPeersMemoryBudget(t *testing.T) {
	for src, want := range map[string]int64{"512MiB": 512 << 20, "2GB": 2_000_000_000, "1 GiB": 1 << 30} {
		topo, err := Parse("t.yaml", []byte(edit(t, "        key: eu-1.key\n", "        key: eu-1.key\n        memory: "+src+"\n")))
		if err != nil {
			t.Fatal(err)
		}
		if p, _ := topo.Peer("eu-1"); p.Memory != want {
			t.Errorf("memory: %s read as %d, want %d", src, p.Memory, want)
		}
	}
}
