// Package node runs one peer of the mesh: its region.Peer (which opens the store
// and closes it) and, optionally, its HTTP API, started and stopped in one order.
// countermesh serve, the dev mesh, bench and the in-process chaos mesh all run
// their peers as Nodes.
//
// New opens the peer and builds the API and its listener; Start runs them; Close
// stops them in this order: the API stops taking requests and its live streams
// end, the requests in flight finish (up to Config.DrainTimeout), the peer ships
// what is pending to the peers it links to and leaves the mesh, and the store
// closes. Kill is Close without waiting for the API's requests in flight, for
// tests that crash a peer. Both wait for every goroutine the Node started and are
// safe to call more than once.
package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/countermesh/countermesh/region"
	"github.com/countermesh/countermesh/region/httpapi"
	"github.com/countermesh/countermesh/topology"
)

// ErrStarted is returned by Start on a Node already started or closed.
var ErrStarted = errors.New("node: already started or closed")

// DefaultDrainTimeout is how long Close waits for the API's requests in flight
// when Config.DrainTimeout is zero.
const DefaultDrainTimeout = 5 * time.Second

// Config configures a Node. New does not change it.
type Config struct {
	// Peer configures the peer, its store and its links. Required.
	Peer region.Config

	// API returns the HTTP API's configuration, given the peer's topology and
	// the material its files hold, as the peer read them (for its tokens and
	// secrets). The Node sets Backend to the peer, and Logger to Peer.Logger
	// when nil. Nil runs the peer without an API.
	API func(*topology.Topology, *topology.Material) (httpapi.Config, error)

	// Listener is where the API serves; the Node closes it (also when New
	// fails). Nil: the Node listens on Addr.
	Listener net.Listener

	// Addr is the API's TCP address when Listener is nil. Empty: this peer's
	// api address in the topology.
	Addr string

	// WrapHandler, if set, wraps the API's HTTP handler: a test's hook to
	// inject faults between the network and the API. Nil: none.
	WrapHandler func(http.Handler) http.Handler

	// DrainTimeout bounds how long Close waits for the API's requests in
	// flight before closing their connections. Zero: DefaultDrainTimeout.
	DrainTimeout time.Duration
}

// Node is one running peer with its API. Its methods are safe for concurrent
// use.
type Node struct {
	cfg  Config
	log  *slog.Logger
	peer *region.Peer
	api  *httpapi.Server // nil without an API
	ln   net.Listener    // the API's listener, with the API's connection cap
	srv  *http.Server

	peerDone chan struct{} // closed when the peer's Run returned
	peerErr  error         // what Run returned; read after peerDone
	apiDone  chan struct{} // closed when the API's Run returned
	serving  sync.WaitGroup

	mu        sync.Mutex
	started   bool
	closed    bool
	stopPeer  context.CancelFunc
	stopAPI   context.CancelFunc
	closeDone chan struct{} // closed when the first Close or Kill returned
	closeErr  error         // what it returned; read after closeDone
}

// New opens the peer on its data directory and, if cfg.API is set, builds its
// API and listens. Nothing runs until Start.
func New(cfg Config) (*Node, error) {
	n := &Node{cfg: cfg, log: cfg.Peer.Logger, peerDone: make(chan struct{}), apiDone: make(chan struct{}),
		closeDone: make(chan struct{})}
	if n.log == nil {
		n.log = slog.Default()
	}
	if n.cfg.DrainTimeout == 0 {
		n.cfg.DrainTimeout = DefaultDrainTimeout
	}
	p, err := region.New(cfg.Peer)
	if err != nil {
		if cfg.Listener != nil {
			cfg.Listener.Close()
		}
		return nil, err
	}
	n.peer = p
	if cfg.API != nil {
		err = n.openAPI()
	} else if cfg.Listener != nil {
		cfg.Listener.Close()
	}
	if err != nil {
		p.Close()
		return nil, err
	}
	return n, nil
}

