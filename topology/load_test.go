package topology

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/countermesh/countermesh/topology/pki"
)

// writeMesh writes base as dir/t.yaml with all the material it names, made
// with a new CA, and returns the topology file's path and the CA.
func writeMesh(t *testing.T, dir string) (string, *pki.CA) {
	t.Helper()
	ca, err := pki.NewCA("demo")
	if err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "ca.crt"), ca.CertPEM())
	write(t, filepath.Join(dir, "gossip.key"), pki.EncodeGossipKey(pki.NewGossipKey()))
	write(t, filepath.Join(dir, "frontend.token"), []byte(pki.NewToken()+"\n"))
	for _, p := range [][2]string{{"eu", "eu-1"}, {"us", "us-1"}} {
		issueTo(t, ca, dir, pki.PeerIdentity{Mesh: "demo", Region: p[0], Name: p[1]}, p[1])
	}
	file := filepath.Join(dir, "t.yaml")
	write(t, file, []byte(base))
	return file, ca
}

// issueTo issues a certificate for id and writes it as dir/<as>.crt and .key.
func issueTo(t *testing.T, ca *pki.CA, dir string, id pki.PeerIdentity, as string) {
	t.Helper()
	certPEM, keyPEM, err := ca.Issue(id)
	if err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, as+".crt"), certPEM)
	write(t, filepath.Join(dir, as+".key"), keyPEM)
}

func write(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestLoadValid(t *testing.T) {
	dir := t.TempDir()
	file, _ := writeMesh(t, dir)
	topo, err := Load(file)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if topo.File != file || topo.Dir != dir {
		t.Errorf("File %q, Dir %q", topo.File, topo.Dir)
	}
	p, _ := topo.Peer("eu-1")
	if p.Cert != filepath.Join(dir, "eu-1.crt") || !filepath.IsAbs(p.Key) || !filepath.IsAbs(topo.Security.CA) {
		t.Errorf("paths not resolved: %+v, ca %q", p, topo.Security.CA)
	}
}

// withTokenSecrets lists two token secrets in the topology of writeMesh and
// writes their files.
func withTokenSecrets(t *testing.T, dir, file string) {
	t.Helper()
	src := strings.Replace(base, "regions:\n", "  token_secrets:\n    - id: k2\n      file: k2.secret\n    - id: k1\n      file: /k1.secret\nregions:\n", 1)
	write(t, file, []byte(strings.Replace(src, "/k1.secret", filepath.Join(dir, "k1.secret"), 1)))
	write(t, filepath.Join(dir, "k1.secret"), pki.EncodeTokenSecret(pki.NewTokenSecret()))
	write(t, filepath.Join(dir, "k2.secret"), pki.EncodeTokenSecret(pki.NewTokenSecret()))
}

func TestLoadTokenSecrets(t *testing.T) {
	dir := t.TempDir()
	file, _ := writeMesh(t, dir)
	withTokenSecrets(t, dir, file)
	topo, err := Load(file)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := []TokenSecret{{ID: "k2", File: filepath.Join(dir, "k2.secret")}, {ID: "k1", File: filepath.Join(dir, "k1.secret")}}
	if !slices.Equal(topo.Security.TokenSecrets, want) {
		t.Fatalf("token secrets %+v, want %+v", topo.Security.TokenSecrets, want)
	}
	write(t, filepath.Join(dir, "k2.secret"), []byte("c2hvcnQ=\n"))
	remove(t, dir, "k1.secret")
	got := problemLines(t, loadErr(t, file))
	wantLines := []string{
		file + `:11: file "k2.secret" of token secret "k2": pki: bad token secret: 5 bytes, want 32`,
		file + `:13: cannot read file "` + filepath.Join(dir, "k1.secret") + `" of token secret "k1": no such file or directory`,
	}
	if !slices.Equal(got, wantLines) {
		t.Fatalf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(wantLines, "\n"))
	}
}

// loadErr loads file, failing the test unless it is refused.
func loadErr(t *testing.T, file string) error {
	t.Helper()
	_, err := Load(file)
	if err == nil {
		t.Fatal("Load accepted the topology")
	}
	return err
}

func TestLoadRelativeFileNameMakesPathsAbsolute(t *testing.T) {
	dir := t.TempDir()
	writeMesh(t, dir)
	t.Chdir(dir)
	topo, err := Load("t.yaml")
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if !filepath.IsAbs(topo.File) || !filepath.IsAbs(topo.Security.GossipKeys[0]) {
		t.Errorf("File %q, gossip keys %q: want absolute paths", topo.File, topo.Security.GossipKeys)
	}
}

func TestLoadMissingTopology(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "none.yaml"))
	if !errors.Is(err, fs.ErrNotExist) || errors.Is(err, ErrInvalid) {
		t.Errorf("Load = %v, want a not-exist error", err)
	}
}

