package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/countermesh/countermesh/sync/transport/faultnet"
	"github.com/countermesh/countermesh/tests/testkit"
	"github.com/countermesh/countermesh/topology/pki"
)

// exchange runs streams from each side of a link, each sending frames that
// the other side echoes back, and checks every echo.
func exchange(t *testing.T, a, b *Link, streams, frames, size int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	echo := func(l *Link, n int) {
		for range n {
			s, err := l.AcceptStream(ctx)
			if err != nil {
				t.Errorf("accept stream: %v", err)
				return
			}
			wg.Go(func() {
				for {
					p, err := s.ReadFrame()
					if err == io.EOF {
						s.Close()
						return
					}
					if err != nil {
						t.Errorf("echo read: %v", err)
						return
					}
					if err := s.WriteFrame(p); err != nil {
						t.Errorf("echo write: %v", err)
						return
					}
				}
			})
		}
	}
	send := func(l *Link, id int) {
		s, err := l.OpenStream(ctx)
		if err != nil {
			t.Errorf("open stream: %v", err)
			return
		}
		for i := range frames {
			pattern := fmt.Appendf(nil, "%d/%d ", id, i)
			p := bytes.Repeat(pattern, size/len(pattern)+1)[:size]
			if i == 0 {
				p = nil // an empty frame is a frame
			}
			if err := s.WriteFrame(p); err != nil {
				t.Errorf("write: %v", err)
				return
			}
			got, err := s.ReadFrame()
			if err != nil || !bytes.Equal(got, p) || got == nil {
				t.Errorf("stream %d frame %d: echo %d bytes, %v; want %d bytes", id, i, len(got), err, len(p))
				return
			}
		}
		s.Close()
		if _, err := s.ReadFrame(); err != io.EOF {
			t.Errorf("after close: %v, want io.EOF", err)
		}
	}
	wg.Go(func() { echo(b, streams) })
	wg.Go(func() { echo(a, streams) })
	for i := range streams {
		wg.Go(func() { send(a, i) })
		wg.Go(func() { send(b, 100+i) })
	}
	wg.Wait()
}

func TestLinkExchangesFrames(t *testing.T) {
	for _, network := range []string{"udp", "faultnet"} {
		t.Run(network, func(t *testing.T) {
			testkit.NoLeaks(t)
			ca := newCA(t, testMesh)
			var ca1, cb net.PacketConn
			if network == "udp" {
				ca1, cb = udpConn(t), udpConn(t)
			} else {
				n := faultnet.New(1)
				t.Cleanup(func() { n.Close() })
				ca1, cb = fnConn(t, n, "a"), fnConn(t, n, "b")
			}
			a := start(t, ca1, peerConfig(t, ca, "eu", "a"))
			b := start(t, cb, peerConfig(t, ca, "us", "b"))
			ab, ba := connect(t, a, b, "b")
			if p := ab.Peer(); p.Name != "b" || p.Region != "us" || p.Mesh != testMesh {
				t.Errorf("dialled link's peer = %v", p)
			}
			if p := ba.Peer(); p.Name != "a" || p.Region != "eu" {
				t.Errorf("accepted link's peer = %v", p)
			}
			const streams, frames, size = 3, 20, 3000
			exchange(t, ab, ba, streams, frames, size)
			// Each side sent its own frames and echoed the other's.
			want := uint64(2 * streams * (frames - 1) * size)
			for _, l := range []*Link{ab, ba} {
				if l.BytesSent() != want || l.BytesReceived() != want {
					t.Errorf("link to %s: sent %d, received %d; want %d each", l.Peer().Name, l.BytesSent(), l.BytesReceived(), want)
				}
			}
			select {
			case <-ab.Done():
				t.Errorf("link gone: %v", ab.Err())
			default:
			}
			if ab.Err() != nil {
				t.Errorf("Err of a live link = %v", ab.Err())
			}
		})
	}
}

func TestClientFromAnotherCARefused(t *testing.T) {
	ca, rogue := newCA(t, testMesh), newCA(t, testMesh)
	server := start(t, udpConn(t), peerConfig(t, ca, "eu", "b"))
	// The rogue trusts the real CA (it reaches the server) and holds a
	// certificate for a real peer name, signed by its own CA.
	cfg := peerConfig(t, rogue, "eu", "a")
	cfg.CA = pool(ca, rogue)
	client := start(t, udpConn(t), cfg)
	err := refused(t, client, server, "b")
	t.Logf("dial error: %v", err)
}

