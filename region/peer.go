package region

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/countermesh/countermesh/persist"
	"github.com/countermesh/countermesh/sync/exchange"
	"github.com/countermesh/countermesh/topology"
	"github.com/countermesh/countermesh/topology/pki"
)

// Peer is one running peer of the mesh. Build it with New, run it with Run, stop
// it by cancelling Run's context or with Close.
//
// Peer is the wiring root: it opens the store and the exchange, creates the
// membership (the memberlist pool) and the links (QUIC and the exchange over
// them), starts them in that order, and stops them in reverse. It runs the
// change-log trimming and the topology watch itself.
type Peer struct {
	cfg  Config
	log  *slog.Logger
	topo atomic.Pointer[topology.Topology]
	mat  atomic.Pointer[topology.Material] // what the files of topo hold

	memory  int64 // the store's memory budget; 0 for none
	store   *persist.Store
	ex      *exchange.Exchange
	members *membership
	links   *links

	runMu   sync.Mutex
	running bool
	stop    context.CancelFunc
	stopped chan struct{} // closed when Run has torn everything down
	closed  bool
	wg      sync.WaitGroup // Run's own goroutines: trimming, topology watch

	reloadMu sync.Mutex // one Reload at a time
	// loadedVersion is the topology file's version (fileVersion) as New found
	// it just before loading it: the watch reloads once the file differs.
	loadedVersion string
}

// New loads the topology, opens the store, and sets up the memberlist pool (not
// yet joined) and the QUIC endpoint. The peer must be in the topology.
func New(cfg Config) (_ *Peer, err error) {
	cfg = cfg.withDefaults()
	if cfg.TopologyFile == "" || cfg.PeerName == "" || cfg.DataDir == "" {
		return nil, errors.New("region: TopologyFile, PeerName and DataDir are required")
	}
	// The file's version is taken before it is read: a change written after
	// this reading, even before the watch starts, is then a change to it.
	version := fileVersion(cfg.TopologyFile)
	topo, mat, err := topology.LoadPeer(cfg.TopologyFile, cfg.PeerName)
	if err != nil {
		return nil, err
	}
	self, _ := topo.Peer(cfg.PeerName)
	p := &Peer{cfg: cfg, stopped: make(chan struct{}), loadedVersion: version}
	// "local" names this peer; "peer" in a line names the remote one.
	p.log = cfg.Logger.With("local", cfg.PeerName)
	p.topo.Store(topo)
	p.mat.Store(mat)
	defer func() {
		if err != nil {
			p.teardown()
		}
	}()

	opts := cfg.StoreOptions(cfg.DataDir)
	if p.memory = cmp.Or(cfg.MemoryBudget, self.Memory); p.memory > 0 {
		opts = opts.WithMemoryBudget(p.memory)
	}
	opts.WallClock = cfg.WallClock
	opts.Logger = p.log
	if p.store, err = persist.Open(opts); err != nil {
		return nil, err
	}
	xcfg := cfg.Exchange
	xcfg.Mesh = topo.Mesh
	xcfg.Logger = p.log
	p.ex = exchange.New(p.store, xcfg)

	wake := make(chan struct{}, 1) // membership to links: reconcile now
	meta := nodeMeta{Mesh: topo.Mesh, Region: self.Region, Replica: p.store.Replica().String(),
		Sync: self.Sync, API: self.API}
	p.members, err = newMembership(cfg, p.log, p.topo.Load, self, meta, mat.GossipKeys,
		p.store.Clock().MaxDrift(), func() { signal(wake) })
	if err != nil {
		return nil, err
	}
	p.links, err = newLinks(cfg, p.log, linkDeps{
		self:      pki.PeerIdentity{Mesh: topo.Mesh, Region: self.Region, Name: self.Name},
		syncAddr:  self.Sync,
		mat:       mat,
		topo:      p.topo.Load,
		authorize: p.members.authorizeLink,
		alive:     p.members.aliveSet,
		ex:        p.ex,
		committed: p.store.Committed,
		wake:      wake,
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

// Follow calls f with the items every commit of the peer's store changed —
// local writes and changes merged from other peers alike — from the store's
// commit feed (persist.Store.Follow), until stop is called. f runs on the
// commit path and must return at once.
func (p *Peer) Follow(f func(items []string)) (stop func()) {
	return p.store.Follow(func(c persist.Commit) { f(c.Items) })
}

// MemoryBudget returns the memory budget the peer's store was sized from
// (Config.MemoryBudget, else the topology's), or 0 when it has none.
func (p *Peer) MemoryBudget() int64 { return p.memory }

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

// Run joins the mesh and runs the peer until ctx ends, then gives senders a
// moment to ship what is pending, leaves the pool, closes every link, the pool
// and the store, and returns once every goroutine has stopped.
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

	p.members.start(ctx)
	p.links.start(ctx)
	p.wg.Go(func() { every(ctx, p.cfg.TrimInterval, p.trim) })
	p.wg.Go(func() { p.watchTopology(ctx) })
	<-ctx.Done()

	p.links.drain(2 * time.Second)
	p.members.leave(time.Second)
	p.wg.Wait()
	return p.teardown()
}

// teardown releases everything New set up, in reverse order: the links, the
// membership, the store. Each waits for its goroutines.
func (p *Peer) teardown() error {
	var errs []error
	if p.links != nil {
		errs = append(errs, p.links.Close())
	}
	if p.members != nil {
		errs = append(errs, p.members.Close())
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

// trim trims the change log to what the topology's other peers still need,
// within LogRetention.
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
