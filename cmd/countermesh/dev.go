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
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/countermesh/countermesh/crdt"
	"github.com/countermesh/countermesh/persist"
)

// devItem is the article of the demo page.
const devItem = "article:hello"

// devConfig is what the dev command's flags set.
type devConfig struct {
	regions        []string
	dataDir        string
	listen         string
	duration       time.Duration
	traffic        int
	partitionEvery time.Duration
	report         time.Duration
}

// devHelp is the help of "countermesh dev".
const devHelp = `Usage:
  countermesh dev [flags]

dev runs a demo mesh of several regions on this machine: each region a real
peer (its own Badger store, QUIC links with mutual TLS from fresh certificates,
memberlist gossip, causal tokens signed with a fresh secret) over an in-memory
network the demo can cut, each with its HTTP API on a loopback port, and a demo
page. Ctrl-C heals every partition, waits for the regions to agree, and stops.

Example:
  countermesh dev -listen 127.0.0.1:8080 -traffic 20 -partition-every 30s
`

func parseDev(args []string, stdout io.Writer) (devConfig, error) {
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	regions := fs.String("regions", "eu-west,us-east,ap-south", "comma-separated region names")
	c := devConfig{}
	fs.StringVar(&c.dataDir, "data", "", "directory for the topology, certificates and data (default: a temporary one, removed at exit)")
	fs.StringVar(&c.listen, "listen", "127.0.0.1:8080", "host:port of the demo page; a host left out means loopback (the page drives an open API: bind other interfaces only on purpose)")
	fs.DurationVar(&c.duration, "duration", 0, "stop after this long (0: run until Ctrl-C)")
	fs.IntVar(&c.traffic, "traffic", 0, "simulated frontend writes per second in each region (0: only yours)")
	fs.DurationVar(&c.partitionEvery, "partition-every", 0, "cut the last region off for half of every period (0: only with the page's switches)")
	fs.DurationVar(&c.report, "report", 2*time.Second, "how often to print every region's counts")
	if err := parseFlags(fs, devHelp, args, stdout); err != nil {
		return c, err
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
	listen, err := parseListen(c.listen)
	if err != nil {
		return c, fmt.Errorf("%w: dev: -listen: %w", errUsage, err)
	}
	c.listen = listen
	if c.traffic < 0 || c.report <= 0 {
		return c, fmt.Errorf("%w: dev: -traffic must not be negative and -report must be positive", errUsage)
	}
	return c, nil
}

// runDev starts the demo mesh and its page, and runs until ctx ends (Ctrl-C) or
// -duration passes; then it heals every partition, waits for the regions to
// converge and reports.
func runDev(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseDev(args, stdout)
	if err != nil {
		return err
	}
	ui, err := listenUI(cfg.listen)
	if err != nil {
		return err
	}
	defer ui.Close()
	if cfg.dataDir == "" {
		if cfg.dataDir, err = os.MkdirTemp("", "countermesh-dev-"); err != nil {
			return err
		}
		defer os.RemoveAll(cfg.dataDir)
	}
	stdout = &syncWriter{w: stdout}
	// The demo's peers link over an in-memory network, whose sockets are not UDP
	// sockets; quic-go would warn that it cannot size their buffers.
	os.Setenv("QUIC_GO_DISABLE_RECEIVE_BUFFER_WARNING", "true")
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	m, err := startDevMesh(cfg.dataDir, cfg.regions, logger)
	if err != nil {
		return err
	}
	defer m.close()
	uiSrv := &http.Server{Handler: m.uiHandler(), ReadHeaderTimeout: 10 * time.Second}
	var uiDone sync.WaitGroup
	uiDone.Go(func() {
		if err := uiSrv.Serve(ui); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("demo page", "err", err)
		}
	})
	defer uiDone.Wait()
	defer uiSrv.Close()
	m.printWelcome(stdout, "http://"+ui.Addr().String(), cfg)

	if cfg.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.duration)
		defer cancel()
	}
	var wg sync.WaitGroup
	if cfg.traffic > 0 {
		for _, r := range m.regions {
			wg.Go(func() { m.traffic(ctx, r, cfg.traffic) })
		}
	}
	if cfg.partitionEvery > 0 {
		wg.Go(func() { m.partitionLoop(ctx, cfg.partitionEvery, stdout) })
	}
	wg.Go(func() { m.reportLoop(ctx, cfg.report, stdout) })
	wg.Wait()
	return m.finish(stdout)
}

