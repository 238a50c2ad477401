package exchange

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/countermesh/countermesh/crdt"
)

// ErrProtocol is matched by errors caused by a peer breaking the protocol: a
// malformed message, another version, an unexpected type, another mesh.
var ErrProtocol = errors.New("exchange: protocol violation")

// Exchange runs the sync protocol of one peer over any number of links. It is safe
// for concurrent use.
type Exchange struct {
	store Store
	cfg   Config
	clock clock
	lag   commitTimes

	mu        sync.Mutex
	peers     map[string]*peerState        // by peer name
	receivers map[crdt.ReplicaID]*receiver // what this side takes from each replica
	applied   map[crdt.ReplicaID]uint64    // each replica's Applied mark, as its receiver reports it
}

// peerState is what the exchange knows of one remote peer.
type peerState struct {
	replica       crdt.ReplicaID
	acked         uint64
	bytesSent     uint64
	bytesReceived uint64
	skew          string // last refusal for clock drift, from either side
	// retry holds the keys the peer refused while no sending session holds
	// them; retrying is how many keys the peer refuses now, as the sending
	// session last counted.
	retry    retrySet
	retrying int
	// refusals counts every key of the peer refused, at each offer; its
	// receiver holds the keys refused now.
	refusals uint64
	// links counts the links being served: a newer link to a peer starts
	// before the one it replaces has stopped.
	links int
}

// New returns an Exchange over store.
func New(store Store, cfg Config) *Exchange {
	return &Exchange{store: store, cfg: cfg.withDefaults(), clock: wallClock{}, peers: make(map[string]*peerState),
		receivers: make(map[crdt.ReplicaID]*receiver), applied: make(map[crdt.ReplicaID]uint64)}
}

// peer returns the state of the named peer, creating it. Callers hold e.mu.
func (e *Exchange) peerLocked(name string) *peerState {
	p, ok := e.peers[name]
	if !ok {
		p = &peerState{}
		e.peers[name] = p
	}
	return p
}

func (e *Exchange) update(name string, f func(p *peerState)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	f(e.peerLocked(name))
}

// Serve runs the protocol over link until the link is gone or ctx ends: it ships
// this replica's changes and answers everything the peer opens. It closes the link
// with a reason when the peer breaks the protocol, and returns why it stopped.
func (e *Exchange) Serve(ctx context.Context, link Link) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	name := link.PeerName()
	// Serve owns the link while it runs: closing it on the way out unblocks every
	// stream read and write.
	defer func() { link.Close("sync stopped: " + context.Cause(ctx).Error()) }()
	e.update(name, func(p *peerState) { p.links++ })
	defer e.update(name, func(p *peerState) { p.links-- })

	var wg sync.WaitGroup
	fail := func(err error) {
		if err == nil || ctx.Err() != nil {
			return
		}
		cancel(err)
		if errors.Is(err, ErrProtocol) {
			e.cfg.Logger.Warn("exchange: closing link", "peer", name, "reason", err)
			link.Close(err.Error())
		}
	}
	wg.Go(func() {
		select {
		case <-link.Done():
			cancel(errors.New("link closed"))
		case <-ctx.Done():
		}
	})
	wg.Go(func() { fail(e.sendLoop(ctx, link)) })
	wg.Go(func() {
		for {
			st, err := link.AcceptStream(ctx)
			if err != nil {
				fail(err)
				return
			}
			wg.Go(func() {
				defer st.Close()
				// A stream that ends, even badly, ends alone; a protocol
				// violation ends the link.
				if err := e.answer(ctx, link, st); errors.Is(err, ErrProtocol) {
					fail(err)
				} else if err != nil && ctx.Err() == nil {
					e.cfg.Logger.Debug("exchange: stream ended", "peer", name, "err", err)
				}
			})
		}
	})
	<-ctx.Done()
	link.Close("sync stopped: " + context.Cause(ctx).Error())
	wg.Wait()
	return context.Cause(ctx)
}

// answer serves one stream the peer opened: a batch stream or an anti-entropy
// round, as its first message after the hello says.
func (e *Exchange) answer(ctx context.Context, link Link, st Stream) error {
	name := link.PeerName()
	replica, err := e.acceptHello(name, st)
	if err != nil {
		return err
	}
	m, err := e.read(name, st)
	if err != nil {
		return err
	}
	switch m.Type {
	case MsgBatch:
		return e.receive(ctx, name, replica, st, m)
	case MsgDigest:
		return e.answerAntiEntropy(ctx, name, replica, st, m)
	}
	return fmt.Errorf("%w: %s opened a stream with %s", ErrProtocol, name, m.Type)
}

// write sends m on st, counting its bytes against the peer.
func (e *Exchange) write(peer string, st Stream, m Message) error {
	b := EncodeMessage(m)
	if err := st.WriteFrame(b); err != nil {
		return fmt.Errorf("send %s to %s: %w", m.Type, peer, err)
	}
	e.update(peer, func(p *peerState) { p.bytesSent += uint64(len(b)) })
	return nil
}

// read receives one message from st; a malformed one is a protocol violation.
func (e *Exchange) read(peer string, st Stream) (Message, error) {
	b, err := st.ReadFrame()
	if err != nil {
		return Message{}, fmt.Errorf("read from %s: %w", peer, err)
	}
	e.update(peer, func(p *peerState) { p.bytesReceived += uint64(len(b)) })
	m, err := DecodeMessage(b)
	if err != nil {
		return m, fmt.Errorf("%w: from %s: %w", ErrProtocol, peer, err)
	}
	return m, nil
}

// expect reads one message and checks its type.
func (e *Exchange) expect(peer string, st Stream, t MessageType) (Message, error) {
	m, err := e.read(peer, st)
	if err == nil && m.Type != t {
		err = fmt.Errorf("%w: from %s: got %s, want %s", ErrProtocol, peer, m.Type, t)
	}
	return m, err
}