func TestServerFromAnotherCARefused(t *testing.T) {
	ca, rogue := newCA(t, testMesh), newCA(t, testMesh)
	cfg := peerConfig(t, rogue, "eu", "b")
	cfg.CA = pool(ca, rogue)
	server := start(t, udpConn(t), cfg)
	client := start(t, udpConn(t), peerConfig(t, ca, "eu", "a"))
	err := refused(t, client, server, "b")
	if !strings.Contains(err.Error(), "certificate") {
		t.Errorf("dial error %q does not say what is wrong", err)
	}
}

func TestAuthorizeRefuses(t *testing.T) {
	ca := newCA(t, testMesh)
	regions := map[string]bool{"eu": true, "us": true}
	topology := func(id pki.PeerIdentity) error {
		if !regions[id.Region] {
			return fmt.Errorf("region %q not in the topology", id.Region)
		}
		return nil
	}
	t.Run("server refuses the client", func(t *testing.T) {
		cfg := peerConfig(t, ca, "eu", "b")
		cfg.Authorize = topology
		server := start(t, udpConn(t), cfg)
		client := start(t, udpConn(t), peerConfig(t, ca, "mars", "a"))
		t.Logf("dial error: %v", refused(t, client, server, "b"))
		// A peer of a known region still gets in.
		ok := start(t, udpConn(t), peerConfig(t, ca, "us", "c"))
		connect(t, ok, server, "b")
	})
	t.Run("client refuses the server", func(t *testing.T) {
		server := start(t, udpConn(t), peerConfig(t, ca, "mars", "b"))
		cfg := peerConfig(t, ca, "eu", "a")
		cfg.Authorize = topology
		client := start(t, udpConn(t), cfg)
		err := refused(t, client, server, "b")
		if !strings.Contains(err.Error(), `region "mars" not in the topology`) {
			t.Errorf("dial error %q does not give Authorize's reason", err)
		}
	})
	t.Run("another mesh", func(t *testing.T) {
		other := newCA(t, "other")
		server := start(t, udpConn(t), peerConfig(t, ca, "eu", "b"))
		id := pki.PeerIdentity{Mesh: "other", Region: "eu", Name: "a"}
		certPEM, keyPEM, err := other.Issue(id)
		if err != nil {
			t.Fatal(err)
		}
		cfg := peerConfig(t, ca, "eu", "a")
		cfg.Identity = id
		if cfg.Certificate, err = tlsKeyPair(certPEM, keyPEM); err != nil {
			t.Fatal(err)
		}
		cfg.CA = pool(ca, other)
		client := start(t, udpConn(t), cfg)
		refused(t, client, server, "b")
	})
}

func TestWrongPeerNameRefused(t *testing.T) {
	ca := newCA(t, testMesh)
	// b's certificate is also valid for the DNS name "c": only the URI check
	// tells that it is not peer c.
	server := start(t, udpConn(t), peerConfig(t, ca, "eu", "b", "c"))
	client := start(t, udpConn(t), peerConfig(t, ca, "eu", "a"))
	for _, want := range []string{"c", "d"} {
		err := refused(t, client, server, want)
		t.Logf("dial %s: %v", want, err)
	}
	if _, err := client.Dial(context.Background(), server.Addr(), "Not A Name"); err == nil {
		t.Error("dial with an invalid peer name succeeded")
	}
}

func TestOtherProtocolVersionRefused(t *testing.T) {
	ca := newCA(t, testMesh)
	startALPN := func(name, alpn string) *Transport {
		tr, err := listen(udpConn(t), peerConfig(t, ca, "eu", name), alpn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { tr.Close() })
		return tr
	}
	v1, v2 := startALPN("a", ALPN), startALPN("b", "countermesh/2")
	for _, c := range []struct{ client, server *Transport }{{v1, v2}, {v2, v1}} {
		err := refused(t, c.client, c.server, c.server.cfg.Identity.Name)
		if !strings.Contains(err.Error(), "ALPN") || !strings.Contains(err.Error(), c.client.alpn) {
			t.Errorf("%s dialling %s: %q does not say the protocol differs", c.client.alpn, c.server.alpn, err)
		}
	}
}

