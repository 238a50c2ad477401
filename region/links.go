package region

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/countermesh/countermesh/sync/exchange"
	"github.com/countermesh/countermesh/sync/transport"
)

// activeLink is a link being served by the exchange.
type activeLink struct {
	link *transport.Link
	done chan struct{} // closed when its exchange has returned
}

// linkTable holds at most one served link per remote peer, and every goroutine
// serving one.
type linkTable struct {
	mu      sync.Mutex
	m       map[string]*activeLink // by peer name
	dialing map[string]bool
	wg      sync.WaitGroup
}

func (t *linkTable) get(name string) *activeLink {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.m[name]
}

// wait waits for every serving goroutine.
func (t *linkTable) wait() { t.wg.Wait() }

// acceptLinks serves every link other peers dial to us.
func (p *Peer) acceptLinks(ctx context.Context) {
	for {
		l, err := p.tr.Accept(ctx)
		if err != nil {
			if ctx.Err() == nil && !errors.Is(err, transport.ErrClosed) {
				p.log.Warn("accept link", "err", err)
			}
			return
		}
		p.serve(ctx, l)
	}
}

// manageLinks keeps one link to every live peer of the topology: the peer whose
// name sorts first dials, so two peers never race to link each other. It also
// closes links to peers that left the topology or the pool.
func (p *Peer) manageLinks(ctx context.Context) {
	t := time.NewTicker(p.cfg.DialInterval)
	defer t.Stop()
	for {
		p.reconcile(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-p.wakeCh:
		}
	}
}

func (p *Peer) reconcile(ctx context.Context) {
	topo := p.topo.Load()
	alive := map[string]bool{}
	for _, n := range p.ml.Members() {
		alive[n.Name] = n.State == memberlist.StateAlive
	}
	p.links.mu.Lock()
	defer p.links.mu.Unlock()
	if p.links.dialing == nil {
		p.links.dialing = map[string]bool{}
	}
	for name, al := range p.links.m {
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
		if q.Name <= p.cfg.PeerName || !alive[q.Name] || p.links.m[q.Name] != nil || p.links.dialing[q.Name] {
			continue
		}
		p.links.dialing[q.Name] = true
		p.links.wg.Go(func() {
			defer func() {
				p.links.mu.Lock()
				delete(p.links.dialing, q.Name)
				p.links.mu.Unlock()
			}()
			addr, err := p.cfg.Network.ResolvePacketAddr(q.Sync)
			if err != nil {
				p.log.Warn("resolve sync address", "peer", q.Name, "err", err)
				return
			}
			l, err := p.tr.Dial(ctx, addr, q.Name)
			if err != nil {
				if ctx.Err() == nil {
					p.log.Info("dial failed; will retry", "to", q.Name, "err", err)
				}
				return
			}
			p.serve(ctx, l)
		})
	}
}

// serve runs the exchange over l, replacing any older link to the same peer.
func (p *Peer) serve(ctx context.Context, l *transport.Link) {
	name := l.Peer().Name
	al := &activeLink{link: l, done: make(chan struct{})}
	p.links.mu.Lock()
	old := p.links.m[name]
	p.links.m[name] = al
	p.links.mu.Unlock()
	if old != nil {
		old.link.Close("replaced by a newer link")
	}
	p.links.wg.Go(func() {
		defer close(al.done)
		err := p.ex.Serve(ctx, exchangeLink{l})
		p.links.mu.Lock()
		if p.links.m[name] == al {
			delete(p.links.m, name)
		}
		p.links.mu.Unlock()
		if ctx.Err() == nil {
			p.log.Info("link down", "to", name, "reason", err)
			p.wake()
		}
	})
}

// antiEntropy runs one anti-entropy round with a random linked peer.
func (p *Peer) antiEntropy(ctx context.Context) {
	p.links.mu.Lock()
	var candidates []*activeLink
	for _, al := range p.links.m {
		candidates = append(candidates, al)
	}
	p.links.mu.Unlock()
	if len(candidates) == 0 {
		return
	}
	al := candidates[rand.IntN(len(candidates))]
	if _, err := p.ex.AntiEntropy(ctx, exchangeLink{al.link}); err != nil && ctx.Err() == nil {
		p.log.Debug("anti-entropy", "with", al.link.Peer().Name, "err", err)
	}
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
