package region

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/countermesh/countermesh/topology"
)

// nodeMeta is what a peer tells the pool about itself (memberlist node metadata,
// at most memberlist.MetaMaxSize bytes).
type nodeMeta struct {
	Mesh    string `json:"mesh"`
	Region  string `json:"region"`
	Replica string `json:"replica"`
	Sync    string `json:"sync"`
	API     string `json:"api"`
}

func (m nodeMeta) encode() ([]byte, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	if len(b) > memberlist.MetaMaxSize {
		return nil, fmt.Errorf("node metadata is %d bytes, over memberlist's %d", len(b), memberlist.MetaMaxSize)
	}
	return b, nil
}

// gossipDelegate answers memberlist. Memberlist calls its methods from its own
// goroutines, some under its locks: none of them blocks.
type gossipDelegate struct {
	m    *membership
	meta []byte
}

// NodeMeta returns this peer's metadata.
func (d *gossipDelegate) NodeMeta(int) []byte { return d.meta }

// NotifyMsg, GetBroadcasts, LocalState and MergeRemoteState are unused: counts
// travel over QUIC, not gossip.
func (d *gossipDelegate) NotifyMsg([]byte)                  {}
func (d *gossipDelegate) GetBroadcasts(int, int) [][]byte   { return nil }
func (d *gossipDelegate) LocalState(bool) []byte            { return nil }
func (d *gossipDelegate) MergeRemoteState(_ []byte, _ bool) {}

// NotifyJoin, NotifyLeave and NotifyUpdate wake the link manager.
func (d *gossipDelegate) NotifyJoin(*memberlist.Node)   { d.m.wake() }
func (d *gossipDelegate) NotifyUpdate(*memberlist.Node) { d.m.wake() }
func (d *gossipDelegate) NotifyLeave(n *memberlist.Node) {
	d.m.skew.forget(n.Name)
	d.m.wake()
}

// AckPayload puts this peer's wall clock in its ping acks, and
// NotifyPingComplete reads the other's: how the peer learns whether its clock
// is beyond the max drift from most of the mesh (Ready).
func (d *gossipDelegate) AckPayload() []byte { return d.m.skew.ackPayload() }
func (d *gossipDelegate) NotifyPingComplete(other *memberlist.Node, rtt time.Duration, payload []byte) {
	d.m.skew.observe(other.Name, rtt, payload)
}

// NotifyAlive refuses nodes that are not peers of the topology, in the region the
// topology gives them, of this mesh.
func (d *gossipDelegate) NotifyAlive(n *memberlist.Node) error { return d.m.admitNode(n) }

// NotifyMerge refuses to merge with a pool holding any such node.
func (d *gossipDelegate) NotifyMerge(nodes []*memberlist.Node) error {
	for _, n := range nodes {
		if err := d.m.admitNode(n); err != nil {
			return err
		}
	}
	return nil
}

// admitNode checks a node memberlist heard of by the admission rule, with the
// gossip address the node advertises. A refusal is counted and logged, at
// most once per address per minute.
func (m *membership) admitNode(n *memberlist.Node) error {
	var meta nodeMeta
	err := json.Unmarshal(n.Meta, &meta)
	if err != nil {
		err = fmt.Errorf("node %s: unreadable metadata: %w", n.Name, err)
	} else {
		err = m.admit(claim{Mesh: meta.Mesh, Region: meta.Region, Name: n.Name, Gossip: n.Address()})
	}
	if err != nil {
		m.gossip.edge.refusedNodes.Add(1)
		m.gossip.edge.refusalLog.Log(m.log, slog.LevelWarn, n.Address(), "refused a gossip node",
			"node", n.Name, "err", err)
	}
	return err
}

// claim is who a remote peer says it is: in its certificate (QUIC links) or
// in its memberlist node (gossip).
type claim struct {
	Mesh, Region, Name string
	// Gossip is the gossip address ("host:port") the node advertises, or ""
	// when the claim comes with no address (a certificate).
	Gossip string
}

