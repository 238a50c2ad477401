package fakemesh

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/countermesh/countermesh/tests/chaos"
)

// pending is a write answered but not yet durable (AckBeforeDurable).
type pending struct {
	due   time.Time
	delta *store
	key   string // IdempotencyPerPeer: the key the write applied
}

// peer is one peer of the fake mesh.
type peer struct {
	m            *Mesh
	name, region string
	addr         string // fixed for its life: a restart listens on it again

	inflight atomic.Int64 // requests being handled

	mu      sync.Mutex
	alive   bool
	live    *store // what it serves; lost on a kill
	durable *store // what survives a kill and is shipped; live itself unless AckBeforeDurable
	pending []pending
	hlc     uint64            // hybrid logical clock: ms << 16 | logical
	seq     uint64            // WallClockLWW: tie breaker of a peer's stamps
	version uint64            // bumped on every change of durable
	snap    *store            // durable as of snapVer, shared by the receivers
	snapVer uint64            // version of snap
	seen    map[string]uint64 // per sender, the version last merged
	srv     *http.Server
	served  chan struct{} // closed when srv's Serve returned
}

func newPeer(m *Mesh, name, region string) *peer {
	p := &peer{m: m, name: name, region: region, alive: true, live: newStore(), seen: map[string]uint64{}}
	p.durable = p.live
	if m.opts.Bugs&AckBeforeDurable != 0 {
		p.durable = newStore()
	}
	return p
}

func (p *peer) bug(b Bug) bool { return p.m.opts.Bugs&b != 0 }

// serve starts the peer's API on ln. Called with the peer running.
func (p *peer) serve(ln net.Listener) {
	srv := &http.Server{Handler: p.routes(), ReadHeaderTimeout: 5 * time.Second}
	served := make(chan struct{})
	p.srv, p.served = srv, served
	go func() {
		defer close(served)
		srv.Serve(ln)
	}()
}

// kill drops the volatile state and closes the server and its connections.
func (p *peer) kill() {
	p.mu.Lock()
	srv, served := p.srv, p.served
	p.alive, p.srv = false, nil
	p.pending = nil
	if p.live != p.durable {
		p.live = nil
	}
	p.mu.Unlock()
	if srv != nil {
		srv.Close()
		<-served
	}
}

