package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/countermesh/countermesh/region/httpapi/live"
)

// Limits of one request that are not configurable.
const (
	// MaxReadIDs is how many items one GET /v1/items may read.
	MaxReadIDs = 100
	// MaxBatchOps is how many ops one POST /v1/ops may carry.
	MaxBatchOps = 1000
)

// Config configures a Server. New copies it; zero fields take the defaults named.
type Config struct {
	// Backend is the peer the API serves. Required.
	Backend Backend
	// Tokens maps each accepted bearer token to its name, as tokens of scope
	// write with the default rate limit. The name scopes idempotency keys and
	// rate limits. With APITokens nil or empty too, the API runs open, without
	// authentication; New logs a warning and /v1/mesh says "api_open": true.
	Tokens map[string]string
	// APITokens are accepted bearer tokens with their scope and rate limit,
	// besides those of Tokens. SetAPITokens replaces them all.
	APITokens []APIToken
	// CORSOrigins are the browser origins allowed to call the read routes from
	// another origin, each exactly as browsers send it in the Origin header
	// (scheme://host[:port]). Write routes never answer a browser on another
	// origin. SetCORSOrigins replaces them.
	CORSOrigins []string
	// RateLimit is the sustained operations per second a token may spend when
	// it sets no limit of its own (per client address when the API is open);
	// see the package documentation for what an operation costs. Default
	// 250,000; negative disables rate limiting, tokens' own limits included.
	RateLimit float64
	// Burst is how many operations a token may spend at once above RateLimit
	// when it sets no limit of its own. Default 500,000.
	Burst int
	// MaxBodyBytes bounds a request body; past it the answer is 413. Default 1 MiB.
	MaxBodyBytes int64
	// MaxIDLen bounds item ids, user ids, counter names and idempotency keys, in
	// bytes. Default 256.
	MaxIDLen int
	// MaxBy bounds |by| of one increment. Default 1,000,000.
	MaxBy int64
	// TokenKeys are the mesh's secrets causal tokens are signed with: the first
	// signs the tokens this peer mints, every one verifies the tokens presented
	// (several during a rotation). Every peer of the mesh must hold them. Nil or
	// empty signs with a random key of this process: New logs a warning, and only
	// the Servers of this process accept its tokens. SetTokenKeys replaces them.
	TokenKeys []TokenKey
	// CausalWait is how long a read presenting a causal token waits for this
	// peer to catch up with it before answering with X-Causal-Stale. Writes
	// never wait. Default 2 s.
	CausalWait time.Duration
	// MaxTokenAhead is how far past this peer's wall clock a causal token may
	// move its clock: a reaction written with a token whose timestamp is further
	// ahead (and ahead of every timestamp the peer has seen) is answered 409 and
	// changes nothing. Default 1 s. Raise it for a mesh whose clocks are known
	// to disagree by more; it cannot exceed the store's max drift.
	MaxTokenAhead time.Duration
	// WriteTimeout is how long a write waits to be durable before it is answered
	// 503 (outcome unknown). Default 10 s.
	WriteTimeout time.Duration
	// MaxWritesInFlight bounds the writes waiting for the store at once; past it
	// writes are answered 503 at once, so an overloaded store does not pile up
	// goroutines. Reads are not limited by it. Default 8192.
	MaxWritesInFlight int
	// LiveInterval is the most often one item's live state is sent to its
	// subscribers. Default 100 ms.
	LiveInterval time.Duration
	// MaxSubscribers bounds live subscriptions, over all items; past it the
	// answer is 503. It must be below MaxConns, so that streams cannot take every
	// connection. Default 20,000 or MaxConns/2, whichever is lower.
	MaxSubscribers int
	// MaxStreamsPerAddress bounds the live streams one client address may hold
	// open with a read token (or on an open API), where every browser it is
	// handed to shares the token: past it the answer is 429, so that one holder
	// cannot take every subscription. Streams opened with a write token (a
	// frontend's own, which may relay many viewers) are bounded by
	// MaxSubscribers alone. Default 256.
	MaxStreamsPerAddress int
	// MaxConns bounds the open connections of the listener LimitListener
	// returns; past it a new connection is answered 503 and closed. Default the
	// process's file limit (RLIMIT_NOFILE) less a reserve for the store, the
	// mesh's sockets and the refusals themselves — a quarter of the limit, at
	// least 512: 512 under a limit of 1,024 — and at least 64.
	MaxConns int
	// ReadHeaderTimeout bounds the reading of a request's headers, and how long
	// a new connection may stay silent. Default 5 s.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds the reading of a whole request, body included; a body
	// not received in time is answered 408. Default 15 s.
	ReadTimeout time.Duration
	// Heartbeat is how often an idle live stream gets a comment line, so proxies
	// and clients know it is alive. Default 15 s.
	Heartbeat time.Duration
	// Registry receives the API's metrics, served at /metrics. Default a new
	// registry with the Go and process collectors, the Go collector with the
	// scheduler's latencies (go_sched_latencies_seconds).
	Registry *prometheus.Registry
	// Logger receives the API's logs. Default slog.Default().
	Logger *slog.Logger
}

