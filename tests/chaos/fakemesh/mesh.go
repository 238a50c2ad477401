// Package fakemesh is an in-memory mesh for testing the chaos checker: peers
// grouped in regions, each with its own CRDT state, serving the frontend API
// subset the chaos client uses on real loopback listeners, and replicating to
// each other every few milliseconds unless a fault cuts the link.
//
// A set of Bugs turns it into a deliberately broken build of one invariant, so
// the checker can be seen to catch each of them.
package fakemesh

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/countermesh/countermesh/tests/chaos"
)

// Bug is a set of deliberate defects, each breaking one invariant.
type Bug uint

const (
	// TallyAsCounter keeps each reaction kind's tally as a replicated PN
	// counter (+1 on the new kind, −1 on the old) instead of deriving it from
	// the registers: concurrent reactions of one user in two regions count
	// twice. Breaks invariant 4.
	TallyAsCounter Bug = 1 << iota
	// AckBeforeDurable answers a write before it is durable (it becomes durable,
	// and is shipped to the other peers, DurableLag later), so a kill loses
	// acknowledged writes. Breaks invariant 5, and 2.
	AckBeforeDurable
	// IgnoreIdempotencyKey applies every increment, even one whose key was seen:
	// a retry counts twice. Breaks invariant 2.
	IgnoreIdempotencyKey
	// WallClockLWW ignores causal tokens and stamps writes with the peer's own,
	// possibly skewed, clock. Breaks invariant 3 under a clock skew.
	WallClockLWW
	// NoReplicationToOnePeer drops everything shipped to one peer, for good.
	// Breaks invariant 1 (and 2 and 3: that peer misses acknowledged writes).
	NoReplicationToOnePeer
	// IdempotencyPerPeer remembers an idempotency key only at the peer that
	// received it, and counts the increment in that peer's own PN entry: a
	// retry at the same peer counts once, but one at another peer — after an
	// unknown outcome, or a lost answer — counts again. Breaks invariant 2.
	IdempotencyPerPeer
)

var bugNames = []string{"tally-as-counter", "ack-before-durable", "ignore-idempotency-key", "wall-clock-lww", "no-replication-to-one-peer", "idempotency-per-peer"}

func (b Bug) String() string {
	var names []string
	for i, name := range bugNames {
		if b&(1<<i) != 0 {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ",")
}

// Skew is how far the clock-skew fault moves a region's clock: one region
// ahead by Skew, another behind by Skew.
const Skew = 30 * time.Second

// Options configures a fake mesh.
type Options struct {
	// Regions is how many regions it starts with. Default 3 (at least 2).
	Regions int
	// PeersPerRegion is how many peers each region has. Default 2.
	PeersPerRegion int
	// Kinds are the reaction kinds. Default like, dislike.
	Kinds []string
	// Bugs are the defects to build in. Default none: a correct mesh.
	Bugs Bug
	// ReplicateEvery is how often a peer ships its state to the others.
	// Default 20 ms.
	ReplicateEvery time.Duration
	// DurableLag is how long after its answer a write becomes durable with
	// AckBeforeDurable. Default 1 s: a crash then loses a second of a peer's
	// acknowledged writes, never none.
	DurableLag time.Duration
}

func (o Options) withDefaults() Options {
	if o.Regions < 2 {
		o.Regions = 3
	}
	if o.PeersPerRegion <= 0 {
		o.PeersPerRegion = 2
	}
	if len(o.Kinds) == 0 {
		o.Kinds = []string{"like", "dislike"}
	}
	if o.ReplicateEvery <= 0 {
		o.ReplicateEvery = 20 * time.Millisecond
	}
	if o.DurableLag <= 0 {
		o.DurableLag = time.Second
	}
	return o
}

// Mesh is a fake mesh; it implements chaos.Cluster. Close stops it.
type Mesh struct {
	opts Options
	deaf string // the peer NoReplicationToOnePeer starves

	// mu guards the topology and the faults. A peer's lock may be held while
	// taking it, never the other way round.
	mu       sync.Mutex
	peers    map[string]*peer
	regions  []string
	isolated map[string]bool          // regions cut off from the others
	skew     map[string]time.Duration // clock offset per region
	lost     map[string]bool          // regions whose answers to writes are lost
	closed   bool

	stop  chan struct{}
	loops sync.WaitGroup // replication loops and servers
}

var _ chaos.Cluster = (*Mesh)(nil)

// New starts a fake mesh.
func New(opts Options) (*Mesh, error) {
	opts = opts.withDefaults()
	m := &Mesh{
		opts:     opts,
		peers:    map[string]*peer{},
		isolated: map[string]bool{},
		skew:     map[string]time.Duration{},
		lost:     map[string]bool{},
		stop:     make(chan struct{}),
	}
	if opts.Bugs&NoReplicationToOnePeer != 0 {
		// The last peer of the last region the mesh starts with.
		m.deaf = fmt.Sprintf("r%d-%c", opts.Regions, 'a'+opts.PeersPerRegion-1)
	}
	for range opts.Regions {
		if _, err := m.addRegion(); err != nil {
			m.Close()
			return nil, err
		}
	}
	return m, nil
}

// addRegion starts a new region of PeersPerRegion peers and returns its name.
func (m *Mesh) addRegion() (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return "", errors.New("fake mesh closed")
	}
	region := fmt.Sprintf("r%d", len(m.regions)+1)
	for i := range m.opts.PeersPerRegion {
		p := newPeer(m, fmt.Sprintf("%s-%c", region, 'a'+i), region)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", err
		}
		p.addr = ln.Addr().String()
		p.serve(ln)
		m.peers[p.name] = p
		m.loops.Go(p.replicate)
	}
	m.regions = append(m.regions, region)
	return region, nil
}

