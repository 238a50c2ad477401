package topology

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/countermesh/countermesh/topology/pki"
)

// peerHost turns the directory of writeMesh into what the host of eu-1
// holds: us-1's key is gone and its certificate is not there either.
func peerHost(t *testing.T, dir string) {
	t.Helper()
	remove(t, dir, "us-1.key")
	remove(t, dir, "us-1.crt")
}

func TestLoadPeerReadsOnlyItsOwnKey(t *testing.T) {
	dir := t.TempDir()
	file, ca := writeMesh(t, dir)
	withTokenSecrets(t, dir, file)
	peerHost(t, dir)
	topo, m, err := LoadPeer(file, "eu-1")
	if err != nil {
		t.Fatalf("LoadPeer on a host holding only eu-1's key: %v", err)
	}
	if len(topo.Unchecked) != 0 {
		t.Errorf("Unchecked = %v, want none from LoadPeer", topo.Unchecked)
	}
	id, err := pki.IdentityOf(m.Certificate.Leaf)
	if err != nil || id.String() != "countermesh://demo/eu/eu-1" {
		t.Errorf("certificate of %v (%v), want eu-1's", id, err)
	}
	if !m.CA.Equal(ca.Certificate()) || m.CAPool == nil {
		t.Errorf("CA %v, pool %v", m.CA.Subject, m.CAPool)
	}
	gossip, err := pki.ParseGossipKey(readTest(t, filepath.Join(dir, "gossip.key")))
	if err != nil {
		t.Fatal(err)
	}
	if len(m.GossipKeys) != 1 || !bytes.Equal(m.GossipKeys[0], gossip) {
		t.Errorf("gossip keys %x, want [%x]", m.GossipKeys, gossip)
	}
	if len(m.TokenSecrets) != 2 || m.TokenSecrets[0].ID != "k2" || m.TokenSecrets[1].ID != "k1" || len(m.TokenSecrets[0].Secret) != 32 {
		t.Errorf("token secrets %+v, want k2 then k1", m.TokenSecrets)
	}
	token := strings.TrimSpace(string(readTest(t, filepath.Join(dir, "frontend.token"))))
	if len(m.APITokens) != 1 || m.APITokens["frontend"] != token {
		t.Errorf("api tokens %v, want frontend's", m.APITokens)
	}

	// Another peer's entry may name no files at all, or files this host
	// cannot read: they are never opened.
	write(t, file, []byte(strings.Replace(string(readTest(t, file)), "        cert: us-1.crt\n        key: us-1.key\n", "", 1)))
	if _, _, err := LoadPeer(file, "eu-1"); err != nil {
		t.Errorf("LoadPeer with us-1 naming no cert and key: %v", err)
	}
	if os.Geteuid() != 0 {
		withTokenSecrets(t, dir, file)
		write(t, filepath.Join(dir, "us-1.key"), []byte("not a key"))
		if err := os.Chmod(filepath.Join(dir, "us-1.key"), 0); err != nil {
			t.Fatal(err)
		}
		if _, _, err := LoadPeer(file, "eu-1"); err != nil {
			t.Errorf("LoadPeer with us-1's key unreadable: %v", err)
		}
	}
}

func TestLoadPeerNeedsItsOwnFiles(t *testing.T) {
	cases := []struct {
		name  string
		setup func(t *testing.T, dir, file string, ca *pki.CA)
		want  string
	}{
		{"its key missing", func(t *testing.T, dir, _ string, _ *pki.CA) { remove(t, dir, "eu-1.key") },
			`:17: cannot read key "eu-1.key" of peer "eu-1": no such file or directory`},
		{"no cert and key named", func(t *testing.T, _, file string, _ *pki.CA) {
			write(t, file, []byte(strings.Replace(base, "        cert: eu-1.crt\n        key: eu-1.key\n", "", 1)))
		}, `:12: peer "eu-1" names no cert and key: this peer needs both (countermesh certs issue makes them)`},
		{"the cert of another peer", func(t *testing.T, dir, _ string, ca *pki.CA) {
			issueTo(t, ca, dir, pki.PeerIdentity{Mesh: "demo", Region: "us", Name: "us-1"}, "eu-1")
		}, `:16: cert "eu-1.crt" of peer "eu-1" is issued for countermesh://demo/us/us-1, want countermesh://demo/eu/eu-1`},
		{"the gossip key missing", func(t *testing.T, dir, _ string, _ *pki.CA) { remove(t, dir, "gossip.key") },
			`:5: cannot read gossip_key file "gossip.key": no such file or directory`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			file, ca := writeMesh(t, dir)
			peerHost(t, dir)
			c.setup(t, dir, file, ca)
			_, _, err := LoadPeer(file, "eu-1")
			got := problemLines(t, err)
			if len(got) != 1 || got[0] != file+c.want {
				t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), file+c.want)
			}
		})
	}
	dir := t.TempDir()
	file, _ := writeMesh(t, dir)
	if _, _, err := LoadPeer(file, "sa-1"); err == nil || !strings.Contains(err.Error(), `peer "sa-1" is not in`) {
		t.Errorf("LoadPeer of a peer not in the topology: %v", err)
	}
}

