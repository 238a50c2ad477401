package region

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/countermesh/countermesh/persist"
	"github.com/countermesh/countermesh/sync/exchange"
	"github.com/countermesh/countermesh/sync/transport"
	"github.com/countermesh/countermesh/topology"
	"github.com/countermesh/countermesh/topology/pki"
)

// Peer is one running peer of the mesh. Build it with New, run it with Run, stop
// it by cancelling Run's context or with Close.
type Peer struct {
	cfg  Config
	log  *slog.Logger
	topo atomic.Pointer[topology.Topology]
	mat  atomic.Pointer[topology.Material] // what the files of topo hold

	store  *persist.Store
	ex     *exchange.Exchange
	quic   net.PacketConn
	tr     *transport.Transport
	gossip *gossipTransport
	ml     *memberlist.Memberlist
	skew   *clockSkew // this peer's clock against its peers'

	wakeCh   chan struct{} // membership or topology changed: reconcile links now
	onChange atomic.Pointer[func(items []string)]
	links    linkTable

	runMu   sync.Mutex
	running bool
	stop    context.CancelFunc
	stopped chan struct{} // closed when Run has torn everything down
	closed  bool

	reloadMu sync.Mutex          // one Reload at a time
	keyring  *memberlist.Keyring // the gossip keys in force; Reload rotates it
}

// New loads the topology, opens the store, and sets up the QUIC endpoint and the
// memberlist pool (not yet joined). The peer must be in the topology.
func New(cfg Config) (_ *Peer, err error) {
	cfg = cfg.withDefaults()
	if cfg.TopologyFile == "" || cfg.PeerName == "" || cfg.DataDir == "" {
		return nil, errors.New("region: TopologyFile, PeerName and DataDir are required")
	}
	topo, mat, err := topology.LoadPeer(cfg.TopologyFile, cfg.PeerName)
	if err != nil {
		return nil, err
	}
	self, _ := topo.Peer(cfg.PeerName)
	p := &Peer{cfg: cfg, wakeCh: make(chan struct{}, 1), stopped: make(chan struct{})}
	// "local" names this peer; "peer" in a line names the remote one.
	p.log = cfg.Logger.With("local", cfg.PeerName)
	p.topo.Store(topo)
	p.mat.Store(mat)
	p.links.m = make(map[string]*activeLink)
	defer func() {
		if err != nil {
			p.teardown()
		}
	}()

	opts := cfg.StoreOptions(cfg.DataDir)
	opts.WallClock = cfg.WallClock
	opts.Logger = p.log
	if p.store, err = persist.Open(opts); err != nil {
		return nil, err
	}
	p.skew = newClockSkew(cfg.WallClock, p.store.Clock().MaxDrift())
	xcfg := cfg.Exchange
	xcfg.Mesh = topo.Mesh
	xcfg.Logger = p.log
	xcfg.OnChange = p.changed
	p.ex = exchange.New(p.store, xcfg)
	if err := p.listenQUIC(topo, self, mat); err != nil {
		return nil, err
	}
	if err := p.setUpGossip(topo, self, mat); err != nil {
		return nil, err
	}
	return p, nil
}

// listenQUIC listens for links on this peer's sync address, with the
// certificate and CA of mat.
func (p *Peer) listenQUIC(topo *topology.Topology, self topology.Peer, mat *topology.Material) error {
	var err error
	if p.quic, err = p.cfg.Network.ListenPacket(self.Sync); err != nil {
		return fmt.Errorf("region: sync address: %w", err)
	}
	p.tr, err = transport.Listen(p.quic, transport.Config{
		Identity:    pki.PeerIdentity{Mesh: topo.Mesh, Region: self.Region, Name: self.Name},
		Certificate: mat.Certificate,
		CA:          mat.CAPool,
		Authorize:   p.authorize,
		IdleTimeout: p.cfg.LinkIdleTimeout,
		KeepAlive:   p.cfg.LinkIdleTimeout / 5,
		Logger:      p.log,
	})
	return err
}

// setUpGossip creates the memberlist pool on this peer's gossip address,
// encrypted with the gossip keys of mat.
func (p *Peer) setUpGossip(topo *topology.Topology, self topology.Peer, mat *topology.Material) error {
	var err error
	if p.keyring, err = newKeyring(mat.GossipKeys); err != nil {
		return fmt.Errorf("region: %w", err)
	}
	meta, err := nodeMeta{Mesh: topo.Mesh, Region: self.Region, Replica: p.store.Replica().String(),
		Sync: self.Sync, API: self.API}.encode()
	if err != nil {
		return fmt.Errorf("region: %w", err)
	}
	if p.gossip, err = newGossipTransport(p.cfg.Network, self.Gossip, p.gossipSource, p.log); err != nil {
		return fmt.Errorf("region: %w", err)
	}
	mc, err := p.memberlistConfig(&gossipDelegate{p: p, meta: meta}, p.gossip, nil)
	if err != nil {
		return err
	}
	mc.Keyring = p.keyring
	if p.ml, err = memberlist.Create(mc); err != nil {
		return fmt.Errorf("region: memberlist: %w", err)
	}
	return nil
}

// authorize admits a remote peer to a QUIC link by the admission rule: a
// peer of this mesh, in its region.
func (p *Peer) authorize(id pki.PeerIdentity) error {
	return admission(p.topo.Load(), claim{Mesh: id.Mesh, Region: id.Region, Name: id.Name})
}