func TestLossyLinkDelivers(t *testing.T) {
	n := faultnet.New(11)
	t.Cleanup(func() { n.Close() })
	ca := newCA(t, testMesh)
	ca1 := peerConfig(t, ca, "eu", "a")
	cb := peerConfig(t, ca, "us", "b")
	for _, c := range []*Config{&ca1, &cb} {
		c.HandshakeTimeout, c.IdleTimeout = 8*time.Second, 10*time.Second
	}
	a := start(t, fnConn(t, n, "a"), ca1)
	b := start(t, fnConn(t, n, "b"), cb)
	f := faultnet.Faults{Loss: 0.3, Delay: 20 * time.Millisecond, Jitter: 5 * time.Millisecond}
	n.SetFaults("a", "b", f)
	n.SetFaults("b", "a", f)
	started := time.Now()
	ab, ba := connect(t, a, b, "b")
	t.Logf("link up in %v over 30%% loss", time.Since(started))
	// Little data: 30% loss keeps the congestion window at its minimum.
	exchange(t, ab, ba, 2, 8, 3000)
	st := n.Stats()
	t.Logf("%v; network: %+v", time.Since(started), st)
	if st.PacketsDropped == 0 {
		t.Error("no packet lost: the test tested nothing")
	}
}

func TestPartitionedLinkGoesDown(t *testing.T) {
	testkit.NoLeaks(t)
	n := faultnet.New(2)
	t.Cleanup(func() { n.Close() })
	ca := newCA(t, testMesh)
	const idle = time.Second
	cfgA, cfgB := peerConfig(t, ca, "eu", "a"), peerConfig(t, ca, "us", "b")
	cfgA.IdleTimeout, cfgB.IdleTimeout = idle, idle
	cfgA.KeepAlive, cfgB.KeepAlive = 200*time.Millisecond, 200*time.Millisecond
	a := start(t, fnConn(t, n, "a"), cfgA)
	b := start(t, fnConn(t, n, "b"), cfgB)
	n.SetFaults("a", "b", faultnet.Faults{Delay: 20 * time.Millisecond})
	n.SetFaults("b", "a", faultnet.Faults{Delay: 20 * time.Millisecond})
	ab, ba := connect(t, a, b, "b")
	// Idle links stay up: keep-alives.
	select {
	case <-ab.Done():
		t.Fatalf("idle link went down: %v", ab.Err())
	case <-time.After(2 * idle):
	}
	n.Partition([]string{"a"}, []string{"b"})
	cut := time.Now()
	for _, l := range []*Link{ab, ba} {
		select {
		case <-l.Done():
		case <-time.After(idle + 2*time.Second):
			t.Fatalf("link to %s still up %v after the partition", l.Peer().Name, time.Since(cut))
		}
		if took := time.Since(cut); took > idle+time.Second {
			t.Errorf("link to %s went down %v after the partition, idle timeout %v", l.Peer().Name, took, idle)
		}
		if err := l.Err(); !errors.Is(err, ErrTimeout) {
			t.Errorf("link to %s: Err = %v, want ErrTimeout", l.Peer().Name, err)
		}
	}
	// After healing, a new link comes up.
	n.Heal()
	connect(t, a, b, "b")
}

