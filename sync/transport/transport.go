package transport

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"

	"github.com/quic-go/quic-go"

	"github.com/countermesh/countermesh/sync/transport/edgelog"
	"github.com/countermesh/countermesh/topology/pki"
)

// ALPN names the protocol of countermesh links and its version, negotiated in
// the TLS handshake. A peer offering another is refused at the handshake.
const ALPN = "countermesh/1"

// acceptQueue is how many links may wait for Accept.
const acceptQueue = 16

// Transport accepts links from peers and dials links to peers, all over one
// packet socket. Its methods are safe for concurrent use.
//
// It owns two goroutines of its own — one accepting QUIC connections, one per
// link being set up — and quic-go's goroutines for the socket and each
// connection. Close stops all of them.
type Transport struct {
	cfg  Config
	alpn string
	log  *slog.Logger
	qt   *quic.Transport
	ln   *quic.Listener
	qcfg *quic.Config

	ctx      context.Context // canceled by Close
	cancel   context.CancelFunc
	accepted chan *Link // links up, waiting for Accept
	wg       sync.WaitGroup

	refusals   refusalCounts    // handshakes refused
	refusalLog *edgelog.Limiter // one line per client address per minute
	watchers   sync.WaitGroup   // handshake watches running or pending

	closeOnce sync.Once
	closeErr  error

	mu struct {
		sync.Mutex
		closed  bool
		links   map[*Link]struct{} // links up, pruned of dead ones on insert
		watches map[*handshakeWatch]struct{}
	}
}

// Listen starts a Transport on conn: one QUIC endpoint that both accepts links
// and dials them. The caller keeps ownership of conn: Close does not close it
// (it unblocks its reads with a read deadline); close it after the
// Transport. conn should be a *net.UDPConn, or a conn with only the methods
// of net.PacketConn (such as a faultnet socket) — not a wrapper of a
// *net.UDPConn that exposes its batch-reading methods.
func Listen(conn net.PacketConn, cfg Config) (*Transport, error) {
	return listen(conn, cfg, ALPN)
}

// listen is Listen speaking protocol alpn (tests speak others).
func listen(conn net.PacketConn, cfg Config, alpn string) (*Transport, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	t := &Transport{
		cfg:        cfg,
		alpn:       alpn,
		log:        cfg.Logger, // the caller's: it names the local peer (region's does, as "local")
		accepted:   make(chan *Link, acceptQueue),
		refusalLog: edgelog.New(edgelog.DefaultInterval, 0),
		qcfg: &quic.Config{
			HandshakeIdleTimeout: cfg.HandshakeTimeout,
			MaxIdleTimeout:       cfg.IdleTimeout,
			KeepAlivePeriod:      max(cfg.KeepAlive, 0),
		},
	}
	t.mu.links = map[*Link]struct{}{}
	t.mu.watches = map[*handshakeWatch]struct{}{}
	t.ctx, t.cancel = context.WithCancel(context.Background())
	t.qt = &quic.Transport{Conn: conn, StatelessResetKey: statelessResetKey(cfg.Certificate),
		ConnContext: t.watchHandshake}
	t.ln, err = t.qt.Listen(t.serverTLS(), t.qcfg)
	if err != nil {
		t.cancel()
		t.qt.Close()
		t.stopWatches()
		return nil, fmt.Errorf("transport: listen on %s: %w", conn.LocalAddr(), err)
	}
	t.wg.Go(t.acceptLoop)
	return t, nil
}

// Addr returns the address of the Transport's socket.
func (t *Transport) Addr() net.Addr { return t.qt.Conn.LocalAddr() }

// Dial sets up a link to the peer named peer at addr, blocking until it is up,
// ctx is done or HandshakeTimeout has passed. The link is refused (ErrRefused)
// unless the server's certificate chains to the CA, names peer (as its DNS
// name and in its countermesh URI) in our mesh, and Authorize accepts it — and
// unless the server accepts us in turn: Dial returns only after the server
// answered the hello exchange.
func (t *Transport) Dial(ctx context.Context, addr net.Addr, peer string) (*Link, error) {
	if !pki.ValidName(peer) {
		return nil, fmt.Errorf("transport: dial %s: bad peer name %q", addr, peer)
	}
	if t.ctx.Err() != nil {
		return nil, ErrClosed
	}
	hctx, cancel := context.WithTimeout(ctx, t.cfg.HandshakeTimeout)
	defer cancel()
	defer context.AfterFunc(t.ctx, cancel)()

	fail := func(err error) (*Link, error) {
		switch {
		case t.ctx.Err() != nil:
			err = ErrClosed
		case ctx.Err() != nil:
			err = context.Cause(ctx)
		case errors.Is(err, ErrProtocol):
		case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded):
			err = fmt.Errorf("%w: link set-up took over %v", ErrTimeout, t.cfg.HandshakeTimeout)
		default:
			err = t.linkError(peer, err)
		}
		return nil, fmt.Errorf("dial %s at %s: %w", peer, addr, err)
	}
	conn, err := t.qt.Dial(hctx, addr, t.clientTLS(peer), t.qcfg)
	if err != nil {
		return fail(err)
	}
	if err := clientHello(hctx, conn); err != nil {
		if conn.Context().Err() != nil { // the server closed it: why is the answer
			return fail(context.Cause(conn.Context()))
		}
		switch {
		case t.ctx.Err() != nil:
			conn.CloseWithError(codeGoingAway, "shutting down")
		case errors.Is(err, ErrProtocol):
			conn.CloseWithError(codeProtocol, err.Error())
		default:
			conn.CloseWithError(codeClosed, "dial abandoned: "+err.Error())
		}
		return fail(err)
	}
	l, err := t.newLink(conn)
	if err != nil {
		return fail(err)
	}
	t.log.Info("link up", "peer", l.peer.Name, "region", l.peer.Region, "addr", addr, "dialled", true)
	return l, nil
}