// OnChange registers f to be called with the items that changes from other peers
// touched, once durable (one listener; a later call replaces it). Writes made
// through Store() are the caller's to announce. f must not block.
func (p *Peer) OnChange(f func(items []string)) { p.onChange.Store(&f) }

func (p *Peer) changed(items []string) {
	if f := p.onChange.Load(); f != nil {
		(*f)(items)
	}
}

// Store returns the peer's durable store, for the API to read and write.
func (p *Peer) Store() *persist.Store { return p.store }

// Name returns the peer's name.
func (p *Peer) Name() string { return p.cfg.PeerName }

// Topology returns the topology in force.
func (p *Peer) Topology() *topology.Topology { return p.topo.Load() }

// Material returns what the security files of the topology in force hold, as
// the peer read them (New or the last Reload): the API takes its tokens and
// token secrets from it rather than reading the files again.
func (p *Peer) Material() *topology.Material { return p.mat.Load() }

// wake asks the link manager to reconcile links now. It never blocks.
func (p *Peer) wake() {
	select {
	case p.wakeCh <- struct{}{}:
	default:
	}
}

// Run joins the mesh and runs the peer until ctx ends, then leaves the pool,
// gives senders a moment to ship what is pending, closes every link and the
// store, and returns once every goroutine has stopped.
func (p *Peer) Run(ctx context.Context) error {
	p.runMu.Lock()
	if p.running || p.closed {
		p.runMu.Unlock()
		return errors.New("region: peer already running or closed")
	}
	p.running = true
	ctx, p.stop = context.WithCancel(ctx)
	p.runMu.Unlock()
	defer close(p.stopped)

	p.join()
	var wg sync.WaitGroup
	wg.Go(func() { p.acceptLinks(ctx) })
	wg.Go(func() { p.manageLinks(ctx) })
	wg.Go(func() { p.every(ctx, p.cfg.RejoinInterval, p.join) })
	wg.Go(func() { p.every(ctx, p.cfg.AntiEntropyInterval, func() { p.antiEntropy(ctx) }) })
	wg.Go(func() { p.every(ctx, p.cfg.TrimInterval, p.trim) })
	wg.Go(func() { p.watchTopology(ctx) })
	<-ctx.Done()

	p.drain(2 * time.Second)
	if err := p.ml.Leave(time.Second); err != nil {
		p.log.Debug("leave", "err", err)
	}
	p.tr.Close() // ends every link; the exchange goroutines return
	wg.Wait()
	p.links.wait()
	return p.teardown()
}

// drain waits, up to timeout, until every linked peer has acknowledged every
// local change.
func (p *Peer) drain(timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		pending := false
		for _, s := range p.ex.Stats() {
			pending = pending || (s.Linked && s.LagSeqs > 0)
		}
		if !pending {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	p.log.Warn("shutting down with changes not yet acknowledged by some peers")
}

// teardown releases everything New set up, in reverse order.
func (p *Peer) teardown() error {
	var errs []error
	if p.ml != nil {
		errs = append(errs, p.ml.Shutdown())
	}
	if p.gossip != nil {
		errs = append(errs, p.gossip.Shutdown())
	}
	if p.tr != nil {
		errs = append(errs, p.tr.Close())
	}
	if p.quic != nil {
		p.quic.Close()
	}
	if p.store != nil {
		errs = append(errs, p.store.Close())
	}
	return errors.Join(errs...)
}

// Close stops a running peer and waits until Run has returned, or releases a peer
// that never ran. It is safe to call more than once.
func (p *Peer) Close() error {
	p.runMu.Lock()
	if p.closed {
		p.runMu.Unlock()
		<-p.stopped
		return nil
	}
	p.closed = true
	running := p.running
	p.runMu.Unlock()
	if !running {
		defer close(p.stopped)
		return p.teardown()
	}
	p.stop()
	<-p.stopped
	return nil
}

// every calls f every interval until ctx ends.
func (p *Peer) every(ctx context.Context, interval time.Duration, f func()) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			f()
		}
	}
}

// join (re-)joins memberlist through every other peer of the topology, so a pool
// split by a partition merges again once it heals.
func (p *Peer) join() {
	var addrs []string
	for _, q := range p.topo.Load().Peers() {
		if q.Name != p.cfg.PeerName && !p.isAliveMember(q.Name) {
			addrs = append(addrs, q.Gossip)
		}
	}
	if len(addrs) == 0 {
		return
	}
	if n, err := p.ml.Join(addrs); err != nil && n == 0 {
		p.log.Debug("memberlist join", "tried", len(addrs), "err", err)
	}
}

// isAliveMember reports whether memberlist sees the named peer alive.
func (p *Peer) isAliveMember(name string) bool {
	for _, n := range p.ml.Members() {
		if n.Name == name {
			return n.State == memberlist.StateAlive
		}
	}
	return false
}

func (p *Peer) trim() {
	var names []string
	for _, q := range p.topo.Load().Peers() {
		if q.Name != p.cfg.PeerName {
			names = append(names, q.Name)
		}
	}
	if _, err := p.ex.TrimLog(names, p.cfg.LogRetention); err != nil {
		p.log.Warn("trim change log", "err", err)
	}
}
