package region

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log"
	"log/slog"
	"time"

	"github.com/hashicorp/memberlist"
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
	p    *Peer
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
func (d *gossipDelegate) NotifyJoin(*memberlist.Node)   { d.p.wake() }
func (d *gossipDelegate) NotifyUpdate(*memberlist.Node) { d.p.wake() }
func (d *gossipDelegate) NotifyLeave(n *memberlist.Node) {
	d.p.skew.forget(n.Name)
	d.p.wake()
}

// AckPayload puts this peer's wall clock in its ping acks, and
// NotifyPingComplete reads the other's: how the peer learns whether its clock
// is beyond the max drift from most of the mesh (Ready).
func (d *gossipDelegate) AckPayload() []byte { return d.p.skew.ackPayload() }
func (d *gossipDelegate) NotifyPingComplete(other *memberlist.Node, rtt time.Duration, payload []byte) {
	d.p.skew.observe(other.Name, rtt, payload)
}

// NotifyAlive refuses nodes that are not peers of the topology, in the region the
// topology gives them, of this mesh.
func (d *gossipDelegate) NotifyAlive(n *memberlist.Node) error { return d.p.admit(n) }

// NotifyMerge refuses to merge with a pool holding any such node.
func (d *gossipDelegate) NotifyMerge(nodes []*memberlist.Node) error {
	for _, n := range nodes {
		if err := d.p.admit(n); err != nil {
			return err
		}
	}
	return nil
}

// admit checks a node against the current topology.
func (p *Peer) admit(n *memberlist.Node) error {
	var m nodeMeta
	if err := json.Unmarshal(n.Meta, &m); err != nil {
		return fmt.Errorf("node %s: unreadable metadata: %w", n.Name, err)
	}
	topo := p.topo.Load()
	if m.Mesh != topo.Mesh {
		return fmt.Errorf("node %s is of mesh %q, not %q", n.Name, m.Mesh, topo.Mesh)
	}
	q, ok := topo.Peer(n.Name)
	if !ok {
		return fmt.Errorf("node %s is not a peer of the topology", n.Name)
	}
	if q.Region != m.Region {
		return fmt.Errorf("node %s claims region %q, the topology says %q", n.Name, m.Region, q.Region)
	}
	return nil
}

// memberlistConfig builds memberlist's configuration for this peer.
func (p *Peer) memberlistConfig(d *gossipDelegate, t memberlist.Transport, key []byte) (*memberlist.Config, error) {
	var mc *memberlist.Config
	switch p.cfg.GossipProfile {
	case "local":
		mc = memberlist.DefaultLocalConfig()
	case "lan":
		mc = memberlist.DefaultLANConfig()
	case "wan":
		mc = memberlist.DefaultWANConfig()
	default:
		return nil, fmt.Errorf("region: unknown gossip profile %q", p.cfg.GossipProfile)
	}
	mc.Name = p.cfg.PeerName
	mc.Transport = t
	mc.SecretKey = key
	mc.Delegate, mc.Events, mc.Alive, mc.Merge, mc.Ping = d, d, d, d, d
	mc.Logger = log.New(&memberlistLog{l: p.log}, "", 0)
	return mc, nil
}

// memberlistLog sends memberlist's log lines to slog at the level they name.
type memberlistLog struct{ l *slog.Logger }

func (w *memberlistLog) Write(b []byte) (int, error) {
	msg := string(bytes.TrimSpace(b))
	switch {
	case bytes.Contains(b, []byte("[ERR]")):
		w.l.Error(msg)
	case bytes.Contains(b, []byte("[WARN]")):
		w.l.Warn(msg)
	default:
		w.l.Debug(msg)
	}
	return len(b), nil
}
