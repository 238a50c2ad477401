package faultnet

import (
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"net"
	"sync"
	"time"
)

// Errors of the network. Socket and stream errors are [*net.OpError]s that wrap
// them (or [net.ErrClosed], [os.ErrDeadlineExceeded], [io.EOF]).
var (
	// ErrLinkDown is returned when dialling over a link that is down, and by
	// both ends of a stream that a partition broke.
	ErrLinkDown = errors.New("faultnet: link down")
	// ErrRefused is returned when dialling an address nobody listens on, or a
	// listener whose backlog is full.
	ErrRefused = errors.New("faultnet: connection refused")
	// ErrAddrInUse is returned when listening on an address already taken.
	ErrAddrInUse = errors.New("faultnet: address already in use")
)

// Faults are the faults of one direction of a link between two hosts. The zero
// value is a perfect link.
type Faults struct {
	// Down drops every packet and refuses or breaks every stream.
	Down bool
	// Loss is the probability, in [0, 1], that a packet is dropped. Streams are
	// lossless.
	Loss float64
	// Delay is added to every packet and every stream write.
	Delay time.Duration
	// Jitter is the upper bound of a random delay, uniform in [0, Jitter),
	// added to Delay for every packet (packets overtake each other) and every
	// stream write (a stream stays in order).
	Jitter time.Duration
	// Duplicate is the probability, in [0, 1], that a packet is delivered twice
	// (each copy with its own jitter).
	Duplicate float64
}

func (f Faults) validate() error {
	switch {
	case f.Loss < 0 || f.Loss > 1 || f.Loss != f.Loss:
		return fmt.Errorf("faultnet: loss %v not in [0, 1]", f.Loss)
	case f.Duplicate < 0 || f.Duplicate > 1 || f.Duplicate != f.Duplicate:
		return fmt.Errorf("faultnet: duplicate %v not in [0, 1]", f.Duplicate)
	case f.Delay < 0 || f.Jitter < 0:
		return fmt.Errorf("faultnet: negative delay %v or jitter %v", f.Delay, f.Jitter)
	}
	return nil
}

// Stats counts what went through a network since it was made.
type Stats struct {
	PacketsSent       uint64 // packets written
	PacketsDelivered  uint64 // packets put in a receiver's queue (duplicates included)
	PacketsDropped    uint64 // packets lost, sent over a down link, to nobody or to a full queue
	PacketsOverflowed uint64 // of PacketsDropped: those that found the receiver's queue full
	PacketsDuplicated uint64 // packets delivered twice
	BytesSent         uint64 // bytes of PacketsSent
	BytesDelivered    uint64 // bytes of PacketsDelivered
	StreamsOpened     uint64 // streams dialled successfully
	StreamsBroken     uint64 // streams broken by a link going down
	StreamBytes       uint64 // bytes written to streams
}

// link is one direction between two hosts.
type link struct{ from, to string }

// Network is an in-memory network of hosts. Its methods are safe for
// concurrent use. Make one with [New] and Close it when done.
type Network struct {
	seed uint64
	wake chan struct{} // capacity 1: the head of the delayed-packet queue changed
	done chan struct{} // closed by Close
	wg   sync.WaitGroup

	// Lock order: Network.mu before any socket's or pipe's mutex.
	mu struct {
		sync.Mutex
		closed    bool
		sockets   map[Addr]*packetConn
		listeners map[Addr]*listener
		streams   map[*streamPair]struct{}
		faults    map[link]Faults
		isolated  map[string]bool
		rngs      map[link]*rand.Rand
		nextPort  map[string]int // next ephemeral port to try, per host
		delayed   packetHeap
		seq       uint64 // of delayed packets, to keep equal due times in order
		stats     Stats
	}
}

// New returns an empty network whose random fault decisions derive from seed.
// It starts one goroutine, stopped by Close.
func New(seed uint64) *Network {
	n := &Network{seed: seed, wake: make(chan struct{}, 1), done: make(chan struct{})}
	n.mu.sockets = map[Addr]*packetConn{}
	n.mu.listeners = map[Addr]*listener{}
	n.mu.streams = map[*streamPair]struct{}{}
	n.mu.faults = map[link]Faults{}
	n.mu.isolated = map[string]bool{}
	n.mu.rngs = map[link]*rand.Rand{}
	n.mu.nextPort = map[string]int{}
	n.wg.Go(n.deliverDelayed)
	return n
}

