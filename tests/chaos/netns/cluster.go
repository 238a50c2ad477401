// Package netns runs chaos against the real binary across processes: one
// `countermesh serve --local` process per peer, each peer in its own network
// namespace. Every namespace is joined by veth pairs to two bridges in the root
// namespace: the mesh bridge, for gossip and sync between peers, and the API
// bridge, through which the test process calls every peer's API. A region is
// partitioned by taking its peers' mesh links down (their APIs still take
// writes, as a region's frontends still reach it), a link flaps by taking it
// down and up, a peer crashes by SIGKILL and restarts on its data directory,
// and a region is added by appending it to the topology file, which the running
// peers reload.
//
// It needs root and the ip command (iproute2); Require skips a test without
// them, or fails it when COUNTERMESH_REQUIRE_ROOT_TESTS is set.
package netns

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/countermesh/countermesh/persist"
	"github.com/countermesh/countermesh/tests/chaos"
)

// Region is a region to start: its name and how many peers it has.
type Region struct {
	Name  string
	Peers int
}

// Cluster is a mesh of countermesh processes in network namespaces. It
// implements chaos.Cluster.
type Cluster struct {
	t    testing.TB
	dir  string // topology, certificates, data and logs
	bin  string
	topo string // the topology file
	net  *network
	mat  *material

	mu      sync.Mutex
	regions []string           // in order of creation
	byReg   map[string][]*peer // every peer by region, in order
	peers   map[string]*peer   // every peer by name
	added   int                // regions added by the add-region fault
	cut     []*peer            // peers whose link the partition took down
	flap    context.CancelFunc // stops the flapping link, if one flaps
	flapErr chan error         // receives what stopped the flapping early
	flapped sync.WaitGroup
}

// peer is one peer and its process.
type peer struct {
	name, region string
	index        int    // in the network's names and addresses
	addr, api    string // its IP addresses in the mesh and for the API
	data, log    string // data directory and log file
	listed       bool   // started once: one of the peers clients call

	// The process, while one runs. exited is closed once it has been waited
	// for; err is then its exit status.
	cmd    *exec.Cmd
	exited chan struct{}
	err    error
	// unexpected records exits nobody asked for.
	unexpected []string
}

// New builds the binary, makes the network and the security material, and
// starts a peer process for every peer of regions. It fails the test if any of
// it fails; everything is removed when the test ends. Call Require first.
func New(t testing.TB, regions ...Region) *Cluster {
	t.Helper()
	c := &Cluster{t: t, dir: t.TempDir(), peers: map[string]*peer{}, byReg: map[string][]*peer{}}
	began := time.Now()
	var err error
	if c.bin, err = buildBinary(c.dir); err != nil {
		t.Fatal(err)
	}
	built := time.Since(began)
	if c.mat, err = newMaterial(c.dir); err != nil {
		t.Fatal(err)
	}
	if c.net, err = newNetwork(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.close)
	c.topo = filepath.Join(c.dir, "topology.yaml")
	var all []*peer
	for _, r := range regions {
		for range r.Peers {
			p, err := c.addPeer(r.Name)
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, p)
		}
	}
	if err := c.writeTopology(); err != nil {
		t.Fatal(err)
	}
	for _, p := range all {
		if err := c.start(p); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, p := range all {
		if err := c.waitHealthy(ctx, p); err != nil {
			t.Fatal(err)
		}
		c.list(p)
	}
	if err := c.waitLinked(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d peers up and linked in %s (binary built in %s)", len(all), time.Since(began).Round(time.Millisecond), built.Round(time.Millisecond))
	return c
}

// addPeer adds a peer to region (a new region if it has none): its namespace,
// its links to the bridges, its certificate and its directories. The topology
// file is not written.
func (c *Cluster) addPeer(region string) (*peer, error) {
	c.mu.Lock()
	i := len(c.peers)
	p := &peer{region: region, index: i, name: fmt.Sprintf("%s-%d", region, len(c.byReg[region])+1),
		addr: c.net.mesh.addr(i), api: c.net.api.addr(i)}
	c.mu.Unlock()
	p.data = filepath.Join(c.dir, "data", p.name)
	p.log = filepath.Join(c.dir, "logs", p.name+".log")
	if err := os.MkdirAll(filepath.Dir(p.log), 0o755); err != nil {
		return nil, err
	}
	if err := c.net.addPeer(i); err != nil {
		return nil, err
	}
	if err := c.mat.issue(region, p.name, p.addr, p.api); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !slices.Contains(c.regions, region) {
		c.regions = append(c.regions, region)
	}
	c.byReg[region] = append(c.byReg[region], p)
	c.peers[p.name] = p
	return p, nil
}

// list makes a started peer one clients call.
func (c *Cluster) list(p *peer) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p.listed = true
}

// all returns every peer, started or not, region by region. c.mu is held.
func (c *Cluster) all() []*peer {
	var all []*peer
	for _, r := range c.regions {
		all = append(all, c.byReg[r]...)
	}
	return all
}

