package bench

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/countermesh/countermesh/cmd/countermesh/meshfiles"
)

// ServeCommand runs countermesh serve as a child process.
type ServeCommand struct {
	// Args are the binary and what comes before serve's own flags, such as
	// ["/usr/local/bin/countermesh", "serve"].
	Args []string
	// Env is added to the run's environment.
	Env []string
}

// servedPeer is the one peer of a one-region mesh, run as a user runs it: a
// countermesh serve process of its own with the production profile (no
// --local), its gossip, sync and API on free loopback ports, its API needing the
// mesh's API token.
type servedPeer struct {
	proc  *process
	url   string // the API's base URL
	token string // the mesh's API token
}

// startServedPeer writes the mesh's topology and files under dir, starts the
// peer with serve, with a memory budget of memory bytes when positive, and
// waits until its API answers ready.
func startServedPeer(dir string, serve ServeCommand, memory int64) (*servedPeer, error) {
	ports, err := freePorts(3) // gossip, sync, API
	if err != nil {
		return nil, err
	}
	addr := func(port int) string { return fmt.Sprintf("127.0.0.1:%d", port) }
	p := meshfiles.Peer{Region: "local", Name: "local-1", Host: "127.0.0.1",
		Gossip: addr(ports[0]), Sync: addr(ports[1]), API: addr(ports[2])}
	if err := meshfiles.Write(dir, meshfiles.Mesh{Name: "bench", APIToken: apiTokenName, Peers: []meshfiles.Peer{p}}); err != nil {
		return nil, err
	}
	token, err := meshfiles.ReadAPIToken(dir, apiTokenName)
	if err != nil {
		return nil, err
	}
	args := append(serve.Args[1:len(serve.Args):len(serve.Args)], "--topology", filepath.Join(dir, meshfiles.Topology),
		"--peer", p.Name, "--data", filepath.Join(dir, "data"), "--log-level", "warn")
	if memory > 0 {
		args = append(args, "--memory", strconv.FormatInt(memory, 10))
	}
	proc, err := startProcess(serve.Args[0], args, serve.Env, filepath.Join(dir, "serve.log"), nil)
	if err != nil {
		return nil, err
	}
	s := &servedPeer{proc: proc, url: "http://" + p.API, token: token}
	// Each probe has a deadline of its own: a peer that takes the connection
	// and never answers must not hold the run past waitFor's minute.
	probe := &http.Client{Timeout: 2 * time.Second}
	err = waitFor(proc, time.Minute, func() error {
		req, err := http.NewRequest(http.MethodGet, s.url+"/readyz", nil)
		if err != nil {
			return err
		}
		req.Close = true // no connection left behind
		resp, err := probe.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET /readyz: %s", resp.Status)
		}
		return nil
	})
	if err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}

// stop asks the peer to drain and exit (SIGTERM), as an operator stops it, and
// waits for it; an exit other than 0 is an error.
func (s *servedPeer) stop() error {
	s.proc.stop(syscall.SIGTERM)
	if s.proc.err != nil {
		return fmt.Errorf("countermesh serve: %w; see its log: %s", s.proc.err, tail(s.proc.log, 600))
	}
	return nil
}