// restart brings a killed peer back on its durable state, on the same address.
// A running peer is left alone.
func (p *peer) restart(ctx context.Context) error {
	p.mu.Lock()
	running := p.alive
	p.mu.Unlock()
	if running {
		return nil
	}
	var ln net.Listener
	var err error
	for {
		if ln, err = net.Listen("tcp", p.addr); err == nil {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("restart %s: %w (last: %v)", p.name, ctx.Err(), err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m.isClosed() {
		ln.Close()
		return errors.New("fake mesh closed")
	}
	p.live = p.durable
	if p.bug(AckBeforeDurable) {
		p.live = p.durable.clone(true)
	}
	p.alive = true
	p.serve(ln)
	return nil
}

// waitHandlers waits for the requests being handled to finish, up to timeout.
func (p *peer) waitHandlers(timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for p.inflight.Load() > 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
}

// replicate ships the peer's durable state to every peer it is linked to, and
// with AckBeforeDurable makes due writes durable, until the mesh closes.
func (p *peer) replicate() {
	t := time.NewTicker(p.m.opts.ReplicateEvery)
	defer t.Stop()
	for {
		select {
		case <-p.m.stop:
			return
		case <-t.C:
		}
		snap, ver := p.snapshot()
		if snap == nil {
			continue
		}
		for _, q := range p.m.others(p) {
			if p.m.linked(p, q) {
				q.receive(p.name, ver, snap)
			}
		}
	}
}

// snapshot makes due writes durable and returns the durable state to ship, or
// nil if the peer is down.
func (p *peer) snapshot() (*store, uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.alive {
		return nil, 0
	}
	now := time.Now()
	for len(p.pending) > 0 && !p.pending[0].due.After(now) {
		w := p.pending[0]
		p.pending = p.pending[1:]
		p.durable.join(w.delta)
		if w.key != "" {
			p.durable.keys[w.key] = true
		}
		p.version++
	}
	if p.snap == nil || p.snapVer != p.version {
		p.snap, p.snapVer = p.durable.clone(false), p.version
	}
	return p.snap, p.snapVer
}

// receive merges a sender's shipped state, unless it has merged that version.
func (p *peer) receive(from string, ver uint64, snap *store) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.alive || p.seen[from] >= ver {
		return
	}
	p.seen[from] = ver
	if p.live != p.durable {
		p.live.join(snap)
	}
	if p.durable.join(snap) {
		p.version++
	}
	p.hlc = max(p.hlc, snap.maxTS)
}

// commit applies a local write's delta: at once to the durable state, or with
// AckBeforeDurable to the live one, durable later.
func (p *peer) commit(delta *store, key string) {
	p.live.join(delta)
	if key != "" {
		p.live.keys[key] = true
	}
	if p.live == p.durable {
		p.version++
		return
	}
	p.pending = append(p.pending, pending{due: time.Now().Add(p.m.opts.DurableLag), delta: delta, key: key})
}

// stamp returns the timestamp of a local write that observed token.
func (p *peer) stamp(token uint64) uint64 {
	wall := uint64(p.m.now(p.region).UnixMilli()) << 16
	if p.bug(WallClockLWW) {
		p.seq++
		ts := wall | p.seq&0xffff
		p.hlc = max(p.hlc, ts)
		return ts
	}
	p.hlc = max(p.hlc+1, wall, token+1)
	return p.hlc
}

// increment adds by to a counter unless key was applied already. Keyed, the
// increment joins the item's replicated keyed increments, so any peer that
// has the key from anywhere answers a retry as replayed and the converged
// mesh counts it once. With IdempotencyPerPeer (or IgnoreIdempotencyKey) it
// raises the peer's own PN entry, and only the peer remembers the key.
func (p *peer) increment(item, name string, by int64, key string) {
	it := p.live.item(item)
	if key != "" && !p.bug(IdempotencyPerPeer|IgnoreIdempotencyKey) {
		if _, replayed := it.keyed[name][key]; replayed {
			return
		}
		delta := newStore()
		keyedOf(delta.item(item), name)[key] = by
		p.commit(delta, "")
		return
	}
	if key != "" {
		key = item + "/" + name + "/" + key
		if p.live.keys[key] && !p.bug(IgnoreIdempotencyKey) {
			return
		}
	}
	e := it.counters[name][p.name]
	if by > 0 {
		e.p += by
	} else {
		e.n -= by
	}
	delta := newStore()
	counter(delta.item(item).counters, name)[p.name] = e
	p.commit(delta, key)
}

// react sets user's reaction to item ("" for none), stamped above token.
func (p *peer) react(item, user, kind string, token uint64) {
	r := register{ts: p.stamp(token), replica: p.name, kind: kind}
	delta := newStore()
	delta.item(item).regs[user] = r
	it := p.live.item(item)
	if old, had := it.regs[user]; p.bug(TallyAsCounter) && (!had || r.beats(old)) && old.kind != kind {
		if old.kind != "" {
			e := it.tallyPN[old.kind][p.name]
			e.n++
			counter(delta.item(item).tallyPN, old.kind)[p.name] = e
		}
		if kind != "" {
			e := it.tallyPN[kind][p.name]
			e.p++
			counter(delta.item(item).tallyPN, kind)[p.name] = e
		}
	}
	p.commit(delta, "")
}

// view returns an item as the API shows it, with the causal token.
func (p *peer) view(item string) (chaos.ItemState, string) {
	return p.live.view(item, p.m.opts.Kinds, true, p.bug(TallyAsCounter)), strconv.FormatUint(p.hlc, 10)
}

// final returns the peer's state of items, registers included; a peer down
// shows its durable state.
func (p *peer) final(items []string) chaos.PeerState {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.live
	if !p.alive {
		s = p.durable
	}
	st := chaos.PeerState{}
	for _, it := range items {
		st[it] = s.view(it, p.m.opts.Kinds, true, p.bug(TallyAsCounter))
	}
	return st
}