// TestLoadNotesWhatIsNotOnThisHost: on a peer's host, topology check passes
// and says which files of other peers it could not check.
func TestLoadNotesWhatIsNotOnThisHost(t *testing.T) {
	dir := t.TempDir()
	file, _ := writeMesh(t, dir)
	peerHost(t, dir)
	topo, err := Load(file)
	if err != nil {
		t.Fatalf("Load on a peer's host: %v", err)
	}
	var got []string
	for _, p := range topo.Unchecked {
		got = append(got, p.String())
	}
	want := []string{
		file + `:24: cert "us-1.crt" of peer "us-1" is not on this host: not checked`,
		file + `:25: key "us-1.key" of peer "us-1" is not on this host: not checked`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("Unchecked:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestLoadGossipKeysInOrder(t *testing.T) {
	dir := t.TempDir()
	file, _ := writeMesh(t, dir)
	write(t, filepath.Join(dir, "gossip-2.key"), pki.EncodeGossipKey(pki.NewGossipKey()))
	write(t, file, []byte(edit(t, "gossip_key: gossip.key", "gossip_key: [gossip-2.key, gossip.key]")))
	topo, m, err := LoadPeer(file, "eu-1")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{filepath.Join(dir, "gossip-2.key"), filepath.Join(dir, "gossip.key")}; !slices.Equal(topo.Security.GossipKeys, want) {
		t.Errorf("gossip keys %v, want %v", topo.Security.GossipKeys, want)
	}
	first, _ := pki.ParseGossipKey(readTest(t, filepath.Join(dir, "gossip-2.key")))
	if len(m.GossipKeys) != 2 || !bytes.Equal(m.GossipKeys[0], first) {
		t.Errorf("the first key read is not the first listed")
	}
	write(t, filepath.Join(dir, "gossip-2.key"), []byte("AAAA\n"))
	got := problemLines(t, loadErr(t, file))
	if want := file + `:5: gossip_key file "gossip-2.key": pki: bad gossip key: 3 bytes, want 32`; len(got) != 1 || got[0] != want {
		t.Errorf("problems %q, want %q", got, want)
	}
}

func TestRestartReasons(t *testing.T) {
	old := mustParse(t, "a/t.yaml", base)
	cases := []struct {
		name string
		src  string
		want []string
	}{
		{"another peer's addresses", edit(t, "127.0.0.1:7311", "127.0.0.1:7411"), nil},
		{"a region added and keys rotated", edit(t, "gossip_key: gossip.key", "gossip_key: [g2.key, gossip.key]") +
			"  - name: sa\n    peers:\n      - {name: sa-1, gossip: '127.0.0.1:7121', sync: '127.0.0.1:7221', api: '127.0.0.1:7321'}\n", nil},
		{"its api address", edit(t, "127.0.0.1:7301", "127.0.0.1:7401"),
			[]string{"it changes this peer's api address from 127.0.0.1:7301 to 127.0.0.1:7401"}},
		{"its gossip and sync addresses", edit(t, "127.0.0.1:7101", "127.0.0.1:7401", "127.0.0.1:7201", "127.0.0.1:7402"), []string{
			"it changes this peer's gossip address from 127.0.0.1:7101 to 127.0.0.1:7401",
			"it changes this peer's sync address from 127.0.0.1:7201 to 127.0.0.1:7402"}},
		{"its key", edit(t, "key: eu-1.key", "key: new/eu-1.key"), []string{"it changes this peer's key from eu-1.key to new/eu-1.key"}},
		{"its region", edit(t, "  - name: eu\n", "  - name: ap\n"), []string{`it moves this peer from region "eu" to "ap"`}},
		{"the mesh", edit(t, "mesh: demo", "mesh: other"), []string{`it renames the mesh "demo" to "other"`}},
		{"the ca", edit(t, "ca: ca.crt", "ca: ca2.crt"), []string{"it changes the ca from ca.crt to ca2.crt"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := RestartReasons(old, mustParse(t, "a/t.yaml", c.src), "eu-1")
			if !slices.Equal(got, c.want) {
				t.Errorf("reasons:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(c.want, "\n"))
			}
		})
	}
	if got := RestartReasons(old, mustParse(t, "a/t.yaml", base), "sa-1"); len(got) != 1 {
		t.Errorf("reasons for a peer the topology drops: %q", got)
	}
}

func readTest(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
