package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/countermesh/countermesh/region"
)

// runServe runs one peer until SIGTERM or SIGINT, reloading the topology on
// SIGHUP. It drains (ships what is pending), closes the store and returns nil on
// a signal, so the process exits 0.
func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	topo := fs.String("topology", "", "topology file (required)")
	peer := fs.String("peer", "", "this peer's name in the topology (required)")
	data := fs.String("data", "", "data directory (required)")
	level := fs.String("log-level", "info", "log level: debug, info, warn or error")
	format := fs.String("log-format", "text", "log format: text or json")
	local := fs.Bool("local", false, "use fast timings and a small store, for meshes on one machine")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: serve: %v", errUsage, err)
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
	p, err := region.New(cfg)
	if err != nil {
		return err
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				if err := p.Reload(); err != nil {
					logger.Error("topology reload refused; keeping the topology in force", "err", err)
				}
			}
		}
	}()
	st := p.Status()
	logger.Info("serving", "mesh", st.Mesh, "region", st.Region, "replica", st.Replica)
	if err := p.Run(ctx); err != nil {
		return err
	}
	logger.Info("stopped")
	return nil
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
