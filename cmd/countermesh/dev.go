package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/countermesh/countermesh/crdt"
	"github.com/countermesh/countermesh/persist"
	"github.com/countermesh/countermesh/sync/wire"
)

// devItem is the article every demo frontend writes to.
const devItem = "article:hello"

// devConfig is what the dev command's flags set.
type devConfig struct {
	regions        []string
	dataDir        string
	duration       time.Duration
	rate           int
	flush          time.Duration
	partitionEvery time.Duration
	report         time.Duration
}

func parseDev(args []string, stderr io.Writer) (devConfig, error) {
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	fs.SetOutput(stderr)
	regions := fs.String("regions", "eu-west,us-east,ap-south", "comma-separated region names")
	c := devConfig{}
	fs.StringVar(&c.dataDir, "data", "", "data directory (default: a temporary one, removed at exit)")
	fs.DurationVar(&c.duration, "duration", 0, "stop after this long (0: run until Ctrl-C)")
	fs.IntVar(&c.rate, "rate", 200, "writes per second made in each region")
	fs.DurationVar(&c.flush, "flush", 100*time.Millisecond, "how often each region ships its changes to each other")
	fs.DurationVar(&c.partitionEvery, "partition-every", 8*time.Second, "cut one region off for half of each period (0: never)")
	fs.DurationVar(&c.report, "report", time.Second, "how often to print every region's counts")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return c, err
		}
		return c, fmt.Errorf("%w: dev: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("%w: dev: unexpected argument %q", errUsage, fs.Arg(0))
	}
	for r := range strings.SplitSeq(*regions, ",") {
		if r = strings.TrimSpace(r); r != "" {
			c.regions = append(c.regions, r)
		}
	}
	if len(c.regions) < 2 {
		return c, fmt.Errorf("%w: dev: need at least two regions", errUsage)
	}
	if c.rate <= 0 || c.flush <= 0 || c.report <= 0 {
		return c, fmt.Errorf("%w: dev: -rate, -flush and -report must be positive", errUsage)
	}
	return c, nil
}

// devRegion is one region of the demo: a peer's durable store.
type devRegion struct {
	name  string
	store *persist.Store
	cut   atomic.Bool // partitioned: ships nothing and receives nothing
}

// devMesh is the demo mesh: regions that ship each other their changes as
// wire-encoded deltas. This in-process shipping stands in for the QUIC mesh.
type devMesh struct {
	regions   []*devRegion
	wireBytes atomic.Int64
	ops       atomic.Int64
	log       *slog.Logger
}

func runDev(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseDev(args, stderr)
	if err != nil {
		return err
	}
	if cfg.dataDir == "" {
		if cfg.dataDir, err = os.MkdirTemp("", "countermesh-dev-"); err != nil {
			return err
		}
		defer os.RemoveAll(cfg.dataDir)
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	m := &devMesh{log: logger}
	defer m.close()
	for _, name := range cfg.regions {
		opts := persist.SmallOptions(filepath.Join(cfg.dataDir, name))
		opts.Logger = logger
		s, err := persist.Open(opts)
		if err != nil {
			return err
		}
		m.regions = append(m.regions, &devRegion{name: name, store: s})
	}
	stdout = &syncWriter{w: stdout}
	fmt.Fprintf(stdout, "countermesh dev: %d regions, data in %s; writing to %q; Ctrl-C stops\n",
		len(m.regions), cfg.dataDir, devItem)
	if cfg.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.duration)
		defer cancel()
	}
	var wg sync.WaitGroup
	for _, r := range m.regions {
		wg.Go(func() { m.writeLoop(ctx, r, cfg.rate) })
	}
	wg.Go(func() { m.shipLoop(ctx, cfg.flush) })
	if cfg.partitionEvery > 0 {
		wg.Go(func() { m.partitionLoop(ctx, cfg.partitionEvery, stdout) })
	}
	wg.Go(func() { m.reportLoop(ctx, cfg.report, stdout) })
	wg.Wait()
	return m.converge(stdout)
}

// writeLoop plays a regional frontend: claps, views and readers' reactions.
func (m *devMesh) writeLoop(ctx context.Context, r *devRegion, rate int) {
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	kinds := []string{"like", "like", "dislike", crdt.None}
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		var op persist.Op
		switch n := rand.IntN(10); {
		case n < 5:
			op = persist.Add(devItem, "claps", int64(1+rand.IntN(3)))
		case n < 8:
			op = persist.Add(devItem, "views", 1)
		default:
			op = persist.React(devItem, fmt.Sprintf("reader-%d", rand.IntN(200)), kinds[rand.IntN(len(kinds))])
		}
		if _, err := r.store.Write(ctx, op); err != nil && ctx.Err() == nil {
			m.log.Error("write", "region", r.name, "err", err)
			continue
		}
		m.ops.Add(1)
	}
}