func (c Config) withDefaults() (Config, error) {
	if c.Backend == nil {
		return c, errors.New("httpapi: Config.Backend is required")
	}
	if c.RateLimit == 0 {
		c.RateLimit = DefaultRateLimit
	}
	setDefault(&c.Burst, DefaultBurst)
	setDefault(&c.MaxBodyBytes, 1<<20)
	setDefault(&c.MaxIDLen, 256)
	setDefault(&c.MaxBy, 1_000_000)
	setDefault(&c.CausalWait, 2*time.Second)
	setDefault(&c.MaxTokenAhead, time.Second)
	setDefault(&c.WriteTimeout, 10*time.Second)
	setDefault(&c.MaxWritesInFlight, 8192)
	setDefault(&c.LiveInterval, 100*time.Millisecond)
	if c.MaxConns <= 0 {
		nofile, err := fileLimit()
		if err != nil {
			return c, err
		}
		c.MaxConns = defaultMaxConns(nofile)
	}
	setDefault(&c.MaxSubscribers, max(1, min(20_000, c.MaxConns/2)))
	if c.MaxSubscribers >= c.MaxConns {
		return c, fmt.Errorf("httpapi: Config.MaxSubscribers (%d) must be below Config.MaxConns (%d): "+
			"live streams would take every connection", c.MaxSubscribers, c.MaxConns)
	}
	setDefault(&c.MaxStreamsPerAddress, 256)
	setDefault(&c.ReadHeaderTimeout, 5*time.Second)
	setDefault(&c.ReadTimeout, 15*time.Second)
	setDefault(&c.Heartbeat, 15*time.Second)
	if c.Registry == nil {
		c.Registry = prometheus.NewRegistry()
		c.Registry.MustRegister(collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(schedLatencies)),
			collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	var tokens []APIToken
	for token, name := range c.Tokens {
		tokens = append(tokens, APIToken{Name: name, Token: token})
	}
	c.APITokens = append(tokens, c.APITokens...)
	c.Tokens = nil
	return c, nil
}

// setDefault sets *v to d when it is zero or negative.
func setDefault[T int | int64 | time.Duration](v *T, d T) {
	if *v <= 0 {
		*v = d
	}
}

// Server is the frontend API of one peer. Build it with New, serve Handler (or
// HTTPServer), run its background work with Run, and call Notify for every item
// the peer changes.
type Server struct {
	cfg     Config
	b       Backend
	log     *slog.Logger
	auth    atomic.Pointer[authenticator]
	cors    atomic.Pointer[corsOrigins]
	limits  *rateLimiter // nil when disabled
	metrics *metrics
	hub     *live.Hub
	writes  chan struct{} // a slot per write in flight
	streams struct {
		sync.Mutex
		open map[string]int // live streams per per-address rate-limit key
	}
	handler http.Handler
	// patterns are the routes the handler serves, as registered.
	patterns []string
	keys     atomic.Pointer[tokenKeys]

	runMu   sync.Mutex
	running bool
	done    chan struct{} // closed when Run's context ends: live streams return
}

// New builds a Server. It registers the API's metrics on cfg.Registry.
func New(cfg Config) (*Server, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:    cfg,
		b:      cfg.Backend,
		log:    cfg.Logger,
		writes: make(chan struct{}, cfg.MaxWritesInFlight),
		done:   make(chan struct{}),
	}
	if cfg.RateLimit > 0 {
		s.limits = newRateLimiter()
	}
	if err := s.SetAPITokens(cfg.APITokens); err != nil {
		return nil, err
	}
	s.SetCORSOrigins(cfg.CORSOrigins)
	s.hub = live.NewHub(live.Config{
		Interval:       cfg.LiveInterval,
		MaxSubscribers: cfg.MaxSubscribers,
		Encode:         s.encodeLive,
		Logger:         cfg.Logger,
	})
	if len(cfg.TokenKeys) == 0 {
		cfg.TokenKeys = []TokenKey{processTokenKey()}
		s.log.Warn("httpapi: no causal token keys configured: this process signs causal tokens with a " +
			"random key of its own, and peers in other processes refuse them")
	}
	if err := s.SetTokenKeys(cfg.TokenKeys); err != nil {
		return nil, err
	}
	if s.metrics, err = newMetrics(cfg.Registry, s.b, s.hub); err != nil {
		return nil, err
	}
	s.handler = closeUnreadBodies(s.routes())
	if s.auth.Load().open() {
		s.log.Warn("httpapi: no API tokens configured: the API is open to anyone who reaches it")
	}
	return s, nil
}