// Accept returns the next link a peer dialled to us, once its hello exchange
// completed, blocking until there is one, ctx is done or the Transport is
// closed (ErrClosed). Call it in a loop: a link that waits for Accept longer
// than HandshakeTimeout is closed.
func (t *Transport) Accept(ctx context.Context) (*Link, error) {
	if t.ctx.Err() != nil {
		return nil, ErrClosed
	}
	select {
	case l := <-t.accepted:
		return l, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-t.ctx.Done():
		return nil, ErrClosed
	}
}

// Close closes every link (the peers read ErrLinkClosed, "shutting down"),
// stops accepting and dialling, and closes the QUIC endpoint; it returns when
// every goroutine of the Transport has returned. The socket stays open: it is
// the caller's. Calls after the first return the first's result.
func (t *Transport) Close() error {
	t.closeOnce.Do(func() {
		t.mu.Lock()
		t.mu.closed = true
		links := t.mu.links
		t.mu.links = nil
		t.mu.Unlock()
		t.cancel() // stops acceptLoop and links being set up

		var wg sync.WaitGroup
		for l := range links {
			wg.Go(func() { l.conn.CloseWithError(codeGoingAway, "shutting down") })
		}
		wg.Wait()
		t.ln.Close()
		t.wg.Wait()
		t.closeErr = t.qt.Close()
		t.stopWatches()
		t.log.Info("transport closed", "links", len(links))
	})
	return t.closeErr
}

// acceptLoop takes the QUIC connections quic-go accepted (their TLS handshake
// done, so the client is verified) and greets each on a goroutine of its own.
func (t *Transport) acceptLoop() {
	for {
		conn, err := t.ln.Accept(t.ctx)
		if err != nil {
			return // closed
		}
		t.wg.Go(func() { t.greet(conn) })
	}
}

// greet runs the server's side of the hello exchange on a connection, then
// hands the link to Accept.
func (t *Transport) greet(conn *quic.Conn) {
	ctx, cancel := context.WithTimeout(t.ctx, t.cfg.HandshakeTimeout)
	defer cancel()
	if err := serverHello(ctx, conn); err != nil {
		code, reason := codeProtocol, err.Error()
		switch {
		case conn.Context().Err() != nil: // the client gave up
			return
		case t.ctx.Err() != nil:
			code, reason = codeGoingAway, "shutting down"
		case !errors.Is(err, ErrProtocol):
			reason = "no valid hello in time: " + err.Error()
		}
		t.log.Warn("link refused", "addr", conn.RemoteAddr(), "reason", reason)
		conn.CloseWithError(code, reason)
		return
	}
	l, err := t.newLink(conn)
	if err != nil {
		return
	}
	select {
	case t.accepted <- l:
		t.log.Info("link up", "peer", l.peer.Name, "region", l.peer.Region, "addr", conn.RemoteAddr(), "dialled", false)
	case <-ctx.Done():
		if t.ctx.Err() == nil {
			t.log.Warn("link refused: not accepted in time", "peer", l.peer.Name)
			conn.CloseWithError(codeRefused, "not accepted in time")
		}
	}
}

// newLink makes a Link of a connection whose handshake and hello exchange are
// done, and registers it so that Close closes it. If the Transport is closing,
// it closes the connection and returns ErrClosed.
func (t *Transport) newLink(conn *quic.Conn) (*Link, error) {
	// crypto/tls verified this certificate and verifyPeer accepted its identity.
	id, err := pki.IdentityOf(conn.ConnectionState().TLS.PeerCertificates[0])
	if err != nil {
		conn.CloseWithError(codeRefused, "no identity")
		return nil, fmt.Errorf("%w: %w", ErrRefused, err)
	}
	l := &Link{t: t, conn: conn, peer: id}
	if !t.register(l) {
		conn.CloseWithError(codeGoingAway, "shutting down")
		return nil, ErrClosed
	}
	return l, nil
}

// register adds a link to those Close closes, unless the Transport is closing.
func (t *Transport) register(l *Link) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.mu.closed {
		return false
	}
	for other := range t.mu.links {
		if other.conn.Context().Err() != nil {
			delete(t.mu.links, other)
		}
	}
	t.mu.links[l] = struct{}{}
	return true
}