// hello is this side's hello.
func (e *Exchange) hello() Message {
	return Message{Type: MsgHello, Mesh: e.cfg.Mesh, Replica: e.store.Replica()}
}

// checkHello validates a peer's hello and records its replica.
func (e *Exchange) checkHello(peer string, m Message) (crdt.ReplicaID, error) {
	if m.Mesh != e.cfg.Mesh {
		return 0, fmt.Errorf("%w: %s is of mesh %q, not %q", ErrProtocol, peer, m.Mesh, e.cfg.Mesh)
	}
	if m.Replica == 0 || m.Replica == e.store.Replica() {
		return 0, fmt.Errorf("%w: %s claims replica %s", ErrProtocol, peer, m.Replica)
	}
	e.update(peer, func(p *peerState) { p.replica = m.Replica })
	return m.Replica, nil
}

// openStream opens a stream and exchanges hellos, opener first, within
// IOTimeout; the stream it returns has no deadline.
func (e *Exchange) openStream(ctx context.Context, link Link) (Stream, crdt.ReplicaID, error) {
	name := link.PeerName()
	st, err := link.OpenStream(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("open stream to %s: %w", name, err)
	}
	replica, err := e.shakeHands(name, st, true)
	if err != nil {
		st.Close()
	}
	return st, replica, err
}

// acceptHello answers, within IOTimeout, the hello that opens a stream the peer
// opened; the stream is left with no deadline.
func (e *Exchange) acceptHello(name string, st Stream) (crdt.ReplicaID, error) {
	return e.shakeHands(name, st, false)
}

// shakeHands exchanges hellos on st, this side first if it opened st, within
// IOTimeout, and clears the deadline after.
func (e *Exchange) shakeHands(name string, st Stream, opener bool) (crdt.ReplicaID, error) {
	if err := st.SetDeadline(time.Now().Add(e.cfg.IOTimeout)); err != nil {
		return 0, err
	}
	if opener {
		if err := e.write(name, st, e.hello()); err != nil {
			return 0, err
		}
	}
	m, err := e.expect(name, st, MsgHello)
	if err != nil {
		return 0, err
	}
	replica, err := e.checkHello(name, m)
	if err != nil {
		return 0, err
	}
	if !opener {
		if err := e.write(name, st, e.hello()); err != nil {
			return 0, err
		}
	}
	return replica, st.SetDeadline(time.Time{})
}

// boundBy makes st's reads and writes fail once ctx ends (its deadline, or its
// cancellation), so no blocked read outlives the work it was for. The returned
// func releases the binding.
func boundBy(ctx context.Context, st Stream) (release func()) {
	if d, ok := ctx.Deadline(); ok {
		_ = st.SetDeadline(d)
	}
	stop := context.AfterFunc(ctx, func() { _ = st.SetDeadline(time.Now()) })
	return func() { stop() }
}

// Applied returns the highest sequence of replica's own changes known to be
// merged into this store since this Exchange started: every change of replica up
// to it is readable here. A causal token's wait uses it. While this store refuses
// some keys of replica (beyond max drift), it stays where it was before the first
// of them.
func (e *Exchange) Applied(replica crdt.ReplicaID) uint64 {
	if replica == e.store.Replica() {
		return e.store.LastSeq()
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.applied[replica]
}

// merge merges d into the store and returns the
// outcome as the receiver's event: the keys it refused are those whose
// timestamps are beyond the max clock drift, which the peer is to offer again.
func (e *Exchange) merge(ctx context.Context, d crdt.Delta) (receiverEvent, error) {
	res, err := e.store.Merge(ctx, d)
	if err != nil {
		return receiverEvent{}, err
	}
	ev := receiverEvent{kind: rcvMerged, delta: d, refused: res.Refused}
	if res.Drift != nil {
		ev.drift = res.Drift
	}
	return ev, nil
}

// PeerStats is what the exchange reports about one remote peer.
type PeerStats struct {
	Name          string
	Replica       crdt.ReplicaID // zero until the first hello
	Linked        bool           // a link is being served
	Acked         uint64         // highest local sequence the peer acknowledged
	LagSeqs       uint64         // local sequences it has not acknowledged
	LagSeconds    float64        // age of the oldest change it has not acknowledged
	BytesSent     uint64
	BytesReceived uint64
	Skew          string // last clock-drift refusal, from either side, if any
	// RefusedKeys is how many local keys the peer refuses now (timestamps beyond
	// its max clock drift); they are offered again until it takes them.
	RefusedKeys int
	// RefusingKeys is how many of the peer's keys this peer refuses now.
	RefusingKeys int
	// Refusals counts the keys this peer refused from the peer, at every offer.
	Refusals uint64
}

// Stats reports on every peer the exchange has seen, by name.
func (e *Exchange) Stats() map[string]PeerStats {
	last := e.store.LastSeq()
	now := e.clock.Now()
	e.lag.note(last, now)
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make(map[string]PeerStats, len(e.peers))
	for name, p := range e.peers {
		s := PeerStats{Name: name, Replica: p.replica, Linked: p.links > 0, Acked: p.acked,
			BytesSent: p.bytesSent, BytesReceived: p.bytesReceived, Skew: p.skew,
			RefusedKeys: p.retrying, Refusals: p.refusals}
		if r, ok := e.receivers[p.replica]; ok {
			s.RefusingKeys = r.refusing.Len()
		}
		if last > p.acked {
			s.LagSeqs = last - p.acked
			s.LagSeconds = e.lag.ageOfFirstAfter(p.acked, now).Seconds()
		}
		out[name] = s
	}
	return out
}
