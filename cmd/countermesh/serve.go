package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"sync/atomic"
	"syscall"

	"github.com/dustin/go-humanize"

	"github.com/countermesh/countermesh/cmd/countermesh/servecfg"
	"github.com/countermesh/countermesh/region"
	"github.com/countermesh/countermesh/region/httpapi"
	"github.com/countermesh/countermesh/region/node"
	"github.com/countermesh/countermesh/topology"
)

const serveHelp = `Usage:
  countermesh serve --topology FILE --peer NAME --data DIR [flags]

serve runs one peer of the mesh the topology file describes: its store in DIR
(one directory per peer; a new directory is a new replica), its QUIC links to
every other peer, its memberlist gossip and its HTTP API on the topology's api
address. It needs on this host only its own certificate and key, the CA
certificate, the gossip key(s), the token secret(s) and the API token files.

Signals: SIGTERM or SIGINT drains (ships what is pending), closes the store and
exits 0; SIGHUP reloads the topology file (it is also watched): regions and peers
added or removed, API tokens, token secrets and gossip keys rotated; a reload
that would need a restart (this peer's own addresses) is refused and logged.

Ready: GET /readyz on the API answers 200 once the peer serves.

Example:
  countermesh serve --topology /etc/countermesh/topology.yaml --peer eu-west-1 --data /var/lib/countermesh
`

// runServe runs one peer until SIGTERM or SIGINT, reloading the topology on
// SIGHUP. It drains (ships what is pending), closes the store and returns nil on
// a signal, so the process exits 0.
func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	topo := fs.String("topology", "", "topology file (required)")
	peer := fs.String("peer", "", "this peer's name in the topology (required)")
	data := fs.String("data", "", "data directory (required)")
	level := fs.String("log-level", "info", "log level: debug, info, warn or error")
	format := fs.String("log-format", "text", "log format: text or json")
	local := fs.Bool("local", false, "use fast timings and a small store, for meshes on one machine")
	memory := fs.String("memory", "", "memory budget of the store, e.g. 512MiB or 2GiB: sizes Badger's memtables and caches and the read model (default: the peer's memory in the topology, else about 700 MiB)")
	tokenAhead := fs.Duration("max-token-ahead", servecfg.DefaultMaxTokenAhead,
		"how far past this peer's wall clock a causal token may move its clock; raise it for a mesh whose clocks disagree by more")
	if err := parseFlags(fs, serveHelp, args, stdout); err != nil {
		return err
	}
	if *topo == "" || *peer == "" || *data == "" || fs.NArg() > 0 {
		return fmt.Errorf("%w: serve: --topology, --peer and --data are required, and nothing else", errUsage)
	}
	logger, err := newLogger(stderr, *level, *format)
	if err != nil {
		return fmt.Errorf("%w: serve: %v", errUsage, err)
	}
	cfg := region.DefaultConfig()
	if *local {
		cfg = region.DefaultLocalConfig()
	}
	cfg.TopologyFile, cfg.PeerName, cfg.DataDir, cfg.Logger = *topo, *peer, *data, logger
	if *memory != "" {
		if cfg.MemoryBudget, err = parseMemory("serve", "memory", *memory); err != nil {
			return err
		}
	}
	var apiRef atomic.Pointer[httpapi.Server]
	cfg.OnReload = func(t *topology.Topology, mat *topology.Material) {
		applyTokenSecrets(apiRef.Load(), t, mat, logger)
		applyAPIAccess(apiRef.Load(), t, mat, logger)
	}
	n, err := node.New(node.Config{Peer: cfg, API: func(t *topology.Topology, mat *topology.Material) (httpapi.Config, error) {
		return servecfg.APIConfig(t, mat, logger, *tokenAhead)
	}})
	if err != nil {
		return err
	}
	apiRef.Store(n.API())
	if budget := n.Peer().MemoryBudget(); budget > 0 {
		// The runtime's soft limit: the collector works harder before the
		// process outgrows its budget rather than after.
		debug.SetMemoryLimit(budget)
		logger.Info("memory budget", "bytes", budget)
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	if err := n.Start(); err != nil {
		n.Close()
		return err
	}
	st := n.Peer().Status()
	logger.Info("serving", "mesh", st.Mesh, "region", st.Region, "replica", st.Replica, "api", n.URL())

	for {
		select {
		case <-ctx.Done():
			// Stop taking requests first, then let the peer ship what is pending.
			if err := n.Close(); err != nil {
				return err
			}
			logger.Info("stopped")
			return nil
		case <-n.Done():
			return n.Kill()
		case <-hup:
			if err := n.Peer().Reload(); err != nil {
				logger.Error("topology reload refused; keeping the topology in force", "err", err)
			}
		}
	}
}

// applyTokenSecrets puts the token secrets of a reloaded topology in force in
// api (nil before the API started: it takes them when it starts). Secrets
// the API refuses are logged and the ones in force kept.
func applyTokenSecrets(api *httpapi.Server, t *topology.Topology, mat *topology.Material, logger *slog.Logger) {
	if api == nil {
		return
	}
	keys, err := servecfg.TokenKeys(t, mat)
	if err == nil {
		err = api.SetTokenKeys(keys)
	}
	if err != nil {
		logger.Error("token secrets not reloaded; keeping the ones in force", "err", err)
		return
	}
	logger.Info("token secrets in force", "ids", len(keys), "signing", keys[0].ID)
}

// applyAPIAccess puts the API tokens and CORS origins of a reloaded topology
// in force in api (nil before the API started: it takes them when it
// starts): tokens removed are refused from then on, tokens added or rewritten
// in their files accepted, scopes and rate limits changed. Tokens the API
// refuses are logged and the ones in force kept.
func applyAPIAccess(api *httpapi.Server, t *topology.Topology, mat *topology.Material, logger *slog.Logger) {
	if api == nil {
		return
	}
	api.SetCORSOrigins(t.Security.CORSOrigins)
	tokens := servecfg.APITokens(t, mat)
	if err := api.SetAPITokens(tokens); err != nil {
		logger.Error("api tokens not reloaded; keeping the ones in force", "err", err)
		return
	}
	logger.Info("api tokens in force", "tokens", len(tokens), "cors_origins", len(t.Security.CORSOrigins))
}

// newLogger builds the process's slog logger.
func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("bad log level %q", level)
	}
	opts := &slog.HandlerOptions{Level: l}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("bad log format %q", format)
}

// parseMemory parses the value of a command's memory flag: a size such as
// 512MiB or 2GiB, at least 64 MiB, the least a store is sized for.
func parseMemory(command, flag, value string) (int64, error) {
	n, err := humanize.ParseBytes(value)
	if err != nil || n < 64<<20 {
		return 0, fmt.Errorf("%w: %s: --%s %q: want a size of at least 64MiB, such as 512MiB or 2GiB", errUsage, command, flag, value)
	}
	return int64(n), nil
}
