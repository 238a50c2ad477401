package transport

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	"github.com/countermesh/countermesh/sync/transport/faultnet"
	"github.com/countermesh/countermesh/tests/testkit"
	"github.com/countermesh/countermesh/topology/pki"
)

// TestMain fails the package's run if its tests leave goroutines behind.
func TestMain(m *testing.M) {
	// quic-go warns, through the log package, once per process, that it cannot
	// size the buffers of a socket that is not a *net.UDPConn (faultnet's) or
	// of an unprivileged UDP socket. Nothing to fix in a test.
	os.Setenv("QUIC_GO_DISABLE_RECEIVE_BUFFER_WARNING", "true")
	testkit.VerifyNoLeaks(m)
}

const testMesh = "test"

// Timeouts short enough for tests, long enough for -race on a loaded machine.
const (
	testHandshake = 5 * time.Second
	testIdle      = 3 * time.Second
	testKeepAlive = 300 * time.Millisecond
)

func newCA(t testing.TB, mesh string) *pki.CA {
	t.Helper()
	ca, err := pki.NewCA(mesh)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// pool returns a pool of the CAs' certificates.
func pool(cas ...*pki.CA) *x509.CertPool {
	p := x509.NewCertPool()
	for _, ca := range cas {
		p.AddCert(ca.Certificate())
	}
	return p
}

// peerConfig returns the configuration of peer region/name with a certificate
// from ca (extra hosts in its certificate), trusting ca, with test timeouts.
func peerConfig(t testing.TB, ca *pki.CA, region, name string, hosts ...string) Config {
	t.Helper()
	id := pki.PeerIdentity{Mesh: testMesh, Region: region, Name: name, Hosts: hosts}
	certPEM, keyPEM, err := ca.Issue(id)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	id.Hosts = nil
	return Config{
		Identity:         id,
		Certificate:      cert,
		CA:               ca.Pool(),
		HandshakeTimeout: testHandshake,
		IdleTimeout:      testIdle,
		KeepAlive:        testKeepAlive,
		Logger:           slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
}

func tlsKeyPair(certPEM, keyPEM []byte) (tls.Certificate, error) {
	return tls.X509KeyPair(certPEM, keyPEM)
}

// udpConn returns a UDP socket on 127.0.0.1, closed when the test ends (after
// the Transports started later, cleanups running last-in first-out).
func udpConn(t testing.TB) net.PacketConn {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// fnConn returns a faultnet socket of host, closed when the test ends.
func fnConn(t testing.TB, n *faultnet.Network, host string) net.PacketConn {
	t.Helper()
	c, err := n.ListenPacket(host + ":4433")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// start starts a Transport, closed when the test ends.
func start(t testing.TB, conn net.PacketConn, cfg Config) *Transport {
	t.Helper()
	tr, err := Listen(conn, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

// acceptOne accepts one link on tr in the background; the result comes on the
// returned channel (nil if none came within wait).
func acceptOne(tr *Transport, wait time.Duration) <-chan *Link {
	out := make(chan *Link, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		l, _ := tr.Accept(ctx)
		out <- l
	}()
	return out
}

// connect dials server from client, expecting peer, and returns both ends.
func connect(t testing.TB, client, server *Transport, peer string) (dialled, accepted *Link) {
	t.Helper()
	got := acceptOne(server, 2*testHandshake)
	ctx, cancel := context.WithTimeout(context.Background(), 2*testHandshake)
	defer cancel()
	dialled, err := client.Dial(ctx, server.Addr(), peer)
	if err != nil {
		t.Fatalf("dial %s: %v", peer, err)
	}
	accepted = <-got
	if accepted == nil {
		t.Fatal("server accepted no link")
	}
	return dialled, accepted
}

// refused checks that dialling server from client fails with ErrRefused and
// that the server accepts nothing; it returns the dial error.
func refused(t *testing.T, client, server *Transport, peer string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*testHandshake)
	defer cancel()
	l, err := client.Dial(ctx, server.Addr(), peer)
	if err == nil {
		// Never a working link: prove it is not one, then fail.
		s, serr := l.OpenStream(ctx)
		if serr == nil {
			serr = s.WriteFrame([]byte("x"))
		}
		t.Fatalf("dial returned a link (stream use: %v)", serr)
	}
	if !errors.Is(err, ErrRefused) {
		t.Errorf("dial error = %v, want ErrRefused", err)
	}
	// Links the server would accept wait in its queue: a short wait is enough.
	if l := <-acceptOne(server, 300*time.Millisecond); l != nil {
		t.Errorf("server accepted a link from %s", l.Peer())
	}
	return err
}