// SetFaults sets the faults of the direction from fromHost to toHost, replacing
// earlier ones; the zero Faults clears them. Packets already in flight on the
// link are dropped at arrival if the link is down by then. Taking a link down
// breaks the streams between the two hosts. It panics on invalid faults
// (probabilities outside [0, 1], negative durations).
func (n *Network) SetFaults(fromHost, toHost string, f Faults) {
	if err := f.validate(); err != nil {
		panic(err)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	l := link{fromHost, toHost}
	if f == (Faults{}) {
		delete(n.mu.faults, l)
	} else {
		n.mu.faults[l] = f
	}
	if f.Down {
		n.breakStreamsLocked(ErrLinkDown, func(a, b string) bool {
			return a == fromHost && b == toHost || a == toHost && b == fromHost
		})
	}
}

// Partition takes down both directions between every host of a and every host
// of b, keeping the links' other faults, and breaks the streams between them.
// Links within a and within b are not touched.
func (n *Network) Partition(a, b []string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	cut := map[link]bool{}
	for _, x := range a {
		for _, y := range b {
			for _, l := range []link{{x, y}, {y, x}} {
				f := n.mu.faults[l]
				f.Down = true
				n.mu.faults[l] = f
				cut[l] = true
			}
		}
	}
	n.breakStreamsLocked(ErrLinkDown, func(x, y string) bool { return cut[link{x, y}] })
}

// Isolate takes down every link to and from host, with every other host
// (including hosts that appear later), and breaks its streams with other
// hosts. Heal undoes it.
func (n *Network) Isolate(host string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.mu.isolated[host] = true
	n.breakStreamsLocked(ErrLinkDown, func(a, b string) bool { return a != b && (a == host || b == host) })
}

// Rejoin undoes Isolate for one host; the faults of its links stay as they were.
func (n *Network) Rejoin(host string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.mu.isolated, host)
}

// Heal clears every fault and isolation. Streams broken earlier stay broken.
func (n *Network) Heal() {
	n.mu.Lock()
	defer n.mu.Unlock()
	clear(n.mu.faults)
	clear(n.mu.isolated)
}

// Stats returns the network's counters.
func (n *Network) Stats() Stats {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.mu.stats
}

// Close closes every socket, listener and stream of the network, drops the
// packets in flight and stops the network's goroutine; it returns when that
// goroutine has returned. Later calls to ListenPacket, Listen and Dial fail.
// It is safe to call twice.
func (n *Network) Close() error {
	n.mu.Lock()
	if n.mu.closed {
		n.mu.Unlock()
		return nil
	}
	n.mu.closed = true
	sockets, listeners := n.mu.sockets, n.mu.listeners
	n.mu.sockets, n.mu.listeners = map[Addr]*packetConn{}, map[Addr]*listener{}
	n.breakStreamsLocked(net.ErrClosed, func(string, string) bool { return true })
	n.mu.delayed = nil
	n.mu.Unlock()

	close(n.done)
	n.wg.Wait()
	for _, c := range sockets {
		c.Close()
	}
	for _, l := range listeners {
		l.Close()
	}
	return nil
}

// isDownLocked reports whether the direction from → to is down.
func (n *Network) isDownLocked(from, to string) bool {
	if from != to && (n.mu.isolated[from] || n.mu.isolated[to]) {
		return true
	}
	return n.mu.faults[link{from, to}].Down
}

// rngLocked returns the random source of a direction, made on first use from
// the network's seed and the two host names.
func (n *Network) rngLocked(l link) *rand.Rand {
	r := n.mu.rngs[l]
	if r == nil {
		h := fnv.New64a()
		h.Write([]byte(l.from))
		h.Write([]byte{0})
		h.Write([]byte(l.to))
		r = rand.New(rand.NewPCG(n.seed, h.Sum64()))
		n.mu.rngs[l] = r
	}
	return r
}

// delayLocked returns the delay of one packet or stream write on l.
func (n *Network) delayLocked(l link, f Faults) time.Duration {
	d := f.Delay
	if f.Jitter > 0 {
		d += time.Duration(n.rngLocked(l).Int64N(int64(f.Jitter)))
	}
	return d
}

// freePortLocked returns a port of host that no socket (streams: no listener)
// uses, from the dynamic range.
func (n *Network) freePortLocked(host string, stream bool) (int, error) {
	const first, last = 49152, 65535
	for range last - first + 1 {
		p := n.mu.nextPort[host]
		if p < first || p > last {
			p = first
		}
		n.mu.nextPort[host] = p + 1
		a := Addr{host, p}
		if stream && n.mu.listeners[a] == nil || !stream && n.mu.sockets[a] == nil {
			return p, nil
		}
	}
	return 0, fmt.Errorf("faultnet: no free port on host %q", host)
}

// opError wraps err the way the net package does.
func opError(op string, local, remote net.Addr, err error) error {
	return &net.OpError{Op: op, Net: NetworkName, Source: local, Addr: remote, Err: err}
}
