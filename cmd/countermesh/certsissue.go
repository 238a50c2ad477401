package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/countermesh/countermesh/topology"
	"github.com/countermesh/countermesh/topology/pki"
)

// certsIssue runs "countermesh certs issue": one peer's certificate and key,
// from the mesh's existing CA.
func certsIssue(c certsConfig, stdout, stderr io.Writer) error {
	data, err := os.ReadFile(c.topology)
	if err != nil {
		return fmt.Errorf("certs issue: %w", err)
	}
	t, err := topology.Parse(c.topology, data)
	if err != nil {
		return reportInvalid(c.topology, err, stderr)
	}
	p, ok := t.Peer(c.peer)
	if !ok {
		return fmt.Errorf("certs issue: peer %q is not in %s: add it to the topology first", c.peer, c.topology)
	}
	ca, err := loadCA(t, c.caKey)
	if err != nil {
		return fmt.Errorf("certs issue: %w", err)
	}
	out, err := filepath.Abs(c.out)
	if err != nil {
		return fmt.Errorf("certs issue: %w", err)
	}
	pair := &issued{id: pki.PeerIdentity{Mesh: t.Mesh, Region: p.Region, Name: p.Name, Hosts: peerHosts(p)}}
	plan := []*output{
		place(out, p.Cert, p.Name+".crt", "certificate of peer "+p.Name, 0o644, pair.cert),
		place(out, p.Key, p.Name+".key", "key of peer "+p.Name, 0o600, pair.key),
	}
	if err := checkPlan("certs issue", plan, c, stderr); err != nil {
		return err
	}
	for _, o := range plan {
		if o.data, err = o.content(ca); err != nil {
			return fmt.Errorf("certs issue: %w", err)
		}
	}
	if err := writePlan(plan, c, out, stdout); err != nil {
		return fmt.Errorf("certs issue: %w", err)
	}
	fmt.Fprintf(stdout, "copy them to the host of %s only, with the topology, the CA certificate, the gossip keys, "+
		"the token secrets and the API token files\n", p.Name)
	return nil
}

// loadCA reads the mesh's CA: the certificate t names and the key in keyFile.
// The CA must be the mesh's.
func loadCA(t *topology.Topology, keyFile string) (*pki.CA, error) {
	certPEM, err := os.ReadFile(t.Security.CA)
	if err != nil {
		return nil, fmt.Errorf("CA certificate: %w", err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("CA key: %w", err)
	}
	ca, err := pki.LoadCA(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("CA of %s and %s: %w", t.Security.CA, keyFile, err)
	}
	if ca.Mesh() != t.Mesh {
		return nil, fmt.Errorf("the CA %s is of mesh %q, the topology's is %q", t.Security.CA, ca.Mesh(), t.Mesh)
	}
	return ca, nil
}
