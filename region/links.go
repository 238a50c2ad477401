package region

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync"
	"time"

	"github.com/countermesh/countermesh/sync/exchange"
	"github.com/countermesh/countermesh/sync/transport"
	"github.com/countermesh/countermesh/topology"
	"github.com/countermesh/countermesh/topology/pki"
)

// activeLink is a link being served by the exchange.
type activeLink struct {
	link *transport.Link
	done chan struct{} // closed when its exchange has returned
}

// links keeps a QUIC link to every live peer of the topology and runs the
// exchange over each: it listens on this peer's sync address, accepts the
// links other peers dial, dials the ones this peer owes, closes the ones to
// peers gone from the topology or the pool, and runs anti-entropy over a
// random link every AntiEntropyInterval. It owns every goroutine doing so;
// Close ends the links and waits for them.
type links struct {
	self        string
	dialEvery   time.Duration
	antiEntropy time.Duration
	network     Network
	log         *slog.Logger
	topo        func() *topology.Topology // the topology in force
	alive       func() map[string]bool    // the pool's view: alive, by name
	ex          *exchange.Exchange
	committed   func() <-chan struct{} // the store's commit notification
	quic        net.PacketConn
	tr          *transport.Transport

	wakeCh    chan struct{} // membership or topology changed: reconcile now
	linkEnded chan struct{} // a served link ended: drain looks again

	mu      sync.Mutex
	m       map[string]*activeLink // at most one served link per peer, by name
	dialing map[string]bool

	stop      context.CancelFunc // ends every goroutine; nil before start
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// linkDeps is what the links use of the rest of the peer.
type linkDeps struct {
	self      pki.PeerIdentity             // this peer, as its certificate says
	syncAddr  string                       // where it listens for links
	mat       *topology.Material           // its certificate and the CA
	topo      func() *topology.Topology    // the topology in force
	authorize func(pki.PeerIdentity) error // the admission rule
	alive     func() map[string]bool       // the pool's view: alive, by name
	ex        *exchange.Exchange           // the protocol run over each link
	committed func() <-chan struct{}       // the store's commit notification
	wake      chan struct{}                // of capacity 1: reconcile now
}

// newLinks listens for links on d.syncAddr with d.mat's certificate and CA,
// admitting remote peers by d.authorize. Nothing is served until start. On
// failure it releases what it set up.
func newLinks(cfg Config, log *slog.Logger, d linkDeps) (_ *links, err error) {
	l := &links{self: cfg.PeerName, dialEvery: cfg.DialInterval, antiEntropy: cfg.AntiEntropyInterval,
		network: cfg.Network, log: log, topo: d.topo, alive: d.alive, ex: d.ex, committed: d.committed,
		wakeCh: d.wake, linkEnded: make(chan struct{}, 1),
		m: map[string]*activeLink{}, dialing: map[string]bool{}}
	if l.quic, err = cfg.Network.ListenPacket(d.syncAddr); err != nil {
		return nil, fmt.Errorf("region: sync address: %w", err)
	}
	l.tr, err = transport.Listen(l.quic, transport.Config{
		Identity:    d.self,
		Certificate: d.mat.Certificate,
		CA:          d.mat.CAPool,
		Authorize:   d.authorize,
		IdleTimeout: cfg.LinkIdleTimeout,
		KeepAlive:   cfg.LinkIdleTimeout / 5,
		Logger:      log,
	})
	if err != nil {
		l.quic.Close()
		return nil, err
	}
	return l, nil
}

// start serves links until Close (not the end of ctx: see below): the accepted ones, the ones
// reconciling dials, and an anti-entropy round every AntiEntropyInterval.
func (l *links) start(ctx context.Context) {
	// The links outlive the end of ctx until Close, so that the peer's drain
	// can ship what is pending over them after Run was told to stop.
	ctx, l.stop = context.WithCancel(context.WithoutCancel(ctx))
	l.wg.Go(func() { l.accept(ctx) })
	l.wg.Go(func() { l.manage(ctx) })
	l.wg.Go(func() { every(ctx, l.antiEntropy, func() { l.antiEntropyRound(ctx) }) })
}

// wake asks the link manager to reconcile links now. It never blocks.
func (l *links) wake() { signal(l.wakeCh) }

// linked reports whether a link to the named peer is being served.
func (l *links) linked(name string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.m[name] != nil
}

// accept serves every link other peers dial to us.
func (l *links) accept(ctx context.Context) {
	for {
		link, err := l.tr.Accept(ctx)
		if err != nil {
			if ctx.Err() == nil && !errors.Is(err, transport.ErrClosed) {
				l.log.Warn("accept link", "err", err)
			}
			return
		}
		l.serve(ctx, link)
	}
}

// manage keeps one link to every live peer of the topology: the peer whose
// name sorts first dials, so two peers never race to link each other. It also
// closes links to peers that left the topology or the pool.
func (l *links) manage(ctx context.Context) {
	t := time.NewTicker(l.dialEvery)
	defer t.Stop()
	for {
		l.reconcile(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-l.wakeCh:
		}
	}
}

func (l *links) reconcile(ctx context.Context) {
	topo := l.topo()
	alive := l.alive()
	l.mu.Lock()
	defer l.mu.Unlock()
	for name, al := range l.m {
		q, ok := topo.Peer(name)
		switch {
		case !ok:
			al.link.Close("removed from the topology")
		case !alive[name]:
			al.link.Close("left the memberlist pool")
		case q.Region != al.link.Peer().Region:
			al.link.Close("moved to another region")
		}
	}
	for _, q := range topo.Peers() {
		if q.Name <= l.self || !alive[q.Name] || l.m[q.Name] != nil || l.dialing[q.Name] {
			continue
		}
		l.dialing[q.Name] = true
		l.wg.Go(func() {
			defer func() {
				l.mu.Lock()
				delete(l.dialing, q.Name)
				l.mu.Unlock()
			}()
			addr, err := l.network.ResolvePacketAddr(q.Sync)
			if err != nil {
				l.log.Warn("resolve sync address", "peer", q.Name, "err", err)
				return
			}
			link, err := l.tr.Dial(ctx, addr, q.Name)
			if err != nil {
				if ctx.Err() == nil {
					l.log.Info("dial failed; will retry", "to", q.Name, "err", err)
				}
				return
			}
			l.serve(ctx, link)
		})
	}
}

// serve runs the exchange over link, replacing any older link to the same peer.
func (l *links) serve(ctx context.Context, link *transport.Link) {
	name := link.Peer().Name
	al := &activeLink{link: link, done: make(chan struct{})}
	l.mu.Lock()
	old := l.m[name]
	l.m[name] = al
	l.mu.Unlock()
	if old != nil {
		old.link.Close("replaced by a newer link")
	}
	l.wg.Go(func() {
		defer close(al.done)
		err := l.ex.Serve(ctx, exchangeLink{link})
		l.mu.Lock()
		if l.m[name] == al {
			delete(l.m, name)
		}
		l.mu.Unlock()
		signal(l.linkEnded)
		if ctx.Err() == nil {
			l.log.Info("link down", "to", name, "reason", err)
			l.wake()
		}
	})
}

// antiEntropyRound runs one anti-entropy round with a random linked peer.
func (l *links) antiEntropyRound(ctx context.Context) {
	l.mu.Lock()
	var candidates []*activeLink
	for _, al := range l.m {
		candidates = append(candidates, al)
	}
	l.mu.Unlock()
	if len(candidates) == 0 {
		return
	}
	al := candidates[rand.IntN(len(candidates))]
	if _, err := l.ex.AntiEntropy(ctx, exchangeLink{al.link}); err != nil && ctx.Err() == nil {
		l.log.Debug("anti-entropy", "with", al.link.Peer().Name, "err", err)
	}
}

// Close ends every link and waits for every goroutine serving them, then
// closes the sync socket. It is safe to call more than once, and on links
// that never started.
func (l *links) Close() error {
	l.closeOnce.Do(func() {
		if l.stop != nil {
			l.stop()
		}
		l.closeErr = l.tr.Close() // ends every link; the exchange goroutines return
		l.wg.Wait()
		l.quic.Close()
	})
	return l.closeErr
}

// drainRecheck bounds how long drain goes without looking at the exchange's
// stats: an acknowledgement commits to the store (which drain waits on) just
// before the exchange counts it.
const drainRecheck = 50 * time.Millisecond

// drain waits, up to timeout, until every linked peer has acknowledged every
// local change. It looks again whenever the store commits (a change, or a
// peer's acknowledgement), a served link ends, or drainRecheck passes.
// drain waits on the links being served; start must have been called.
func (l *links) drain(timeout time.Duration) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	recheck := time.NewTicker(drainRecheck)
	defer recheck.Stop()
	for {
		committed := l.committed() // before the stats: a commit after them wakes us
		if !l.pending() {
			return
		}
		select {
		case <-committed:
		case <-l.linkEnded:
		case <-recheck.C:
		case <-deadline.C:
			l.log.Warn("shutting down with changes not yet acknowledged by some peers")
			return
		}
	}
}

// pending reports whether some linked peer has not acknowledged every local
// change.
func (l *links) pending() bool {
	for _, s := range l.ex.Stats() {
		if s.Linked && s.LagSeqs > 0 {
			return true
		}
	}
	return false
}

// exchangeLink adapts a transport link to the exchange.
type exchangeLink struct{ l *transport.Link }

func (x exchangeLink) PeerName() string          { return x.l.Peer().Name }
func (x exchangeLink) Close(reason string) error { return x.l.Close(reason) }
func (x exchangeLink) Done() <-chan struct{}     { return x.l.Done() }

func (x exchangeLink) OpenStream(ctx context.Context) (exchange.Stream, error) {
	s, err := x.l.OpenStream(ctx)
	if err != nil {
		return nil, err
	}
	return s, nil
}

func (x exchangeLink) AcceptStream(ctx context.Context) (exchange.Stream, error) {
	s, err := x.l.AcceptStream(ctx)
	if err != nil {
		return nil, err
	}
	return s, nil
}
