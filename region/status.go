package region

import (
	"errors"
	"slices"

	"github.com/hashicorp/memberlist"

	"github.com/countermesh/countermesh/crdt"
)

// MeshStatus is what a peer knows of the mesh: every region and peer of its
// topology, with membership, link and replication lag.
type MeshStatus struct {
	Mesh    string         `json:"mesh"`
	Self    string         `json:"self"`
	Region  string         `json:"region"`
	Replica string         `json:"replica"`
	LastSeq uint64         `json:"last_seq"`
	Regions []RegionStatus `json:"regions"`
}

// RegionStatus is one region of a MeshStatus.
type RegionStatus struct {
	Name  string       `json:"name"`
	Peers []PeerStatus `json:"peers"`
}

// PeerStatus is one peer of a MeshStatus, as seen from this peer.
type PeerStatus struct {
	Name          string  `json:"name"`
	Self          bool    `json:"self,omitempty"`
	Membership    string  `json:"membership"` // alive, suspect, dead, left, or unknown
	Linked        bool    `json:"linked"`
	Replica       string  `json:"replica,omitempty"`
	Acked         uint64  `json:"acked"`
	LagSeqs       uint64  `json:"lag_seqs"`
	LagSeconds    float64 `json:"lag_seconds"`
	BytesSent     uint64  `json:"bytes_sent"`
	BytesReceived uint64  `json:"bytes_received"`
	// ClockSkew is the newest clock-drift refusal, by either side.
	ClockSkew string `json:"clock_skew,omitempty"`
	// RefusedKeys counts the keys of this peer the remote peer refuses now as
	// beyond its max clock drift; they are offered again until taken.
	RefusedKeys int `json:"refused_keys,omitempty"`
	// RefusingKeys counts the keys of the remote peer this peer refuses now.
	RefusingKeys int `json:"refusing_keys,omitempty"`
	// Refusals counts every key this peer refused from the remote peer.
	Refusals uint64 `json:"refusals,omitempty"`
	API      string `json:"api"`
}

// Status reports the mesh as this peer sees it.
func (p *Peer) Status() MeshStatus {
	topo := p.topo.Load()
	self, _ := topo.Peer(p.cfg.PeerName)
	st := MeshStatus{Mesh: topo.Mesh, Self: self.Name, Region: self.Region,
		Replica: p.store.Replica().String(), LastSeq: p.store.LastSeq()}
	members := p.members.states()
	stats := p.ex.Stats()
	for _, r := range topo.Regions {
		rs := RegionStatus{Name: r.Name}
		for _, q := range r.Peers {
			ps := PeerStatus{Name: q.Name, Self: q.Name == self.Name, Membership: members[q.Name], API: q.API}
			if ps.Membership == "" {
				ps.Membership = "unknown"
			}
			if s, ok := stats[q.Name]; ok {
				ps.Linked, ps.Acked, ps.LagSeqs, ps.LagSeconds = s.Linked, s.Acked, s.LagSeqs, s.LagSeconds
				ps.BytesSent, ps.BytesReceived, ps.ClockSkew = s.BytesSent, s.BytesReceived, s.Skew
				ps.RefusedKeys, ps.RefusingKeys, ps.Refusals = s.RefusedKeys, s.RefusingKeys, s.Refusals
				if s.Replica != 0 {
					ps.Replica = s.Replica.String()
				}
			}
			if ps.Self {
				ps.Replica = st.Replica
			}
			rs.Peers = append(rs.Peers, ps)
		}
		st.Regions = append(st.Regions, rs)
	}
	return st
}

// Linked reports whether a link to the named peer is being served.
func (p *Peer) Linked(name string) bool { return p.links.linked(name) }

func membershipName(s memberlist.NodeStateType) string {
	switch s {
	case memberlist.StateAlive:
		return "alive"
	case memberlist.StateSuspect:
		return "suspect"
	case memberlist.StateDead:
		return "dead"
	case memberlist.StateLeft:
		return "left"
	}
	return "unknown"
}

// Applied returns the highest sequence of replica's own changes known to be
// readable at this peer (this peer's own: its last committed sequence).
func (p *Peer) Applied(replica crdt.ReplicaID) uint64 { return p.ex.Applied(replica) }

// ErrNotRunning is Ready's answer before Run has started.
var ErrNotRunning = errors.New("region: peer not yet running")

// ErrStopped is Ready's answer once the peer has stopped (Run returned or Close
// was called).
var ErrStopped = errors.New("region: peer stopped")

// Ready returns nil while the peer serves: Run has started and not yet stopped
// (its store is open and it listens for links) and its clock is within the max
// drift of most of its peers; else why not. Whether other peers are reachable
// does not matter: a peer alone after a full-mesh restart, or cut off by a
// partition, takes writes and serves reads at local latency and catches up
// once it links again — which is the point of the mesh. A clock beyond the max
// drift gives an error matching ErrClockSkew, and the API then refuses writes.
func (p *Peer) Ready() error {
	select {
	case <-p.stopped:
		return ErrStopped
	default:
	}
	p.runMu.Lock()
	running := p.running
	p.runMu.Unlock()
	if !running {
		return ErrNotRunning
	}
	return p.Writable()
}

// Writable returns nil when the peer takes writes, else an error matching
// ErrClockSkew: its clock is beyond the max drift from most of the mesh. It is
// cheap enough to ask on every write (the check is redone at most every second).
func (p *Peer) Writable() error { return p.members.skew.verdict() }

// ReactionKinds returns the reaction kinds of the topology in force.
func (p *Peer) ReactionKinds() []string { return slices.Clone(p.topo.Load().ReactionKinds) }
