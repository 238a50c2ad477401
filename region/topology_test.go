package region_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/countermesh/countermesh/region"
	"github.com/countermesh/countermesh/region/regiontest"
	"github.com/countermesh/countermesh/sync/transport"
	"github.com/countermesh/countermesh/sync/transport/faultnet"
	"github.com/countermesh/countermesh/tests/testkit"
	"github.com/countermesh/countermesh/topology/pki"
)

func TestRegionAddedAtRuntimeJoinsAndRemovedIsDropped(t *testing.T) {
	m := regiontest.NewMesh(t, threeRegions[:2], 1)
	writeAt(m, "eu-1", "a", 5)

	m.AddRegion("sa", 1)
	m.WriteTopology() // running peers pick it up by themselves
	m.Start("sa-1")
	writeAt(m, "sa-1", "a", 5)
	took := m.WaitConverged(30 * time.Second)
	t.Logf("the new region converged %s after its first writes", took)
	if got := clapsAt(t, m, "sa-1", "a"); got != 10 {
		t.Errorf("sa-1 claps = %d, want 10", got)
	}

	m.RemoveRegion("sa")
	m.WriteTopology()
	testkit.WaitFor(t, 30*time.Second, "eu-1 and us-1 to drop their links to sa-1", func() bool {
		return !m.Node("eu-1").Peer.Linked("sa-1") && !m.Node("us-1").Peer.Linked("sa-1")
	})
	for _, r := range m.Node("eu-1").Peer.Status().Regions {
		if r.Name == "sa" {
			t.Error("the removed region is still in eu-1's status")
		}
	}
	writeAt(m, "eu-1", "after", 3)
	m.WaitConverged(30*time.Second, "eu-1", "us-1")
	// us-1 has acknowledged every change of eu-1's: eu-1 has shipped the
	// write, as it would have to sa-1 over a link it still served.
	eu := m.Node("eu-1").Peer
	testkit.WaitFor(t, 30*time.Second, "us-1 to acknowledge eu-1's write", func() bool {
		return ackedBy(eu, "us-1") >= eu.LastSeq()
	})
	if got := clapsAt(t, m, "sa-1", "after"); got != 0 {
		t.Errorf("a removed region still receives writes: claps %d", got)
	}
}

func TestInvalidTopologyReloadKeepsTheOldOne(t *testing.T) {
	m := regiontest.NewMesh(t, threeRegions[:2], 1)
	if err := writeFile(m.File, "mesh: test\nregions: [\n"); err != nil {
		t.Fatal(err)
	}
	if err := m.Node("eu-1").Peer.Reload(); err == nil {
		t.Fatal("an invalid topology was accepted")
	}
	writeAt(m, "eu-1", "a", 3)
	m.WaitConverged(30 * time.Second)
}

