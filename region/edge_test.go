package region_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/countermesh/countermesh/region"
	"github.com/countermesh/countermesh/region/regiontest"
	"github.com/countermesh/countermesh/sync/transport/edgelog/edgelogtest"
	"github.com/countermesh/countermesh/sync/transport/faultnet"
	"github.com/countermesh/countermesh/tests/testkit"
	"github.com/countermesh/countermesh/topology/pki"
)

// restartRecorded restarts a peer of m with its logs recorded from level up.
func restartRecorded(m *regiontest.Mesh, peer string, level slog.Level) *edgelogtest.Recorder {
	logs := edgelogtest.NewRecorder(level)
	m.Tune = func(c *region.Config) {
		if c.PeerName == peer {
			c.Logger = slog.New(logs)
		}
	}
	m.Stop(peer)
	m.Start(peer)
	return logs
}

func TestJunkGossipPacketsLogAFewLines(t *testing.T) {
	m := regiontest.NewMesh(t, threeRegions[:1], 1)
	logs := restartRecorded(m, "eu-1", slog.LevelInfo)
	victim := m.Node("eu-1").Peer
	to, err := faultnet.ParseAddr(m.Host("eu-1") + ":7946")
	if err != nil {
		t.Fatal(err)
	}

	// 1,000 packets of random bytes, from 4 addresses, in bursts; each burst
	// is taken (and counted) before the next.
	const sources, perSource, burst = 4, 250, 50
	rng := rand.New(rand.NewPCG(1, 2))
	var sent uint64
	for s := range sources {
		pc, err := m.Net.ListenPacket(fmt.Sprintf("127.9.1.%d:5000", s+1))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { pc.Close() })
		for i := range perSource {
			junk := make([]byte, 16+rng.IntN(200))
			for j := range junk {
				junk[j] = byte(rng.Uint32())
			}
			if _, err := pc.WriteTo(junk, to); err != nil {
				t.Fatal(err)
			}
			sent++
			if (i+1)%burst == 0 {
				testkit.WaitFor(t, 10*time.Second, "the junk to be taken", func() bool {
					return victim.EdgeRefusals().GossipDropped >= sent
				})
			}
		}
	}
	if got := victim.EdgeRefusals().GossipDropped; got != sent {
		t.Errorf("GossipDropped = %d, want %d", got, sent)
	}
	if errs := logs.Lines("ERROR"); len(errs) > 0 {
		t.Errorf("%d ERROR lines for junk nobody here can fix, e.g. %q", len(errs), errs[0])
	}
	lines := logs.Lines("remote=127.9.1.")
	if len(lines) > sources {
		t.Errorf("%d packets of junk from %d addresses logged %d lines, want at most %d:\n%s",
			sent, sources, len(lines), sources, strings.Join(lines[:min(len(lines), 10)], "\n"))
	}
	for s := range sources {
		if n := len(logs.Lines(fmt.Sprintf("remote=127.9.1.%d:", s+1))); n != 1 {
			t.Errorf("source %d: %d lines, want 1", s+1, n)
		}
	}
	t.Logf("%d junk packets, %d log lines: %v", sent, len(lines), lines)

	// Junk streams from the host of a peer of the topology reach memberlist,
	// whose complaints are limited the same way.
	const streams = 50
	dropped := victim.EdgeRefusals().GossipDropped
	for range streams {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		c, err := m.Net.Dial(ctx, m.Host("eu-1"), m.Host("eu-1")+":7946")
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
		c.Close()
	}
	testkit.WaitFor(t, 10*time.Second, "memberlist to take the junk streams", func() bool {
		return victim.EdgeRefusals().GossipDropped >= dropped+streams
	})
	host := logs.Lines("remote=" + m.Host("eu-1") + ":")
	if len(host) != 1 {
		t.Errorf("%d junk streams from one host logged %d lines, want 1:\n%s", streams, len(host), strings.Join(host, "\n"))
	}
	if errs := logs.Lines("ERROR"); len(errs) > 0 {
		t.Errorf("%d ERROR lines for junk streams, e.g. %q", len(errs), errs[0])
	}
}

// gossipImpostor runs a memberlist node named name, with the mesh's gossip
// key and the metadata a real peer of regionName would send, at addr on the
// mesh's network.
func gossipImpostor(t *testing.T, m *regiontest.Mesh, name, regionName, addr string) (*memberlist.Memberlist, *countingTransport) {
	t.Helper()
	keyText, err := os.ReadFile(filepath.Join(m.Dir, "gossip.key"))
	if err != nil {
		t.Fatal(err)
	}
	key, err := pki.ParseGossipKey(keyText)
	if err != nil {
		t.Fatal(err)
	}
	inner, err := region.NewGossipTransport(m.Net, addr)
	if err != nil {
		t.Fatal(err)
	}
	tr := &countingTransport{Transport: inner}
	meta, err := json.Marshal(map[string]string{"mesh": m.Name, "region": regionName,
		"replica": "0000000000000001", "sync": m.Host(name) + ":7000", "api": m.Host(name) + ":8080"})
	if err != nil {
		t.Fatal(err)
	}
	cfg := memberlist.DefaultLocalConfig()
	cfg.Name = name
	cfg.Transport = tr
	cfg.SecretKey = key
	cfg.Delegate = impostorMeta(meta)
	cfg.Logger = log.New(io.Discard, "", 0)
	ml, err := memberlist.Create(cfg)
	if err != nil {
		tr.Shutdown()
		t.Fatal(err)
	}
	t.Cleanup(func() { ml.Shutdown() })
	return ml, tr
}

