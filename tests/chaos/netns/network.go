package netns

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// requireEnv names the variable that turns a skip for want of root into a
// failure (CI runs as root and sets it).
const requireEnv = "COUNTERMESH_REQUIRE_ROOT_TESTS"

// owner is the prefix of what marks the network objects of a run: the names of
// its namespaces and the alias of its links, followed by the pid of the test
// process. Objects of a pid no longer running are a crashed run's leftovers.
const owner = "countermesh-chaos-"

// Require skips the test unless this machine can make network namespaces here:
// root and the ip command (iproute2) are needed. With
// COUNTERMESH_REQUIRE_ROOT_TESTS set, as .ci/run sets it as root, it fails the
// test instead.
func Require(t testing.TB) {
	t.Helper()
	why := ""
	if os.Geteuid() != 0 {
		why = "needs root for network namespaces (ip netns); .ci/run runs it as root"
	} else if _, err := exec.LookPath("ip"); err != nil {
		why = "needs the ip command (iproute2) for network namespaces; .ci/run installs it"
	} else {
		probe := fmt.Sprintf("%s%d-probe", owner, os.Getpid())
		if err := ip("netns", "add", probe); err != nil {
			why = "cannot make a network namespace: " + err.Error()
		} else if err := ip("netns", "del", probe); err != nil {
			why = "cannot delete a network namespace: " + err.Error()
		}
	}
	if why == "" {
		return
	}
	if os.Getenv(requireEnv) != "" {
		t.Fatalf("%s (%s is set: root-only tests must run)", why, requireEnv)
	}
	t.Skip(why)
}

// ip runs the ip command and returns its error with what it printed.
func ip(args ...string) error {
	_, err := ipOutput(args...)
	return err
}

func ipOutput(args ...string) ([]byte, error) {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return out, nil
}

// network is the network of one run: two bridges in the root namespace, and
// per peer a namespace joined to each bridge by a veth pair. The mesh bridge
// carries gossip and sync between peers; the API bridge carries the frontend
// API and has an address in the root namespace, so the test reaches every API
// while the mesh is partitioned, as a region's frontends reach their peers.
type network struct {
	pid       int
	tag       int // short number of the run in interface names
	mesh, api lan
	peers     []int // the peers given a namespace, to delete
}

// lan is one bridge and its /24.
type lan struct {
	bridge string // cm<tag>b<kind>
	prefix string // of the veth ends on the bridge: cm<tag><kind>, then the peer
	subnet string // "10.a.b." — the bridge is .1, peers .10 and up
}

// veth returns the name of the i-th peer's veth end on the bridge, and of the
// end in its namespace.
func (l lan) veth(i int) (host, inner string) {
	return fmt.Sprintf("%s%d", l.prefix, i), fmt.Sprintf("%si%d", l.prefix, i)
}

// addr returns the i-th peer's address on the lan.
func (l lan) addr(i int) string { return l.subnet + strconv.Itoa(10+i) }

// newNetwork picks names free on this machine, removes what crashed runs left,
// and makes the bridges.
func newNetwork() (*network, error) {
	removeStale()
	n := &network{pid: os.Getpid()}
	for i := range 1000 {
		n.tag = (n.pid + i) % 1000
		if ip("link", "show", fmt.Sprintf("cm%dbm", n.tag)) != nil && ip("link", "show", fmt.Sprintf("cm%dba", n.tag)) != nil {
			break
		}
	}
	n.mesh = lan{fmt.Sprintf("cm%dbm", n.tag), fmt.Sprintf("cm%dm", n.tag), fmt.Sprintf("10.%d.%d.", 200+n.tag/250, n.tag%250)}
	n.api = lan{fmt.Sprintf("cm%dba", n.tag), fmt.Sprintf("cm%da", n.tag), fmt.Sprintf("10.%d.%d.", 210+n.tag/250, n.tag%250)}
	var cmds [][]string
	for _, l := range []lan{n.mesh, n.api} {
		cmds = append(cmds,
			[]string{"link", "add", l.bridge, "type", "bridge"},
			[]string{"link", "set", l.bridge, "alias", n.alias()},
			[]string{"link", "set", l.bridge, "up"})
	}
	cmds = append(cmds, []string{"addr", "add", n.api.subnet + "1/24", "dev", n.api.bridge})
	if err := runAll(cmds...); err != nil {
		n.close()
		return nil, err
	}
	return n, nil
}