// TestRestartedPeerResetsLink: a peer that crashed and restarted (same
// certificate, same address) resets the links of its previous life at once,
// through QUIC stateless resets, rather than leaving them to the idle timeout.
func TestRestartedPeerResetsLink(t *testing.T) {
	n := faultnet.New(4)
	t.Cleanup(func() { n.Close() })
	ca := newCA(t, testMesh)
	cfgA, cfgB := peerConfig(t, ca, "eu", "a"), peerConfig(t, ca, "us", "b")
	cfgA.IdleTimeout = 10 * time.Second
	a := start(t, fnConn(t, n, "a"), cfgA)
	connB := fnConn(t, n, "b")
	b, err := Listen(connB, cfgB)
	if err != nil {
		t.Fatal(err)
	}
	ab, _ := connect(t, a, b, "b")
	// The crash: b vanishes without a word to a.
	n.Isolate("b")
	b.Close()
	connB.Close()
	n.Heal()
	restarted := time.Now()
	start(t, fnConn(t, n, "b"), cfgB)
	// Keep-alives are too small to be answered with a reset (quic-go resets
	// packets of over 42 bytes only); the next batch of data is not.
	s, err := ab.OpenStream(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	s.WriteFrame(make([]byte, 100))
	select {
	case <-ab.Done():
	case <-time.After(cfgA.IdleTimeout / 2):
		t.Fatal("the link to the restarted peer is still up")
	}
	if err := ab.Err(); !errors.Is(err, ErrLinkClosed) || !strings.Contains(err.Error(), "reset") {
		t.Errorf("Err = %v, want ErrLinkClosed, reset", err)
	}
	t.Logf("link reset %v after the restart", time.Since(restarted))
}

func TestLinkCloseReason(t *testing.T) {
	ca := newCA(t, testMesh)
	a := start(t, udpConn(t), peerConfig(t, ca, "eu", "a"))
	b := start(t, udpConn(t), peerConfig(t, ca, "us", "b"))
	ab, ba := connect(t, a, b, "b")
	ctx := context.Background()
	s, err := ba.OpenStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s.WriteFrame([]byte("hi"))
	in, err := ab.AcceptStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := ab.Close("region drained for maintenance"); err != nil {
		t.Fatal(err)
	}
	<-ab.Done()
	select {
	case <-ba.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the peer did not see the close")
	}
	if err := ba.Err(); !errors.Is(err, ErrLinkClosed) || !strings.Contains(err.Error(), "region drained for maintenance") || !strings.Contains(err.Error(), "by a") {
		t.Errorf("peer's Err = %v, want ErrLinkClosed by a with the reason", err)
	}
	if err := ab.Err(); !errors.Is(err, ErrLinkClosed) || !strings.Contains(err.Error(), "by us") {
		t.Errorf("own Err = %v, want ErrLinkClosed by us", err)
	}
	if err := ab.Close("again"); err != nil {
		t.Errorf("second Close: %v", err)
	}
	// Streams fail with the link's error.
	if _, err := in.ReadFrame(); err == nil {
		// "hi" may have arrived; the next read fails.
		_, err = in.ReadFrame()
		if !errors.Is(err, ErrLinkClosed) {
			t.Errorf("read on a closed link: %v", err)
		}
	}
	if err := s.WriteFrame([]byte("x")); !errors.Is(err, ErrLinkClosed) {
		t.Errorf("write on a link closed by the peer: %v", err)
	}
	if _, err := ba.OpenStream(ctx); !errors.Is(err, ErrLinkClosed) {
		t.Errorf("open stream on a closed link: %v", err)
	}
}

func TestFrameTooLarge(t *testing.T) {
	ca := newCA(t, testMesh)
	cfgA, cfgB := peerConfig(t, ca, "eu", "a"), peerConfig(t, ca, "us", "b")
	cfgB.MaxFrameSize = 1000
	a := start(t, udpConn(t), cfgA)
	b := start(t, udpConn(t), cfgB)
	ab, ba := connect(t, a, b, "b")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// The sender's own limit: nothing is written.
	out, err := ba.OpenStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := out.WriteFrame(make([]byte, 1001)); !errors.Is(err, ErrFrameTooLarge) {
		t.Errorf("WriteFrame over the limit: %v", err)
	}
	out.Close()
	if empty, err := ab.AcceptStream(ctx); err != nil {
		t.Fatal(err)
	} else if _, err := empty.ReadFrame(); err != io.EOF {
		t.Errorf("stream with nothing written: %v, want io.EOF", err)
	}

	// The receiver's limit.
	s, err := ab.OpenStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s.WriteFrame(make([]byte, 1000))
	s.WriteFrame(make([]byte, 1001))
	in, err := ba.AcceptStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if p, err := in.ReadFrame(); err != nil || len(p) != 1000 {
		t.Fatalf("frame at the limit: %d bytes, %v", len(p), err)
	}
	if _, err := in.ReadFrame(); !errors.Is(err, ErrFrameTooLarge) {
		t.Errorf("frame over the limit: %v, want ErrFrameTooLarge", err)
	}
	if _, err := in.ReadFrame(); !errors.Is(err, ErrFrameTooLarge) {
		t.Errorf("next read: %v, want ErrFrameTooLarge again", err)
	}
	// The sender learns that its frame was refused.
	testkit.WaitFor(t, 5*time.Second, "the sender's write to fail with ErrFrameTooLarge", func() bool {
		err := s.WriteFrame([]byte("more"))
		if err != nil && !errors.Is(err, ErrFrameTooLarge) {
			t.Fatalf("sender's write after the refusal: %v, want ErrFrameTooLarge", err)
		}
		return err != nil
	})
	// The link itself is fine.
	exchange(t, ab, ba, 1, 3, 100)
}

func TestStreamDeadline(t *testing.T) {
	ca := newCA(t, testMesh)
	a := start(t, udpConn(t), peerConfig(t, ca, "eu", "a"))
	b := start(t, udpConn(t), peerConfig(t, ca, "us", "b"))
	ab, ba := connect(t, a, b, "b")
	ctx := context.Background()
	s, _ := ab.OpenStream(ctx)
	s.WriteFrame([]byte("open"))
	in, err := ba.AcceptStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	in.ReadFrame()
	in.SetDeadline(time.Now().Add(50 * time.Millisecond))
	var ne net.Error
	if _, err := in.ReadFrame(); !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("read past the deadline: %v, want a timeout", err)
	}
	// A frame cut by the deadline is resumed by the next read.
	in.SetDeadline(time.Time{})
	s.WriteFrame([]byte("after"))
	if p, err := in.ReadFrame(); err != nil || string(p) != "after" {
		t.Errorf("read after the deadline: %q, %v", p, err)
	}
	actx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := ab.AcceptStream(actx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("AcceptStream past its context: %v", err)
	}
}