// schedLatencies adds to the Go collector's defaults the runtime's histogram of
// how long goroutines waited, runnable, before they ran: a peer short of CPU
// shows there first, before any handler or commit looks slow.
var schedLatencies = collectors.GoRuntimeMetricsRule{Matcher: regexp.MustCompile(`^/sched/latencies:seconds$`)}

// SetTokenKeys replaces the keys causal tokens are signed and verified with
// (see Config.TokenKeys); tokens signed with a key no longer listed are refused
// from then on. Invalid keys are refused and the keys in force are kept. It is
// safe to call while the Server serves.
func (s *Server) SetTokenKeys(keys []TokenKey) error {
	k, err := newTokenKeys(keys)
	if err != nil {
		return fmt.Errorf("httpapi: %w", err)
	}
	s.keys.Store(k)
	return nil
}

// Handler returns the handler of every route of the API. It serves whatever
// protocols its http.Server accepts; HTTPServer returns one accepting HTTP/1.1
// and HTTP/2 over cleartext (h2c, prior knowledge).
func (s *Server) Handler() http.Handler { return s.handler }

// HTTPServer returns an http.Server serving Handler on addr over HTTP/1.1 and
// unencrypted HTTP/2, with the header and request read timeouts of the Config,
// an idle timeout and no write timeout (live streams last). Its errors are
// logged to the Server's logger. Serve it on the listener LimitListener
// returns, so that the connection cap holds.
func (s *Server) HTTPServer(addr string) *http.Server {
	var p http.Protocols
	p.SetHTTP1(true)
	p.SetUnencryptedHTTP2(true)
	return &http.Server{
		Addr:              addr,
		Handler:           s.handler,
		Protocols:         &p,
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		ReadTimeout:       s.cfg.ReadTimeout,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
}

// Run runs the API's background work — the live hub, the pruning of idle rate
// limiters — until ctx ends, then ends every live stream and returns once
// everything stopped. Call it once. Shut the http.Server down after Run returned,
// or live streams would hold the shutdown until they end.
func (s *Server) Run(ctx context.Context) error {
	s.runMu.Lock()
	if s.running {
		s.runMu.Unlock()
		return errors.New("httpapi: Run called twice")
	}
	s.running = true
	s.runMu.Unlock()

	var wg sync.WaitGroup
	stopFollowing := s.b.Follow(func(items []string) { s.hub.Notify(items...) })
	defer stopFollowing()
	hubCtx, stopHub := context.WithCancel(context.Background())
	wg.Go(func() {
		if err := s.hub.Run(hubCtx); err != nil && !errors.Is(err, context.Canceled) {
			s.log.Error("httpapi: live hub stopped", "err", err)
		}
	})
	if s.limits != nil {
		wg.Go(func() { s.limits.pruneEvery(ctx, time.Minute) })
	}
	<-ctx.Done()
	close(s.done) // live handlers return before the hub stops under them
	stopHub()
	wg.Wait()
	return nil
}