// Close stops every peer and waits for their goroutines.
func (m *Mesh) Close() {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return
	}
	m.closed = true
	close(m.stop)
	peers := slices.Collect(maps.Values(m.peers))
	m.mu.Unlock()
	for _, p := range peers {
		p.kill()
	}
	m.loops.Wait()
	for _, p := range peers {
		p.waitHandlers(5 * time.Second)
	}
}

func (m *Mesh) isClosed() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.closed
}

// Describe says what the mesh is.
func (m *Mesh) Describe() string {
	return fmt.Sprintf("fake mesh, %d regions × %d peers in memory, bugs: %s", m.opts.Regions, m.opts.PeersPerRegion, m.opts.Bugs)
}

// Peers returns every peer, sorted.
func (m *Mesh) Peers() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Sorted(maps.Keys(m.peers))
}

// Region returns a peer's region.
func (m *Mesh) Region(name string) string {
	if p := m.peer(name); p != nil {
		return p.region
	}
	return ""
}

// API returns a peer's base URL.
func (m *Mesh) API(name string) string {
	if p := m.peer(name); p != nil {
		return "http://" + p.addr
	}
	return "http://127.0.0.1:1"
}

// Token returns "": the fake API is open.
func (m *Mesh) Token() string { return "" }

func (m *Mesh) peer(name string) *peer {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.peers[name]
}

// now is the clock of a region's peers.
func (m *Mesh) now(region string) time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return time.Now().Add(m.skew[region])
}

// losesAnswers reports whether a region's peers lose their answers to writes.
func (m *Mesh) losesAnswers(region string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.lost[region]
}

// linked reports whether replication flows from one peer to another.
func (m *Mesh) linked(from, to *peer) bool {
	if to.name == m.deaf {
		return false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return from.region == to.region || (!m.isolated[from.region] && !m.isolated[to.region])
}

// others returns every peer but p.
func (m *Mesh) others(p *peer) []*peer {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*peer
	for _, q := range m.peers {
		if q != p {
			out = append(out, q)
		}
	}
	return out
}

// Faults offers a region partition, a clock skew of two regions (one ahead,
// one behind), a region added for good, and a region whose peers apply writes
// but lose the answers (as behind an overloaded link: the client times out on
// a write that counted).
func (m *Mesh) Faults() []chaos.Fault {
	under := func(f func()) func(context.Context) error {
		return func(context.Context) error {
			m.mu.Lock()
			defer m.mu.Unlock()
			f()
			return nil
		}
	}
	// oneRegion marks a random region in set for the fault's time.
	oneRegion := func(name string, set map[string]bool, what string) chaos.Fault {
		return chaos.Fault{
			Name: name,
			Inject: func(_ context.Context, rng *rand.Rand) (string, error) {
				m.mu.Lock()
				defer m.mu.Unlock()
				r := m.regions[rng.IntN(len(m.regions))]
				set[r] = true
				return r + what, nil
			},
			Repair: under(func() { clear(set) }),
		}
	}
	return []chaos.Fault{
		oneRegion("partition", m.isolated, " cut off from the other regions"),
		{
			Name: "clock-skew",
			Inject: func(_ context.Context, rng *rand.Rand) (string, error) {
				m.mu.Lock()
				defer m.mu.Unlock()
				order := rng.Perm(len(m.regions))
				ahead, behind := m.regions[order[0]], m.regions[order[1]]
				m.skew[ahead], m.skew[behind] = Skew, -Skew
				return fmt.Sprintf("%s clock +%s, %s clock -%s", ahead, Skew, behind, Skew), nil
			},
			Repair: under(func() { clear(m.skew) }),
		},
		{
			Name: "add-region",
			Once: true,
			Inject: func(context.Context, *rand.Rand) (string, error) {
				r, err := m.addRegion()
				if err != nil {
					return "", err
				}
				return r + " added, empty", nil
			},
		},
		oneRegion("lost-answers", m.lost, "'s peers apply writes, then drop the connection unanswered"),
	}
}

// Kill stops a peer abruptly: its server closes and what is not durable is lost.
func (m *Mesh) Kill(name string) error {
	p := m.peer(name)
	if p == nil {
		return fmt.Errorf("no peer %q", name)
	}
	p.kill()
	return nil
}

// Restart starts a killed peer on its durable state at the same address.
func (m *Mesh) Restart(ctx context.Context, name string) error {
	p := m.peer(name)
	if p == nil {
		return fmt.Errorf("no peer %q", name)
	}
	return p.restart(ctx)
}

// Heal ends every partition, skew and loss of answers, and restarts killed
// peers.
func (m *Mesh) Heal(ctx context.Context) error {
	m.mu.Lock()
	clear(m.isolated)
	clear(m.skew)
	clear(m.lost)
	peers := slices.Collect(maps.Values(m.peers))
	m.mu.Unlock()
	for _, p := range peers {
		if err := p.restart(ctx); err != nil {
			return err
		}
	}
	return nil
}

// Final returns every peer's state of items, registers included.
func (m *Mesh) Final(_ context.Context, items []string) (map[string]chaos.PeerState, error) {
	m.mu.Lock()
	peers := slices.Collect(maps.Values(m.peers))
	m.mu.Unlock()
	out := map[string]chaos.PeerState{}
	for _, p := range peers {
		out[p.name] = p.final(items)
	}
	return out, nil
}