// parseListen checks a -listen address — host:port with an IP address or
// "localhost" for the host, and a port number — and returns it with an empty
// host made loopback.
func parseListen(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("want host:port, such as 127.0.0.1:8080: %w", err)
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return "", fmt.Errorf("port %q of %q is not a number from 0 to 65535", port, addr)
	}
	port = strconv.FormatUint(n, 10)
	switch {
	case host == "":
		host = "127.0.0.1"
	case host == "localhost":
	case net.ParseIP(host) == nil:
		return "", fmt.Errorf("host %q of %q is not an IP address or localhost", host, addr)
	}
	return net.JoinHostPort(host, port), nil
}

// listenUI listens on addr for the demo page. A taken port is an error: the
// page must be where the command says it is.
func listenUI(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("demo page: %w (is another countermesh dev running? pick a free port with -listen)", err)
	}
	return ln, nil
}

func (m *devMesh) printWelcome(stdout io.Writer, ui string, cfg devConfig) {
	var b strings.Builder
	fmt.Fprintf(&b, "countermesh dev: a mesh of %d regions on this machine (QUIC with mutual TLS, memberlist, Badger)\n", len(m.regions))
	fmt.Fprintf(&b, "\n  demo page:  %s/?region=%s\n\n", ui, m.regions[0].name)
	for _, r := range m.regions {
		fmt.Fprintf(&b, "  %-10s API %s  (curl %s/v1/items/%s)\n", r.name, r.apiURL, r.apiURL, devItem)
	}
	fmt.Fprintf(&b, "\nThe API is open (no tokens) — for this demo only. Data: %s. Ctrl-C stops.\n", cfg.dataDir)
	io.WriteString(stdout, b.String())
}

// traffic plays a regional frontend writing claps and readers' reactions.
func (m *devMesh) traffic(ctx context.Context, r *devRegion, rate int) {
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
		if rand.IntN(2) == 0 {
			op = persist.Add(devItem, "claps", int64(1+rand.IntN(3)))
		} else {
			op = persist.React(devItem, fmt.Sprintf("reader-%d", rand.IntN(200)), kinds[rand.IntN(len(kinds))])
		}
		if _, err := r.peer.Store().Write(ctx, op); err != nil {
			if ctx.Err() == nil {
				m.log.Error("write", "region", r.name, "err", err)
			}
			continue
		}
	}
}

// partitionLoop cuts the last region off for the first half of every period.
func (m *devMesh) partitionLoop(ctx context.Context, every time.Duration, stdout io.Writer) {
	victim := m.regions[len(m.regions)-1]
	tick := time.NewTicker(every / 2)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		cut := !victim.isCut()
		m.partition(victim.name, cut)
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
		m.printTable(stdout, fmt.Sprintf("\nt=%s\n", time.Since(start).Round(time.Second)))
	}
}

// printTable prints header and every region's counts in one write.
func (m *devMesh) printTable(stdout io.Writer, header string) {
	var buf bytes.Buffer
	defer func() { stdout.Write(buf.Bytes()) }()
	buf.WriteString(header)
	fmt.Fprintf(&buf, "counts of %s, the demo page's article, in every region:\n", devItem)
	tw := tabwriter.NewWriter(&buf, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "region\tclaps\tlike\tdislike\tlink")
	for _, r := range m.regions {
		v, err := r.peer.Store().ReadItem(devItem, "")
		if err != nil {
			fmt.Fprintf(tw, "%s\terror: %v\n", r.name, err)
			continue
		}
		link := "up"
		if r.isCut() {
			link = "PARTITIONED"
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\n", r.name, v.Counters["claps"], v.Tallies["like"], v.Tallies["dislike"], link)
	}
	tw.Flush()
}

// finish heals every partition, waits for the regions to converge and reports.
func (m *devMesh) finish(stdout io.Writer) error {
	for _, r := range m.regions {
		m.partition(r.name, false)
	}
	deadline := time.Now().Add(15 * time.Second)
	for !m.converged() && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	m.printTable(stdout, "\nstopped; after healing every partition:\n")
	if !m.converged() {
		return errors.New("regions did not converge within 15 s of healing")
	}
	fmt.Fprintln(stdout, "converged: every region shows the same counts")
	return nil
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