// admission is the one rule of who may be a peer, for links and gossip
// alike: a peer of the topology's mesh, named in it, in the region it gives
// that peer, and, for gossip, at the gossip address it gives that peer — a
// node holding the gossip key cannot pass for a peer from another address.
func admission(topo *topology.Topology, c claim) error {
	if c.Mesh != topo.Mesh {
		return fmt.Errorf("peer %s is of mesh %q, not %q", c.Name, c.Mesh, topo.Mesh)
	}
	q, ok := topo.Peer(c.Name)
	if !ok {
		return fmt.Errorf("peer %s is not in the topology", c.Name)
	}
	if q.Region != c.Region {
		return fmt.Errorf("peer %s claims region %q, the topology says %q", c.Name, c.Region, q.Region)
	}
	if c.Gossip != "" && !sameAddr(c.Gossip, q.Gossip) {
		return fmt.Errorf("peer %s gossips from %s, the topology says %s", c.Name, c.Gossip, q.Gossip)
	}
	return nil
}

// gossipSource says why gossip from addr does not come from a peer of the
// topology, or nil if it does: a packet must come from a peer's gossip
// address, a stream connection from its gossip host (the dialler picks the
// port of a stream).
func (m *membership) gossipSource(addr net.Addr, stream bool) error {
	from := addr.String()
	for _, q := range m.topo().Peers() {
		if !stream && sameAddr(from, q.Gossip) || stream && sameHost(from, q.Gossip) {
			return nil
		}
	}
	what := "packet"
	if stream {
		what = "stream"
	}
	return fmt.Errorf("gossip %s from %s: not a gossip address of the topology's peers", what, from)
}

// sameHost reports whether two "ip:port" addresses are of the same host.
func sameHost(a, b string) bool {
	x, errX := netip.ParseAddrPort(a)
	y, errY := netip.ParseAddrPort(b)
	return errX == nil && errY == nil && x.Addr().Unmap() == y.Addr().Unmap()
}

// sameAddr reports whether two "ip:port" addresses are the same endpoint
// (an IPv4 address and its IPv6-mapped form are the same).
func sameAddr(a, b string) bool {
	x, errX := netip.ParseAddrPort(a)
	y, errY := netip.ParseAddrPort(b)
	if errX != nil || errY != nil {
		return a == b
	}
	return x.Addr().Unmap() == y.Addr().Unmap() && x.Port() == y.Port()
}

// memberlistLog sends memberlist's log lines to slog at the level they name,
// except its complaints about what a remote sent (lines naming it "from="):
// junk packets, streams of strangers, nodes refused. Nobody here can fix
// those, and anyone can send them: they are counted and logged as warnings,
// at most once per remote address per minute.
type memberlistLog struct {
	l    *slog.Logger
	edge *gossipEdge
}

func (w *memberlistLog) Write(b []byte) (int, error) {
	msg := string(bytes.TrimSpace(b))
	level := slog.LevelDebug
	switch {
	case strings.Contains(msg, "[ERR]"), strings.Contains(msg, "[ERROR]"):
		level = slog.LevelError
	case strings.Contains(msg, "[WARN]"):
		level = slog.LevelWarn
	}
	switch from, rest, ok := remoteOf(msg); {
	case ok && level > slog.LevelDebug:
		w.edge.dropped.Add(1)
		w.edge.log.Log(w.l, slog.LevelWarn, from, "gossip: dropped what a remote sent", "err", rest)
	case strings.Contains(msg, "ignoring alive message for"),
		strings.Contains(msg, "Failed push/pull merge") && strings.Contains(msg, "not a peer of the topology"):
		w.l.Debug(msg) // admit has said why, rate-limited
	case strings.Contains(msg, "use of closed network connection"):
		w.l.Debug(msg) // this peer is stopping: its sockets closed under memberlist
	default:
		w.l.Log(context.Background(), level, msg)
	}
	return len(b), nil
}

// remoteOf splits a memberlist log line naming the remote it is about
// ("... from=1.2.3.4:7946") into that address and the rest of the line.
func remoteOf(msg string) (from, rest string, ok bool) {
	i := strings.LastIndex(msg, " from=")
	if i < 0 {
		return "", msg, false
	}
	from, _, _ = strings.Cut(msg[i+len(" from="):], " ")
	return from, msg[:i], true
}