// impostor dials eu-1's sync address with the given certificate and identity.
func impostor(t *testing.T, m *regiontest.Mesh, ca *pki.CA, id pki.PeerIdentity) error {
	t.Helper()
	certPEM, keyPEM, err := ca.Issue(id)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	pc, err := m.Net.ListenPacket(net.JoinHostPort(id.Hosts[0], "7000"))
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	// The impostor trusts the mesh's CA and its own, so the refusal must come
	// from eu-1.
	pool := x509.NewCertPool()
	pool.AddCert(m.CA.Certificate())
	pool.AddCert(ca.Certificate())
	tr, err := transport.Listen(pc, transport.Config{Identity: id, Certificate: cert, CA: pool, HandshakeTimeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	addr, _ := faultnet.ParseAddr(m.Host("eu-1") + ":7000")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	l, err := tr.Dial(ctx, addr, "eu-1")
	if err == nil {
		l.Close("test")
	}
	return err
}

func TestPeersOutsideTheTopologyCannotExchange(t *testing.T) {
	m := regiontest.NewMesh(t, threeRegions[:1], 1)
	other, err := pki.NewCA("test")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		ca   *pki.CA
		id   pki.PeerIdentity
	}{
		{"certificate from another CA", other, pki.PeerIdentity{Mesh: "test", Region: "eu", Name: "eu-2", Hosts: []string{"127.9.0.1"}}},
		{"region not in the topology", m.CA, pki.PeerIdentity{Mesh: "test", Region: "mars", Name: "mars-1", Hosts: []string{"127.9.0.2"}}},
		{"known name, wrong region", m.CA, pki.PeerIdentity{Mesh: "test", Region: "mars", Name: "eu-1", Hosts: []string{"127.9.0.3"}}},
		{"peer not in the topology", m.CA, pki.PeerIdentity{Mesh: "test", Region: "eu", Name: "eu-9", Hosts: []string{"127.9.0.4"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := impostor(t, m, c.ca, c.id)
			if err == nil {
				t.Fatal("the link came up")
			}
			if !errors.Is(err, transport.ErrRefused) {
				t.Logf("refused with %v", err)
			}
		})
	}
	if st := m.Node("eu-1").Peer.Status(); st.LastSeq != 0 {
		t.Errorf("eu-1 changed: %+v", st)
	}
}

// ackedBy returns the highest sequence of p's own changes that the named peer
// has acknowledged, as p's status gives it.
func ackedBy(p *region.Peer, name string) uint64 {
	for _, r := range p.Status().Regions {
		for _, q := range r.Peers {
			if q.Name == name {
				return q.Acked
			}
		}
	}
	return 0
}

// TestTopologyWrittenBetweenLoadAndWatchIsPutInForce: a topology file changed
// after a peer read it but before its watch began (the peer started as an
// operator added a region) is put in force all the same; the peer once kept
// the topology it had read until the file changed again, refusing the new
// region's peers.
func TestTopologyWrittenBetweenLoadAndWatchIsPutInForce(t *testing.T) {
	m := regiontest.NewMesh(t, threeRegions[:2], 1)
	m.Stop("eu-1")
	m.Launch = func(cfg region.Config) (*region.Peer, io.Closer, error) {
		p, err := region.New(cfg) // reads the topology of eu and us
		if err != nil {
			return nil, nil, err
		}
		m.AddRegion("sa", 1)
		m.WriteTopology()
		go p.Run(context.Background()) // starts the watch
		return p, p, nil
	}
	eu := m.Start("eu-1").Peer
	testkit.WaitFor(t, 10*time.Second, "eu-1 to put in force the topology with sa", func() bool {
		return slices.ContainsFunc(eu.Status().Regions, func(r region.RegionStatus) bool { return r.Name == "sa" })
	})
}

// TestTopologyRewrittenToTheSameSizeAndTimeIsPutInForce: a rewrite of the
// topology file that keeps its size and its modification time (two writes
// within one tick of the file system's clock) is still seen and put in force.
func TestTopologyRewrittenToTheSameSizeAndTimeIsPutInForce(t *testing.T) {
	m := regiontest.NewMesh(t, threeRegions[:2], 1)
	before, err := os.Stat(m.File)
	if err != nil {
		t.Fatal(err)
	}
	old, err := os.ReadFile(m.File)
	if err != nil {
		t.Fatal(err)
	}
	// us-1's API port 8080 becomes 8081: a change of the same length.
	usHost := m.Host("us-1")
	next := strings.Replace(string(old), usHost+":8080", usHost+":8081", 1)
	if next == string(old) || len(next) != len(old) {
		t.Fatal("the test's rewrite did not change the file in place")
	}
	if err := writeFile(m.File, next); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(m.File, before.ModTime(), before.ModTime()); err != nil {
		t.Fatal(err)
	}
	eu := m.Node("eu-1").Peer
	testkit.WaitFor(t, 10*time.Second, "eu-1 to put in force us-1's new API address", func() bool {
		for _, r := range eu.Status().Regions {
			for _, p := range r.Peers {
				if p.Name == "us-1" {
					return p.API == usHost+":8081"
				}
			}
		}
		return false
	})
}