// openAPI builds the API, listens and prepares its HTTP server.
func (n *Node) openAPI() error {
	ln := n.cfg.Listener
	closeLn := func() {
		if ln != nil {
			ln.Close()
		}
	}
	topo := n.peer.Topology()
	acfg, err := n.cfg.API(topo, n.peer.Material())
	if err != nil {
		closeLn()
		return err
	}
	acfg.Backend = n.peer
	if acfg.Logger == nil {
		acfg.Logger = n.log
	}
	if n.api, err = httpapi.New(acfg); err != nil {
		closeLn()
		return err
	}
	if ln == nil {
		addr := n.cfg.Addr
		if addr == "" {
			self, _ := topo.Peer(n.peer.Name())
			addr = self.API
		}
		if ln, err = net.Listen("tcp", addr); err != nil {
			return fmt.Errorf("api address: %w", err)
		}
	}
	if n.ln, err = n.api.LimitListener(ln); err != nil {
		closeLn()
		return err
	}
	n.srv = n.api.HTTPServer(n.ln.Addr().String())
	if n.cfg.WrapHandler != nil {
		n.srv.Handler = n.cfg.WrapHandler(n.srv.Handler)
	}
	return nil
}

// Start runs the peer and serves the API, each on goroutines the Node owns until
// Close. It fails with ErrStarted if the Node was started or closed before.
func (n *Node) Start() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.started || n.closed {
		return ErrStarted
	}
	n.started = true
	peerCtx, stopPeer := context.WithCancel(context.Background())
	n.stopPeer = stopPeer
	go func() {
		defer close(n.peerDone)
		n.peerErr = n.peer.Run(peerCtx)
	}()
	if n.api == nil {
		return nil
	}
	apiCtx, stopAPI := context.WithCancel(context.Background())
	n.stopAPI = stopAPI
	go func() {
		defer close(n.apiDone)
		n.api.Run(apiCtx)
	}()
	n.serving.Go(func() {
		if err := n.srv.Serve(n.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.log.Error("http api", "err", err)
		}
	})
	return nil
}

// Run starts the Node and runs it until ctx ends, then closes it; if the peer
// stops on its own first, the API is closed at once. It returns what Close or
// Kill returns.
func (n *Node) Run(ctx context.Context) error {
	if err := n.Start(); err != nil {
		return err
	}
	select {
	case <-ctx.Done():
		return n.Close()
	case <-n.Done():
		return n.Kill()
	}
}

// Done is closed when the peer has stopped: after Close or Kill, or on its own.
func (n *Node) Done() <-chan struct{} { return n.peerDone }

// Close stops the API taking requests, waits up to Config.DrainTimeout for the
// ones in flight, stops the peer (which ships what is pending and closes the
// store), and waits for every goroutine the Node started. It returns the peer's
// error, if any. It is safe to call more than once; later calls wait for the
// first and return what it returned.
func (n *Node) Close() error { return n.stop(true) }

// Kill stops the Node as Close does but closes the API's connections at once,
// requests in flight or not, as a crash would. Close after Kill, or Kill after
// Close, does nothing more.
func (n *Node) Kill() error { return n.stop(false) }

func (n *Node) stop(drain bool) error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		<-n.closeDone
		return n.closeErr
	}
	n.closed = true
	started := n.started
	n.mu.Unlock()
	defer close(n.closeDone)
	if n.srv != nil {
		n.closeAPI(started, drain)
	}
	if !started {
		n.closeErr = n.peer.Close()
		return n.closeErr
	}
	n.stopPeer()
	<-n.peerDone
	n.closeErr = n.peerErr
	return n.closeErr
}

// closeAPI stops the API: live streams end first (they would hold a shutdown
// until they end), then the server stops listening and, if drain is set, waits
// for the requests in flight.
func (n *Node) closeAPI(started, drain bool) {
	if !started {
		n.ln.Close()
		return
	}
	n.stopAPI()
	<-n.apiDone
	if drain {
		ctx, cancel := context.WithTimeout(context.Background(), n.cfg.DrainTimeout)
		n.srv.Shutdown(ctx)
		cancel()
	}
	n.srv.Close()
	n.serving.Wait()
}

// Peer returns the node's peer (its store is Peer().Store()).
func (n *Node) Peer() *region.Peer { return n.peer }

// API returns the node's API server, or nil when it runs without one.
func (n *Node) API() *httpapi.Server { return n.api }

// Addr returns the address the API listens on, or "" without an API.
func (n *Node) Addr() string {
	if n.ln == nil {
		return ""
	}
	return n.ln.Addr().String()
}

// URL returns the API's base URL, http://host:port, or "" without an API.
func (n *Node) URL() string {
	if n.ln == nil {
		return ""
	}
	return "http://" + n.Addr()
}