// linksUp brings every peer's mesh link up.
func (c *Cluster) linksUp() error {
	c.mu.Lock()
	all := c.all()
	c.mu.Unlock()
	for _, p := range all {
		if err := c.net.setLink(p.index, true); err != nil {
			return err
		}
	}
	return nil
}

// writeTopology writes the topology of every peer added so far.
func (c *Cluster) writeTopology() error {
	c.mu.Lock()
	data := topologyYAML(c.regions, c.byReg)
	c.mu.Unlock()
	return writeAtomic(c.topo, data)
}

// start starts p's process in its namespace, logging to its log file.
func (c *Cluster) start(p *peer) error {
	logf, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	fmt.Fprintf(logf, "=== %s: starting %s\n", time.Now().Format(time.TimeOnly), p.name)
	cmd := exec.Command("ip", "netns", "exec", c.net.namespace(p.index),
		c.bin, "serve", "--local", "--topology", c.topo, "--peer", p.name, "--data", p.data)
	cmd.Env = append(os.Environ(), "QUIC_GO_DISABLE_RECEIVE_BUFFER_WARNING=1")
	cmd.Stdout, cmd.Stderr = logf, logf
	// ip netns exec executes the binary in its own place: the process is the
	// peer, and dies with the test process.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	exited := make(chan struct{})
	c.mu.Lock()
	p.cmd, p.exited, p.err = cmd, exited, nil
	c.mu.Unlock()
	go func() {
		err := cmd.Wait()
		c.mu.Lock()
		p.err = err
		if p.cmd == cmd { // nobody asked it to stop
			p.unexpected = append(p.unexpected, fmt.Sprintf("%s exited on its own: %v", time.Now().Format(time.TimeOnly), err))
			p.cmd = nil
		}
		c.mu.Unlock()
		close(exited)
	}()
	return nil
}