// countingTransport counts the gossip packets a node sends to each address.
// A packet is counted before it goes, so it is counted before it can arrive;
// one whose write fails (a probe racing the node's shutdown) never arrives,
// and is taken back.
type countingTransport struct {
	memberlist.Transport
	mu   sync.Mutex
	sent map[string]uint64
}

func (c *countingTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	c.count(addr, 1)
	at, err := c.Transport.WriteTo(b, addr)
	if err != nil {
		c.count(addr, -1)
	}
	return at, err
}

// count adds n to the packets sent to addr.
func (c *countingTransport) count(addr string, n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sent == nil {
		c.sent = map[string]uint64{}
	}
	c.sent[addr] += uint64(n)
}

// sentTo returns how many packets went to addr so far.
func (c *countingTransport) sentTo(addr string) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sent[addr]
}

// impostorMeta is the delegate of an impostor: it only tells its metadata.
type impostorMeta []byte

func (d impostorMeta) NodeMeta(int) []byte             { return d }
func (impostorMeta) NotifyMsg([]byte)                  {}
func (impostorMeta) GetBroadcasts(int, int) [][]byte   { return nil }
func (impostorMeta) LocalState(bool) []byte            { return nil }
func (impostorMeta) MergeRemoteState(_ []byte, _ bool) {}

func TestGossipImpostorAtAnotherAddressRefused(t *testing.T) {
	m := regiontest.NewMesh(t, threeRegions[:2], 1)
	logs := restartRecorded(m, "us-1", slog.LevelInfo)
	victim := m.Node("us-1").Peer
	testkit.WaitFor(t, 30*time.Second, "us-1 to link eu-1", func() bool { return victim.Linked("eu-1") })
	ups := len(logs.Lines("link up", "peer=eu-1"))
	victimAddr := m.Host("us-1") + ":7946"
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("us-1's gossip log:\n%s", strings.Join(logs.Lines("gossip"), "\n"))
		}
	})

	// With the gossip key, a node calls itself eu-1, joins us-1, then leaves
	// as a node does when it stops: from a host outside the topology, and
	// from eu-1's own host on another port.
	for i, addr := range []string{"127.9.2.1:7946", m.Host("eu-1") + ":7947"} {
		before := victim.EdgeRefusals()
		ml, tr := gossipImpostor(t, m, "eu-1", "eu", addr)
		// us-1 refuses to merge what the impostor pushes, after sending its
		// own state: the impostor's Join may well say it joined.
		if _, err := ml.Join([]string{m.Host("us-1") + ":7946"}); err != nil {
			t.Logf("impostor %d at %s: join: %v", i, addr, err)
		}
		testkit.WaitFor(t, 10*time.Second, "us-1 to refuse the impostor", func() bool {
			e := victim.EdgeRefusals()
			return e.GossipNodesRefused > before.GossipNodesRefused || e.GossipDropped > before.GossipDropped
		})
		if i == 1 { // from eu-1's own host, admission refuses the node and says why
			// Admission sees the node in a push/pull that completes; one the
			// impostor hangs up on before us-1 has pushed its own state is
			// dropped before the merge, so the impostor joins again, as a
			// real one would.
			lastJoin := time.Now()
			testkit.WaitFor(t, 30*time.Second, "us-1 to say why it refused the impostor on eu-1's host", func() bool {
				if len(logs.Lines("refused a gossip node", "remote="+addr)) > 0 {
					return true
				}
				if time.Since(lastJoin) > time.Second {
					lastJoin = time.Now()
					ml.Join([]string{m.Host("us-1") + ":7946"})
				}
				return false
			})
		}
		dropped, sent := victim.EdgeRefusals().GossipDropped, tr.sentTo(victimAddr)
		if err := ml.Leave(time.Second); err != nil {
			t.Logf("leave: %v", err)
		}
		if err := ml.Shutdown(); err != nil {
			t.Fatal(err)
		}
		// Every packet the impostor sent us-1 from its leave on, the leave
		// itself among them, has reached us-1's edge: what the leave could
		// do to eu-1's membership and link it has done by now.
		leaving := tr.sentTo(victimAddr) - sent
		testkit.WaitFor(t, 10*time.Second, "us-1 to take in the impostor's leave", func() bool {
			return victim.EdgeRefusals().GossipDropped-dropped >= leaving
		})
	}
	if refusals := logs.Lines("refused a gossip node", "node=eu-1", "remote="+m.Host("eu-1")+":7947",
		"the topology says "+m.Host("eu-1")+":7946"); len(refusals) != 1 {
		t.Errorf("%d lines say why the impostor on eu-1's host was refused, want 1; lines:\n%s",
			len(refusals), strings.Join(logs.Lines("gossip"), "\n"))
	}
	// The real eu-1 stays a member, and its link is never dropped.
	if downs := logs.Lines("link down", "to=eu-1"); len(downs) > 0 {
		t.Fatalf("us-1 dropped its link to the real eu-1: %s", downs[0])
	}
	if !victim.Linked("eu-1") {
		t.Error("us-1 has no link to the real eu-1")
	}
	if n := len(logs.Lines("link up", "peer=eu-1")); n != ups {
		t.Errorf("link to eu-1 came up %d more times", n-ups)
	}
}
