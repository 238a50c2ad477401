package transport

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"testing"

	"github.com/quic-go/quic-go"

	"github.com/countermesh/countermesh/sync/transport/edgelog/edgelogtest"
	"github.com/countermesh/countermesh/tests/testkit"
	"github.com/countermesh/countermesh/topology/pki"
)

// udpConnAt returns a UDP socket on host (a loopback address other than
// 127.0.0.1 is another source), closed when the test ends.
func udpConnAt(t *testing.T, host string) net.PacketConn {
	t.Helper()
	c, err := net.ListenPacket("udp", host+":0")
	if err != nil {
		t.Skipf("cannot bind %s: %v", host, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// dialWithoutCertificate opens a QUIC connection to server from conn as a
// stranger would: speaking our protocol, trusting anything, presenting no
// certificate. It returns once the server has closed the connection.
func dialWithoutCertificate(t *testing.T, conn net.PacketConn, server *Transport) {
	t.Helper()
	qt := &quic.Transport{Conn: conn}
	defer qt.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*testHandshake)
	defer cancel()
	c, err := qt.Dial(ctx, server.Addr(), &tls.Config{InsecureSkipVerify: true, NextProtos: []string{ALPN}}, nil)
	if err != nil {
		return // refused during the handshake
	}
	// TLS 1.3: the client is done before the server has read its (empty)
	// certificate message; the refusal closes the connection after.
	select {
	case <-c.Context().Done():
	case <-ctx.Done():
		t.Fatal("the server kept a connection without a client certificate")
	}
}

// waitRefusals waits until tr has refused want handshakes for reason.
func waitRefusals(t *testing.T, tr *Transport, reason string, want uint64) {
	t.Helper()
	testkit.WaitFor(t, 2*testHandshake, fmt.Sprintf("%d refusals for %q", want, reason), func() bool {
		return tr.Refusals()[reason] >= want
	})
}

func TestRefusedHandshakesLoggedOncePerSource(t *testing.T) {
	testkit.NoLeaks(t)
	ca, rogue := newCA(t, testMesh), newCA(t, testMesh)
	logs := edgelogtest.NewRecorder(slog.LevelInfo)
	cfg := peerConfig(t, ca, "eu", "b")
	cfg.Logger = slog.New(logs)
	server := start(t, udpConn(t), cfg)

	// A client from 127.0.0.2 holds a real peer's name, signed by another CA;
	// one from 127.0.0.3 presents no certificate at all. Each tries 3 times.
	foreign := peerConfig(t, rogue, "eu", "a")
	foreign.CA = pool(ca, rogue)
	client := start(t, udpConnAt(t, "127.0.0.2"), foreign)
	stranger := udpConnAt(t, "127.0.0.3")
	const tries = 3
	for range tries {
		refused(t, client, server, "b")
		dialWithoutCertificate(t, stranger, server)
	}
	waitRefusals(t, server, RefusedCertificate, tries)
	waitRefusals(t, server, RefusedNoCertificate, tries)

	lines := logs.Lines("refused a handshake")
	if len(lines) != 2 {
		t.Fatalf("%d log lines for 2 sources refused %d times each, want 2:\n%v", len(lines), tries, lines)
	}
	for _, want := range [][]string{
		{"WARN", "remote=127.0.0.2:", "reason=" + RefusedCertificate, "certificate signed by unknown authority"},
		{"WARN", "remote=127.0.0.3:", "reason=" + RefusedNoCertificate, "didn't provide a certificate"},
	} {
		if got := logs.Lines(append([]string{"refused a handshake"}, want...)...); len(got) != 1 {
			t.Errorf("lines with %q: %d, want 1:\n%v", want, len(got), lines)
		}
	}
	if r := server.Refusals(); r[RefusedPeer] != 0 || r[RefusedProtocol] != 0 || r[RefusedOther] != 0 {
		t.Errorf("refusals = %v, want only certificate and no_certificate", r)
	}
	// A real peer still links, and its link is no refusal.
	ok := start(t, udpConn(t), peerConfig(t, ca, "eu", "c"))
	connect(t, ok, server, "b")
	if n := len(logs.Lines("refused")); n != 2 {
		t.Errorf("%d lines about refusals after a good link, want 2", n)
	}
}

func TestRefusedHandshakeReasons(t *testing.T) {
	ca := newCA(t, testMesh)
	logs := edgelogtest.NewRecorder(slog.LevelWarn)
	cfg := peerConfig(t, ca, "eu", "b")
	cfg.Logger = slog.New(logs)
	cfg.Authorize = func(id pki.PeerIdentity) error {
		if id.Region != "eu" {
			return fmt.Errorf("region %q not in the topology", id.Region)
		}
		return nil
	}
	server := start(t, udpConn(t), cfg)

	// A peer of an unknown region, from 127.0.0.4; a peer of another
	// protocol version, from 127.0.0.5.
	mars := start(t, udpConnAt(t, "127.0.0.4"), peerConfig(t, ca, "mars", "a"))
	refused(t, mars, server, "b")
	v2, err := listen(udpConnAt(t, "127.0.0.5"), peerConfig(t, ca, "eu", "c"), "countermesh/2")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v2.Close() })
	refused(t, v2, server, "b")
	waitRefusals(t, server, RefusedPeer, 1)
	waitRefusals(t, server, RefusedProtocol, 1)

	for _, want := range [][]string{
		{"remote=127.0.0.4:", "reason=" + RefusedPeer, `region "mars" not in the topology`},
		{"remote=127.0.0.5:", "reason=" + RefusedProtocol, "we speak " + ALPN},
	} {
		if got := logs.Lines(append([]string{"refused a handshake"}, want...)...); len(got) != 1 {
			t.Errorf("lines with %q: %d, want 1:\n%v", want, len(got), logs.Lines())
		}
	}
}