// alias marks the run's links as its own.
func (n *network) alias() string { return owner + strconv.Itoa(n.pid) }

// namespace returns the name of the i-th peer's namespace.
func (n *network) namespace(i int) string { return fmt.Sprintf("%s%d-%d", owner, n.pid, i) }

// addPeer makes the i-th peer's namespace with lo up, joined to both bridges.
// Not safe for concurrent use.
func (n *network) addPeer(i int) error {
	ns := n.namespace(i)
	n.peers = append(n.peers, i)
	cmds := [][]string{{"netns", "add", ns}, {"-n", ns, "link", "set", "lo", "up"}}
	for _, l := range []lan{n.mesh, n.api} {
		host, inner := l.veth(i)
		cmds = append(cmds,
			[]string{"link", "add", host, "type", "veth", "peer", "name", inner},
			[]string{"link", "set", host, "alias", n.alias()},
			[]string{"link", "set", inner, "netns", ns},
			[]string{"link", "set", host, "master", l.bridge},
			[]string{"link", "set", host, "up"},
			[]string{"-n", ns, "addr", "add", l.addr(i) + "/24", "dev", inner},
			[]string{"-n", ns, "link", "set", inner, "up"})
	}
	return runAll(cmds...)
}

// setLink takes the i-th peer's link to the mesh bridge down or up: down, no
// packet of gossip or sync leaves or reaches it; its API still answers.
func (n *network) setLink(i int, up bool) error {
	state := "down"
	if up {
		state = "up"
	}
	host, _ := n.mesh.veth(i)
	return ip("link", "set", host, state)
}

// close deletes the peers' namespaces (and with them their veth pairs) and the
// bridges, and returns every error.
func (n *network) close() error {
	var errs []error
	for _, i := range n.peers {
		if err := ip("netns", "del", n.namespace(i)); err != nil {
			errs = append(errs, err)
		}
		for _, l := range []lan{n.mesh, n.api} {
			host, _ := l.veth(i)
			ip("link", "del", host) // gone with the namespace, unless it never got there
		}
	}
	for _, l := range []lan{n.mesh, n.api} {
		if err := ip("link", "del", l.bridge); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func runAll(cmds ...[]string) error {
	for _, args := range cmds {
		if err := ip(args...); err != nil {
			return err
		}
	}
	return nil
}

// removeStale deletes the namespaces and links of runs whose test process is
// gone (a crashed or killed run), killing the processes left in those
// namespaces first.
func removeStale() {
	if out, err := ipOutput("-j", "netns", "list"); err == nil {
		var list []struct {
			Name string `json:"name"`
		}
		json.Unmarshal(out, &list)
		for _, ns := range list {
			if !stale(ns.Name) {
				continue
			}
			if pids, err := ipOutput("netns", "pids", ns.Name); err == nil {
				for _, f := range strings.Fields(string(pids)) {
					if pid, err := strconv.Atoi(f); err == nil {
						syscall.Kill(pid, syscall.SIGKILL)
					}
				}
			}
			ip("netns", "del", ns.Name)
		}
	}
	if out, err := ipOutput("-j", "link", "show"); err == nil {
		var links []struct {
			Name  string `json:"ifname"`
			Alias string `json:"ifalias"`
		}
		json.Unmarshal(out, &links)
		for _, l := range links {
			if stale(l.Alias) {
				ip("link", "del", l.Name)
			}
		}
	}
}

// stale reports whether name is the mark of a run whose process is gone:
// owner, a pid, and optionally "-" and more.
func stale(name string) bool {
	rest, ok := strings.CutPrefix(name, owner)
	if !ok {
		return false
	}
	digits, _, _ := strings.Cut(rest, "-")
	pid, err := strconv.Atoi(digits)
	if err != nil || pid <= 0 || pid == os.Getpid() {
		return false
	}
	err = syscall.Kill(pid, 0)
	return errors.Is(err, syscall.ESRCH)
}
