package main

import (
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/countermesh/countermesh/topology/pki"
)

// TestCertsIssueForANewPeer: a peer added to the topology after certs init
// gets its certificate from the mesh's CA, with the CA key kept apart; the
// other peers' files do not change, and the topology checks.
func TestCertsIssueForANewPeer(t *testing.T) {
	file, out := initCerts(t)
	caKey := filepath.Join(filepath.Dir(out), "ca-key", "ca.key")
	euCert := readFile(t, filepath.Join(out, "eu-1.crt"))
	src := string(readFile(t, file)) + "  - name: sa\n    peers:\n      - name: sa-1\n        gossip: 127.0.0.3:7101\n" +
		"        sync: 127.0.0.3:7201\n        api: sa-1.example.com:7301\n        cert: certs/sa-1.crt\n        key: certs/sa-1.key\n"
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runCmd(t, "certs", "issue", "--topology", file, "--ca-key", caKey, "--peer", "sa-1", "--out", out)
	if code != 0 {
		t.Fatalf("certs issue: exit %d\n%s%s", code, stdout, stderr)
	}
	for _, want := range []string{
		"wrote " + filepath.Join(out, "sa-1.crt") + " (certificate of peer sa-1)\n",
		"wrote " + filepath.Join(out, "sa-1.key") + " (key of peer sa-1)\n",
		"copy them to the host of sa-1 only",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	if info, err := os.Stat(filepath.Join(out, "sa-1.key")); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("sa-1.key: %v, %v; want mode 0600", info, err)
	}
	ca, err := pki.LoadCA(readFile(t, filepath.Join(out, "ca.crt")), readFile(t, caKey))
	if err != nil {
		t.Fatal(err)
	}
	cert, err := pki.ParseCertificatePEM(readFile(t, filepath.Join(out, "sa-1.crt")))
	if err != nil {
		t.Fatal(err)
	}
	if id, err := pki.VerifyPeer(cert, ca.Pool(), x509.ExtKeyUsageClientAuth); err != nil || id.String() != "countermesh://test/sa/sa-1" {
		t.Errorf("sa-1 certificate: %v, %v", id, err)
	}
	if !slices.Contains(cert.DNSNames, "sa-1.example.com") || len(cert.IPAddresses) != 1 || !cert.IPAddresses[0].Equal(net.IPv4(127, 0, 0, 3)) {
		t.Errorf("sa-1 certificate names %v and %v, want its addresses' hosts", cert.DNSNames, cert.IPAddresses)
	}
	if string(euCert) != string(readFile(t, filepath.Join(out, "eu-1.crt"))) {
		t.Error("eu-1's certificate changed")
	}
	if code, stdout, stderr := runCmd(t, "topology", "check", file); code != 0 {
		t.Errorf("check after issue: exit %d\n%s%s", code, stdout, stderr)
	}
	// Issuing again would replace a key in use: only with --force.
	code, _, stderr = runCmd(t, "certs", "issue", "--topology", file, "--ca-key", caKey, "--peer", "sa-1", "--out", out)
	if code != 1 || !strings.Contains(stderr, "certs issue: 2 files exist already; wrote nothing") {
		t.Errorf("second issue: exit %d, stderr %q", code, stderr)
	}
}

func TestCertsIssueErrors(t *testing.T) {
	file, out := initCerts(t)
	caKey := filepath.Join(filepath.Dir(out), "ca-key", "ca.key")
	other, err := pki.NewCA("test")
	if err != nil {
		t.Fatal(err)
	}
	otherKey := filepath.Join(t.TempDir(), "other.key")
	if err := os.WriteFile(otherKey, other.KeyPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"--topology", file, "--peer", "eu-1", "--out", out}, 2, "--topology, --ca-key, --peer and --out are required"},
		{[]string{"--topology", file, "--ca-key", caKey, "--peer", "sa-1", "--out", out}, 1, `peer "sa-1" is not in ` + file + ": add it to the topology first"},
		{[]string{"--topology", file, "--ca-key", otherKey, "--peer", "eu-1", "--out", out}, 1, "certs issue: CA of " + filepath.Join(out, "ca.crt") + " and " + otherKey},
		{[]string{"--topology", file, "--ca-key", filepath.Join(out, "none.key"), "--peer", "eu-1", "--out", out}, 1, "CA key: open " + filepath.Join(out, "none.key") + ": no such file or directory"},
	}
	for _, c := range cases {
		code, stdout, stderr := runCmd(t, append([]string{"certs", "issue"}, c.args...)...)
		if code != c.code || !strings.Contains(stdout+stderr, c.out) {
			t.Errorf("certs issue %v: exit %d, output %q; want exit %d and %q", c.args, code, stdout+stderr, c.code, c.out)
		}
	}
}