func TestLoadReportsFileProblems(t *testing.T) {
	cases := []struct {
		name  string
		setup func(t *testing.T, dir string, ca *pki.CA)
		want  string
	}{
		{"missing ca", func(t *testing.T, dir string, _ *pki.CA) { remove(t, dir, "ca.crt") },
			`cannot read ca file "ca.crt": no such file or directory`},
		{"directory as gossip key", func(t *testing.T, dir string, _ *pki.CA) {
			remove(t, dir, "gossip.key")
			if err := os.Mkdir(filepath.Join(dir, "gossip.key"), 0o700); err != nil {
				t.Fatal(err)
			}
		}, `cannot read gossip_key file "gossip.key": is a directory`},
		{"missing token", func(t *testing.T, dir string, _ *pki.CA) { remove(t, dir, "frontend.token") },
			`cannot read file "frontend.token" of api token "frontend": no such file or directory`},
		{"cert of another CA, its key not on this host", func(t *testing.T, dir string, _ *pki.CA) {
			other, err := pki.NewCA("demo")
			if err != nil {
				t.Fatal(err)
			}
			issueTo(t, other, dir, pki.PeerIdentity{Mesh: "demo", Region: "us", Name: "us-1"}, "us-1")
			remove(t, dir, "us-1.key")
		}, `cert "us-1.crt" of peer "us-1" does not verify against the mesh CA: x509: certificate signed by unknown authority ` +
			`(possibly because of "x509: ECDSA verification failure" while trying to verify candidate authority certificate "countermesh demo CA")`},
		{"short gossip key", func(t *testing.T, dir string, _ *pki.CA) {
			write(t, filepath.Join(dir, "gossip.key"), []byte("AAAA\n"))
		},
			`gossip_key file "gossip.key": pki: bad gossip key: 3 bytes, want 32`},
		{"empty token", func(t *testing.T, dir string, _ *pki.CA) {
			write(t, filepath.Join(dir, "frontend.token"), []byte("\n"))
		},
			`file "frontend.token" of api token "frontend" must hold one token on one line`},
		{"ca is not a certificate", func(t *testing.T, dir string, _ *pki.CA) { write(t, filepath.Join(dir, "ca.crt"), []byte("hello")) },
			`ca file "ca.crt": pki: no PEM block of type CERTIFICATE`},
		{"ca is a peer certificate", func(t *testing.T, dir string, _ *pki.CA) {
			data, err := os.ReadFile(filepath.Join(dir, "eu-1.crt"))
			if err != nil {
				t.Fatal(err)
			}
			write(t, filepath.Join(dir, "ca.crt"), data)
		}, `ca file "ca.crt" is not a CA certificate`},
		{"key of another peer", func(t *testing.T, dir string, _ *pki.CA) {
			data, err := os.ReadFile(filepath.Join(dir, "us-1.key"))
			if err != nil {
				t.Fatal(err)
			}
			write(t, filepath.Join(dir, "eu-1.key"), data)
		}, `key "eu-1.key" of peer "eu-1" does not go with cert "eu-1.crt" of peer "eu-1": tls: private key does not match public key`},
		{"cert of another CA", func(t *testing.T, dir string, _ *pki.CA) {
			other, err := pki.NewCA("demo")
			if err != nil {
				t.Fatal(err)
			}
			issueTo(t, other, dir, pki.PeerIdentity{Mesh: "demo", Region: "eu", Name: "eu-1"}, "eu-1")
		}, `cert "eu-1.crt" of peer "eu-1" does not verify against the mesh CA: x509: certificate signed by unknown authority ` +
			`(possibly because of "x509: ECDSA verification failure" while trying to verify candidate authority certificate "countermesh demo CA")`},
		{"cert of another peer", func(t *testing.T, dir string, ca *pki.CA) {
			issueTo(t, ca, dir, pki.PeerIdentity{Mesh: "demo", Region: "us", Name: "us-1"}, "eu-1")
		}, `cert "eu-1.crt" of peer "eu-1" is issued for countermesh://demo/us/us-1, want countermesh://demo/eu/eu-1`},
	}
	lineOf := func(file string) int {
		for i, l := range strings.Split(base, "\n") {
			if strings.Contains(l, " "+file) {
				return i + 1
			}
		}
		t.Fatalf("%s not in base", file)
		return 0
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			file, ca := writeMesh(t, dir)
			c.setup(t, dir, ca)
			_, err := Load(file)
			got := problemLines(t, err)
			// The message names the file as written; its line is that file's.
			quoted := c.want[strings.Index(c.want, `"`)+1:]
			quoted = quoted[:strings.Index(quoted, `"`)]
			want := file + ":" + strconv.Itoa(lineOf(quoted)) + ": " + c.want
			if len(got) != 1 || got[0] != want {
				t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), want)
			}
		})
	}
}

func TestLoadReportsParseAndFileProblemsTogether(t *testing.T) {
	dir := t.TempDir()
	file, _ := writeMesh(t, dir)
	write(t, file, []byte(edit(t, "mesh: demo", "mesh: Demo")))
	remove(t, dir, "gossip.key")
	got := problemLines(t, func() error { _, err := Load(file); return err }())
	want := []string{
		file + `:1: bad mesh name "Demo": want 1-63 lowercase letters, digits or hyphens, not starting or ending with a hyphen`,
		file + `:5: cannot read gossip_key file "gossip.key": no such file or directory`,
	}
	// With a mesh name of "Demo", no certificate matches either.
	if len(got) < 2 || !slices.Equal(got[:2], want) {
		t.Errorf("problems:\n%s\nwant first:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestLoadUnreadableFile(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root reads every file")
	}
	dir := t.TempDir()
	file, _ := writeMesh(t, dir)
	if err := os.Chmod(filepath.Join(dir, "eu-1.key"), 0); err != nil {
		t.Fatal(err)
	}
	got := problemLines(t, func() error { _, err := Load(file); return err }())
	want := file + `:17: cannot read key "eu-1.key" of peer "eu-1": permission denied`
	if len(got) != 1 || got[0] != want {
		t.Errorf("problems %q, want %q", got, want)
	}
}

func remove(t *testing.T, dir, name string) {
	t.Helper()
	if err := os.Remove(filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
}