// stop sends sig to p's process and waits up to wait for it to exit; it then
// kills it. It returns the exit status (nil for exit 0), or nil if no process
// runs.
func (c *Cluster) stop(p *peer, sig syscall.Signal, wait time.Duration) error {
	c.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.cmd = nil // an exit from now on is asked for
	c.mu.Unlock()
	if cmd == nil {
		return nil
	}
	cmd.Process.Signal(sig)
	select {
	case <-exited:
	case <-time.After(wait):
		cmd.Process.Kill()
		<-exited
		return fmt.Errorf("%s did not exit within %s of %v; killed", p.name, wait, sig)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return p.err
}

// close kills every process and removes the network; on a failed test it logs
// the tail of every peer's log.
func (c *Cluster) close() {
	c.stopFlap()
	c.mu.Lock()
	peers := c.all()
	c.mu.Unlock()
	for _, p := range peers {
		c.stop(p, syscall.SIGKILL, 10*time.Second)
	}
	if err := c.net.close(); err != nil {
		c.t.Errorf("removing the network: %v", err)
	}
	if c.t.Failed() {
		for _, p := range peers {
			c.t.Logf("last lines of %s's log (%s):\n%s", p.name, p.log, tail(p.log, 40))
		}
	}
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// peerRunning returns the named peer if its process runs (or, with running
// false, does not).
func (c *Cluster) peerRunning(name string, running bool) (*peer, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.peers[name]
	switch {
	case p == nil:
		return nil, fmt.Errorf("no peer %q", name)
	case running && p.cmd == nil:
		return nil, fmt.Errorf("%s is not running", name)
	case !running && p.cmd != nil:
		return nil, fmt.Errorf("%s is running", name)
	}
	return p, nil
}

// waitHealthy waits until p's GET /healthz answers 200, for up to 30 s, and
// fails at once if its process exits.
func (c *Cluster) waitHealthy(ctx context.Context, p *peer) error {
	c.mu.Lock()
	exited := p.exited
	c.mu.Unlock()
	err := chaos.WaitHealthy(ctx, c.API(p.name), exited)
	if errors.Is(err, chaos.ErrGaveUp) {
		c.mu.Lock()
		err := p.err
		c.mu.Unlock()
		return fmt.Errorf("%s exited before its API answered: %v; its log:\n%s", p.name, err, tail(p.log, 20))
	}
	if err != nil {
		return fmt.Errorf("%s: %w", p.name, err)
	}
	return nil
}

// waitLinked waits until every peer has a link to every other: proof that the
// namespaces reach each other through the bridge.
func (c *Cluster) waitLinked(ctx context.Context) error {
	client := &http.Client{Timeout: time.Second}
	var missing string
	for {
		missing = ""
		for _, name := range c.Peers() {
			linked, err := c.linked(ctx, client, name)
			if err != nil {
				missing = err.Error()
				break
			}
			if want := len(c.Peers()) - 1; len(linked) != want {
				missing = fmt.Sprintf("%s is linked to %d peers %v, want %d", name, len(linked), linked, want)
				break
			}
		}
		if missing == "" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the peers did not link up (is bridged traffic filtered on this machine?): %s", missing)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// linked returns the peers a peer has a link to, from its GET /v1/mesh.
func (c *Cluster) linked(ctx context.Context, client *http.Client, name string) ([]string, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.API(name)+"/v1/mesh", nil)
	req.Header.Set("Authorization", "Bearer "+c.Token())
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var st struct {
		Regions []struct {
			Peers []struct {
				Name   string `json:"name"`
				Self   bool   `json:"self"`
				Linked bool   `json:"linked"`
			} `json:"peers"`
		} `json:"regions"`
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: GET /v1/mesh: %s", name, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return nil, fmt.Errorf("%s: GET /v1/mesh: %w", name, err)
	}
	var linked []string
	for _, r := range st.Regions {
		for _, p := range r.Peers {
			if p.Linked && !p.Self {
				linked = append(linked, p.Name)
			}
		}
	}
	return linked, nil
}

// Describe implements chaos.Cluster.
func (c *Cluster) Describe() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return fmt.Sprintf("across processes: %d regions, %d countermesh serve processes, each in its own network namespace",
		len(c.regions), len(c.peers))
}

// Peers implements chaos.Cluster.
func (c *Cluster) Peers() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Sorted(func(yield func(string) bool) {
		for name, p := range c.peers {
			if p.listed && !yield(name) {
				return
			}
		}
	})
}

// Region implements chaos.Cluster.
func (c *Cluster) Region(peer string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p := c.peers[peer]; p != nil {
		return p.region
	}
	return ""
}

// API implements chaos.Cluster.
func (c *Cluster) API(peer string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p := c.peers[peer]; p != nil {
		return fmt.Sprintf("http://%s:%d", p.api, apiPort)
	}
	return "http://unknown-peer.invalid"
}

// Token implements chaos.Cluster.
func (c *Cluster) Token() string { return c.mat.token }

// Kill implements chaos.Cluster: SIGKILL, and wait for the process to be gone.
func (c *Cluster) Kill(name string) error {
	p, err := c.peerRunning(name, true)
	if err != nil {
		return err
	}
	err = c.stop(p, syscall.SIGKILL, 10*time.Second)
	var exit *exec.ExitError
	if err != nil && (!errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL) {
		return fmt.Errorf("kill %s: %w", name, err)
	}
	return nil
}

// Restart implements chaos.Cluster: the peer starts again on its data
// directory; Restart returns once its API answers (within 30 s).
func (c *Cluster) Restart(ctx context.Context, name string) error {
	p, err := c.peerRunning(name, false)
	if err != nil {
		return err
	}
	if err := c.start(p); err != nil {
		return err
	}
	return c.waitHealthy(ctx, p)
}

// Heal implements chaos.Cluster: flapping stops, every link is up, and killed
// peers are restarted.
func (c *Cluster) Heal(ctx context.Context) error {
	if err := c.stopFlap(); err != nil {
		return fmt.Errorf("flapping: %w", err)
	}
	if err := c.linksUp(); err != nil {
		return err
	}
	c.mu.Lock()
	c.cut = nil
	var down []*peer // killed, or exited on their own (Final reports those)
	for _, p := range c.all() {
		if p.cmd == nil {
			down = append(down, p)
		}
	}
	c.mu.Unlock()
	for _, p := range down {
		if err := c.Restart(ctx, p.name); err != nil {
			return err
		}
	}
	return nil
}

// Final implements chaos.Cluster: every peer is stopped with SIGTERM (it
// drains and must exit 0), then its store is opened and read. A peer that
// exited on its own during the run, or not with 0, is an error.
func (c *Cluster) Final(ctx context.Context, items []string) (map[string]chaos.PeerState, error) {
	c.mu.Lock()
	var peers []*peer
	for _, name := range slices.Sorted(maps.Keys(c.peers)) {
		if c.peers[name].listed {
			peers = append(peers, c.peers[name])
		}
	}
	c.mu.Unlock()
	errs := make([]error, len(peers))
	var wg sync.WaitGroup
	for i, p := range peers {
		wg.Go(func() {
			if err := c.stop(p, syscall.SIGTERM, 30*time.Second); err != nil {
				errs[i] = fmt.Errorf("%s after SIGTERM: %w, want exit 0; its log:\n%s", p.name, err, tail(p.log, 20))
			}
		})
	}
	wg.Wait()
	c.mu.Lock()
	for _, p := range peers {
		for _, u := range p.unexpected {
			errs = append(errs, fmt.Errorf("%s: %s", p.name, u))
		}
	}
	c.mu.Unlock()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	out := map[string]chaos.PeerState{}
	for _, p := range peers {
		st, err := readStore(p.data, items)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p.name, err)
		}
		out[p.name] = st
	}
	return out, nil
}

// readStore opens a stopped peer's data directory as serve --local does and
// reads items from it.
func readStore(dir string, items []string) (chaos.PeerState, error) {
	opts := persist.SmallOptions(dir)
	opts.Logger = slog.New(slog.DiscardHandler)
	s, err := persist.Open(opts)
	if err != nil {
		return nil, err
	}
	st, err := chaos.StoreState(s, items)
	if cerr := s.Close(); err == nil {
		err = cerr
	}
	return st, err
}