func TestCloseTwiceLeavesNothing(t *testing.T) {
	testkit.NoLeaks(t)
	ca := newCA(t, testMesh)
	connA, connB := udpConn(t), udpConn(t)
	a, err := Listen(connA, peerConfig(t, ca, "eu", "a"))
	if err != nil {
		t.Fatal(err)
	}
	b := start(t, connB, peerConfig(t, ca, "us", "b"))
	ab, ba := connect(t, a, b, "b")
	exchange(t, ab, ba, 2, 3, 100)
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := ab.Err(); !errors.Is(err, ErrClosed) {
		t.Errorf("own link after Close: %v, want ErrClosed", err)
	}
	select {
	case <-ba.Done():
		if err := ba.Err(); !errors.Is(err, ErrLinkClosed) || !strings.Contains(err.Error(), "shutting down") {
			t.Errorf("peer's link: %v, want ErrLinkClosed, shutting down", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("the peer did not see the Transport close")
	}
	if _, err := a.Dial(context.Background(), b.Addr(), "b"); !errors.Is(err, ErrClosed) {
		t.Errorf("Dial after Close: %v", err)
	}
	if _, err := a.Accept(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Accept after Close: %v", err)
	}
	// The socket is still the caller's, and usable.
	if _, err := connA.WriteTo([]byte("x"), connB.LocalAddr()); err != nil {
		t.Errorf("socket after Close: %v", err)
	}
}

func TestCloseDuringSetUp(t *testing.T) {
	testkit.NoLeaks(t)
	ca := newCA(t, testMesh)
	n := faultnet.New(3)
	t.Cleanup(func() { n.Close() })
	a := start(t, fnConn(t, n, "a"), peerConfig(t, ca, "eu", "a"))
	b, err := Listen(fnConn(t, n, "b"), peerConfig(t, ca, "us", "b"))
	if err != nil {
		t.Fatal(err)
	}
	// a cannot hear b: a's dial hangs in its handshake until a closes.
	n.SetFaults("b", "a", faultnet.Faults{Down: true})
	errc := make(chan error)
	go func() {
		_, err := a.Dial(context.Background(), b.Addr(), "b")
		errc <- err
	}()
	// b answering a's first packet, its answer lost, puts a's dial in its
	// handshake.
	testkit.WaitFor(t, 10*time.Second, "b's answer to a's dial to be lost", func() bool {
		return n.Stats().PacketsDropped > 0
	})
	b.Close()
	a.Close()
	if err := <-errc; !errors.Is(err, ErrClosed) {
		t.Errorf("dial cut by Close: %v, want ErrClosed", err)
	}
}

func TestConfigChecked(t *testing.T) {
	ca, other := newCA(t, testMesh), newCA(t, testMesh)
	good := peerConfig(t, ca, "eu", "a")
	for name, mutate := range map[string]func(c *Config){
		"no CA":                func(c *Config) { c.CA = nil },
		"no certificate":       func(c *Config) { c.Certificate.Certificate = nil },
		"identity mismatch":    func(c *Config) { c.Identity.Name = "b" },
		"region mismatch":      func(c *Config) { c.Identity.Region = "us" },
		"invalid identity":     func(c *Config) { c.Identity.Mesh = "" },
		"certificate not ours": func(c *Config) { c.CA = other.Pool() },
		"negative timeout":     func(c *Config) { c.IdleTimeout = -1 },
	} {
		t.Run(name, func(t *testing.T) {
			cfg := good
			mutate(&cfg)
			if tr, err := Listen(udpConn(t), cfg); err == nil {
				tr.Close()
				t.Error("Listen accepted a bad config")
			}
		})
	}
	cfg := good
	cfg.HandshakeTimeout, cfg.IdleTimeout, cfg.KeepAlive, cfg.MaxFrameSize, cfg.Logger = 0, 0, 0, 0, nil
	tr := start(t, udpConn(t), cfg)
	if c := tr.cfg; c.HandshakeTimeout != DefaultHandshakeTimeout || c.IdleTimeout != DefaultIdleTimeout ||
		c.KeepAlive != DefaultKeepAlive || c.MaxFrameSize != DefaultMaxFrameSize || c.Logger == nil {
		t.Errorf("defaults not filled: %+v", c)
	}
	if cfg.IdleTimeout != 0 {
		t.Error("Listen changed the caller's config")
	}
}