// shipLoop ships every region's changes to every other region each flush.
func (m *devMesh) shipLoop(ctx context.Context, flush time.Duration) {
	tick := time.NewTicker(flush)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		m.shipAll(ctx)
	}
}

// shipAll ships every pending change between every pair of connected regions and
// reports whether anything was pending.
func (m *devMesh) shipAll(ctx context.Context) (pending bool) {
	for _, src := range m.regions {
		for _, dst := range m.regions {
			if src == dst || src.cut.Load() || dst.cut.Load() {
				continue
			}
			n, err := m.ship(ctx, src, dst)
			if err != nil && ctx.Err() == nil {
				m.log.Error("ship", "from", src.name, "to", dst.name, "err", err)
			}
			pending = pending || n > 0
		}
	}
	return pending
}

// ship sends dst the current state of the keys src changed since dst's
// acknowledgement, through the wire encoding, and records dst's acknowledgement.
func (m *devMesh) ship(ctx context.Context, src, dst *devRegion) (int, error) {
	acked, err := src.store.Acked(dst.store.Replica())
	if err != nil {
		return 0, err
	}
	keys, upTo, err := src.store.Changes(acked, 4096)
	if err != nil || keys.Len() == 0 {
		return 0, err
	}
	state, err := src.store.State(keys)
	if err != nil {
		return 0, err
	}
	msg := wire.EncodeDelta(state)
	m.wireBytes.Add(int64(len(msg)))
	received, err := wire.DecodeDelta(msg)
	if err != nil {
		return 0, err
	}
	if _, err := dst.store.Merge(ctx, received); err != nil {
		return 0, err
	}
	return keys.Len(), src.store.SetAcked(ctx, dst.store.Replica(), upTo)
}

// partitionLoop cuts the last region off for the first half of every period.
func (m *devMesh) partitionLoop(ctx context.Context, every time.Duration, stdout io.Writer) {
	victim := m.regions[len(m.regions)-1]
	tick := time.NewTicker(every / 2)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			victim.cut.Store(false)
			return
		case <-tick.C:
		}
		cut := !victim.cut.Load()
		victim.cut.Store(cut)
		if cut {
			fmt.Fprintf(stdout, "--- partition: %s cut off from the mesh\n", victim.name)
		} else {
			fmt.Fprintf(stdout, "--- heal: %s reconnected\n", victim.name)
		}
	}
}

func (m *devMesh) reportLoop(ctx context.Context, every time.Duration, stdout io.Writer) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	start := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		m.printTable(stdout, fmt.Sprintf("\nt=%s  writes=%d  bytes shipped=%d\n",
			time.Since(start).Round(time.Second), m.ops.Load(), m.wireBytes.Load()))
	}
}

// printTable prints header and every region's counts in one write.
func (m *devMesh) printTable(stdout io.Writer, header string) {
	var buf bytes.Buffer
	buf.WriteString(header)
	defer func() { stdout.Write(buf.Bytes()) }()
	tw := tabwriter.NewWriter(&buf, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "region\tclaps\tviews\tlike\tdislike\tlink")
	for _, r := range m.regions {
		v, err := r.store.ReadItem(devItem, "")
		if err != nil {
			fmt.Fprintf(tw, "%s\terror: %v\n", r.name, err)
			continue
		}
		link := "up"
		if r.cut.Load() {
			link = "PARTITIONED"
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%s\n", r.name, v.Counters["claps"], v.Counters["views"],
			v.Tallies["like"], v.Tallies["dislike"], link)
	}
	tw.Flush()
}

// converge ships until nothing is pending and checks every region agrees.
func (m *devMesh) converge(stdout io.Writer) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for m.shipAll(ctx) {
	}
	m.printTable(stdout, fmt.Sprintf("\nstopped: %d writes; after the final exchange:\n", m.ops.Load()))
	first, err := m.regions[0].store.ReadItem(devItem, "")
	if err != nil {
		return err
	}
	for _, r := range m.regions[1:] {
		v, err := r.store.ReadItem(devItem, "")
		if err != nil {
			return err
		}
		if fmt.Sprint(v.Counters) != fmt.Sprint(first.Counters) || !v.Tallies.Equal(first.Tallies) {
			return fmt.Errorf("regions did not converge: %s %v %v, %s %v %v", m.regions[0].name,
				first.Counters, first.Tallies, r.name, v.Counters, v.Tallies)
		}
	}
	fmt.Fprintln(stdout, "converged: every region shows the same counts")
	return nil
}

func (m *devMesh) close() {
	for _, r := range m.regions {
		if err := r.store.Close(); err != nil {
			m.log.Error("close", "region", r.name, "err", err)
		}
	}
}

// syncWriter serializes writes from the demo's goroutines; each Write is one
// whole message.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
