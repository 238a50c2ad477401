package topology

import (
	"reflect"
	"testing"
)

func mustParse(t *testing.T, file, src string) *Topology {
	t.Helper()
	topo, err := Parse(file, []byte(src))
	if err != nil {
		t.Fatalf("Parse(%s): %v", file, err)
	}
	return topo
}

const apRegion = `  - name: ap
    peers:
      - name: ap-1
        gossip: 127.0.0.1:7121
        sync: 127.0.0.1:7221
        api: 127.0.0.1:7321
        cert: ap-1.crt
        key: ap-1.key
`

func TestDiff(t *testing.T) {
	cases := []struct {
		name    string
		newSrc  string
		newFile string // default t.yaml
		want    Changes
		str     string
	}{
		{"unchanged", base, "", Changes{}, "no changes"},
		{"moved with its files", base, "elsewhere/t.yaml", Changes{}, "no changes"},
		{"region added", base + apRegion, "",
			Changes{RegionsAdded: []string{"ap"}, PeersAdded: []string{"ap-1"}},
			"region added: ap\npeer added: ap-1"},
		{"region removed", base[:len(base)-len("  - name: us\n    peers:\n      - name: us-1\n        gossip: 127.0.0.1:7111\n        sync: 127.0.0.1:7211\n        api: 127.0.0.1:7311\n        cert: us-1.crt\n        key: us-1.key\n")], "",
			Changes{RegionsRemoved: []string{"us"}, PeersRemoved: []string{"us-1"}},
			"region removed: us\npeer removed: us-1"},
		{"peer renamed", edit(t, "name: us-1", "name: us-2"), "",
			Changes{PeersAdded: []string{"us-2"}, PeersRemoved: []string{"us-1"}},
			"peer added: us-2\npeer removed: us-1"},
		{"peer changed", edit(t, "gossip: 127.0.0.1:7101", "gossip: 127.0.0.1:7102", "api: 127.0.0.1:7301", "api: 127.0.0.1:7302", "key: eu-1.key", "key: keys/eu-1.key"), "",
			Changes{PeersChanged: []PeerChange{{Name: "eu-1", Fields: []string{"gossip", "api", "key"}}}},
			"peer changed: eu-1 (gossip, api, key)"},
		{"peer moved to another region", edit(t, "  - name: us\n", "  - name: ap\n"), "",
			Changes{RegionsAdded: []string{"ap"}, RegionsRemoved: []string{"us"}, PeersChanged: []PeerChange{{Name: "us-1", Fields: []string{"region"}}}},
			"region added: ap\nregion removed: us\npeer changed: us-1 (region)"},
		{"mesh renamed and kinds changed", edit(t, "mesh: demo", "mesh: prod", "[like, dislike]", "[like, clap, love]"), "",
			Changes{OldMesh: "demo", NewMesh: "prod", KindsAdded: []string{"clap", "love"}, KindsRemoved: []string{"dislike"}},
			"mesh renamed: demo -> prod (peers refuse a topology of another mesh)\nreaction kind added: clap\nreaction kind added: love\nreaction kind removed: dislike"},
		{"security changed", edit(t, "ca: ca.crt", "ca: ca2.crt", "name: frontend", "name: web"), "",
			Changes{SecurityChanged: []string{"ca", "api_tokens"}},
			"security changed: ca\nsecurity changed: api_tokens"},
		{"token scope and origins changed", edit(t, "      file: frontend.token\n", "      file: frontend.token\n      scope: read\n  cors_origins: [https://a.example]\n"), "",
			Changes{SecurityChanged: []string{"api_tokens", "cors_origins"}},
			"security changed: api_tokens\nsecurity changed: cors_origins"},
		{"token rate limit changed", edit(t, "      file: frontend.token\n", "      file: frontend.token\n      rate_limit: {ops_per_second: 10}\n"), "",
			Changes{SecurityChanged: []string{"api_tokens"}},
			"security changed: api_tokens"},
		{"token secret added", edit(t, "regions:\n", "  token_secrets: [{id: k1, file: k1.secret}]\nregions:\n"), "",
			Changes{SecurityChanged: []string{"token_secrets"}},
			"security changed: token_secrets"},
		{"cert moved out of the directory", edit(t, "cert: eu-1.crt", "cert: /etc/eu-1.crt"), "",
			Changes{PeersChanged: []PeerChange{{Name: "eu-1", Fields: []string{"cert"}}}},
			"peer changed: eu-1 (cert)"},
	}
	old := mustParse(t, "t.yaml", base)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			file := c.newFile
			if file == "" {
				file = "t.yaml"
			}
			got := Diff(old, mustParse(t, file, c.newSrc))
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("Diff = %+v\nwant %+v", got, c.want)
			}
			if got.String() != c.str {
				t.Errorf("String() =\n%s\nwant\n%s", got, c.str)
			}
			if got.Empty() != (c.str == "no changes") {
				t.Errorf("Empty() = %v", got.Empty())
			}
		})
	}
}

func TestDiffIsSymmetric(t *testing.T) {
	a, b := mustParse(t, "t.yaml", base), mustParse(t, "t.yaml", base+apRegion)
	ab, ba := Diff(a, b), Diff(b, a)
	if !reflect.DeepEqual(ab.RegionsAdded, ba.RegionsRemoved) || !reflect.DeepEqual(ab.PeersAdded, ba.PeersRemoved) {
		t.Errorf("Diff(a, b) = %+v, Diff(b, a) = %+v", ab, ba)
	}
}

func TestDiffWithNil(t *testing.T) {
	topo := mustParse(t, "t.yaml", base)
	c := Diff(nil, topo)
	if !reflect.DeepEqual(c.RegionsAdded, []string{"eu", "us"}) || c.NewMesh != "demo" || len(c.PeersAdded) != 2 {
		t.Errorf("Diff(nil, t) = %+v", c)
	}
	if c := Diff(nil, nil); !c.Empty() {
		t.Errorf("Diff(nil, nil) = %+v", c)
	}
}
