package region

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/countermesh/countermesh/topology"
	"github.com/countermesh/countermesh/topology/pki"
)

// membership is the peer's place in the mesh's memberlist pool: the pool and
// its keyring, the one admission rule for gossip nodes and QUIC links alike,
// and the clock samples carried by the pool's pings. It owns one goroutine,
// which re-joins the topology's peers every RejoinInterval; memberlist's own
// goroutines end with Close.
type membership struct {
	self    string
	rejoin  time.Duration
	log     *slog.Logger
	topo    func() *topology.Topology // the topology in force
	wake    func()                    // membership changed: links reconcile
	skew    *clockSkew                // this peer's clock against its peers'
	keyring *memberlist.Keyring       // the gossip keys in force; rotateKeys rotates it
	gossip  *gossipTransport
	ml      *memberlist.Memberlist

	stop      context.CancelFunc // ends the re-join goroutine; nil before start
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// newMembership creates the memberlist pool on self's gossip address, not
// yet joined, encrypted with keys (the first encrypts, every one decrypts)
// and telling the pool meta. Memberlist's delegate calls wake whenever a node
// joins, leaves or changes. On failure it releases what it set up.
func newMembership(cfg Config, log *slog.Logger, topo func() *topology.Topology, self topology.Peer,
	meta nodeMeta, keys [][]byte, maxDrift time.Duration, wake func()) (_ *membership, err error) {
	m := &membership{self: cfg.PeerName, rejoin: cfg.RejoinInterval, log: log, topo: topo, wake: wake,
		skew: newClockSkew(cfg.WallClock, maxDrift)}
	defer func() {
		if err != nil {
			m.Close()
		}
	}()
	if m.keyring, err = newKeyring(keys); err != nil {
		return nil, fmt.Errorf("region: %w", err)
	}
	b, err := meta.encode()
	if err != nil {
		return nil, fmt.Errorf("region: %w", err)
	}
	if m.gossip, err = newGossipTransport(cfg.Network, self.Gossip, m.gossipSource, log); err != nil {
		return nil, fmt.Errorf("region: %w", err)
	}
	mc, err := m.memberlistConfig(cfg.GossipProfile, &gossipDelegate{m: m, meta: b})
	if err != nil {
		return nil, err
	}
	if m.ml, err = memberlist.Create(mc); err != nil {
		return nil, fmt.Errorf("region: memberlist: %w", err)
	}
	return m, nil
}

// memberlistConfig builds memberlist's configuration for this peer, with
// memberlist's timing profile named profile.
func (m *membership) memberlistConfig(profile string, d *gossipDelegate) (*memberlist.Config, error) {
	var mc *memberlist.Config
	switch profile {
	case "local":
		mc = memberlist.DefaultLocalConfig()
	case "lan":
		mc = memberlist.DefaultLANConfig()
	case "wan":
		mc = memberlist.DefaultWANConfig()
	default:
		return nil, fmt.Errorf("region: unknown gossip profile %q", profile)
	}
	mc.Name = m.self
	mc.Transport = m.gossip
	mc.Keyring = m.keyring
	mc.Delegate, mc.Events, mc.Alive, mc.Merge, mc.Ping = d, d, d, d, d
	mc.Logger = log.New(&memberlistLog{l: m.log, edge: &m.gossip.edge}, "", 0)
	return mc, nil
}

// start joins the pool through the topology's peers, then re-joins them every
// RejoinInterval until ctx ends or Close.
func (m *membership) start(ctx context.Context) {
	m.join()
	ctx, m.stop = context.WithCancel(ctx)
	m.wg.Go(func() { every(ctx, m.rejoin, m.join) })
}

// join (re-)joins memberlist through every other peer of the topology, so a pool
// split by a partition merges again once it heals.
func (m *membership) join() {
	var addrs []string
	for _, q := range m.topo().Peers() {
		if q.Name != m.self && !m.alive(q.Name) {
			addrs = append(addrs, q.Gossip)
		}
	}
	if len(addrs) == 0 {
		return
	}
	if n, err := m.ml.Join(addrs); err != nil && n == 0 {
		m.log.Debug("memberlist join", "tried", len(addrs), "err", err)
	}
}

// alive reports whether memberlist sees the named peer alive.
func (m *membership) alive(name string) bool {
	for _, n := range m.ml.Members() {
		if n.Name == name {
			return n.State == memberlist.StateAlive
		}
	}
	return false
}

// aliveSet returns whether memberlist sees each node it knows alive, by name.
func (m *membership) aliveSet() map[string]bool {
	alive := map[string]bool{}
	for _, n := range m.ml.Members() {
		alive[n.Name] = n.State == memberlist.StateAlive
	}
	return alive
}

// states returns the membership state of every node memberlist knows, by
// name: alive, suspect, dead or left.
func (m *membership) states() map[string]string {
	states := map[string]string{}
	for _, n := range m.ml.Members() {
		states[n.Name] = membershipName(n.State)
	}
	return states
}

// admit is the admission rule against the topology in force (see admission).
func (m *membership) admit(c claim) error { return admission(m.topo(), c) }

// authorizeLink admits a remote peer to a QUIC link by the identity of its
// certificate.
func (m *membership) authorizeLink(id pki.PeerIdentity) error {
	return m.admit(claim{Mesh: id.Mesh, Region: id.Region, Name: id.Name})
}

// rotateKeys puts keys in force in the pool's keyring, live (see
// rotateKeyring). It reports whether the keyring changed.
func (m *membership) rotateKeys(keys [][]byte) (bool, error) {
	return rotateKeyring(m.keyring, keys)
}

// leave tells the pool this peer is leaving, waiting up to timeout.
func (m *membership) leave(timeout time.Duration) {
	if err := m.ml.Leave(timeout); err != nil {
		m.log.Debug("leave", "err", err)
	}
}

// Close stops re-joining, waits for that goroutine, and shuts the pool and
// its sockets down. It is safe to call more than once, and on a membership
// newMembership did not finish.
func (m *membership) Close() error {
	m.closeOnce.Do(func() {
		if m.stop != nil {
			m.stop()
		}
		m.wg.Wait()
		var errs []error
		if m.ml != nil {
			errs = append(errs, m.ml.Shutdown())
		}
		if m.gossip != nil {
			errs = append(errs, m.gossip.Shutdown())
		}
		m.closeErr = errors.Join(errs...)
	})
	return m.closeErr
}
