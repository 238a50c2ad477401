package bench

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"time"
)

// process is a server this run started (redis-server, postgres). It dies with
// the run: stop ends it, and the kernel kills it if the run itself dies.
type process struct {
	name string
	cmd  *exec.Cmd
	done chan struct{} // closed when it exited
	err  error         // its exit, once done is closed
	log  string        // where its output goes
}

// startProcess starts bin with args and env added to this process's
// environment, its output to logPath, as cred's user when cred is not nil.
func startProcess(bin string, args, env []string, logPath string, cred *syscall.Credential) (*process, error) {
	out, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	if cred != nil {
		os.Chown(logPath, int(cred.Uid), int(cred.Gid))
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Env = append(append(os.Environ(), "LC_ALL=C"), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true, Credential: cred}
	if err := cmd.Start(); err != nil {
		out.Close()
		return nil, fmt.Errorf("start %s: %w", filepath.Base(bin), err)
	}
	p := &process{name: filepath.Base(bin), cmd: cmd, done: make(chan struct{}), log: logPath}
	go func() {
		p.err = cmd.Wait()
		out.Close()
		close(p.done)
	}()
	return p, nil
}

// exited reports whether the process has exited, with why.
func (p *process) exited() error {
	select {
	case <-p.done:
		return fmt.Errorf("%s exited (%v); see its log: %s", p.name, p.err, tail(p.log, 600))
	default:
		return nil
	}
}

// stop asks the process to exit (SIGTERM, or SIGINT for postgres' fast
// shutdown: sig), kills it if it has not within 10 s, and waits for it.
func (p *process) stop(sig syscall.Signal) {
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

// tail returns up to n bytes of the end of a file.
func tail(path string, n int) string {
	b, _ := os.ReadFile(path)
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// freePort returns a port free for both TCP and UDP on the loopback
// interface right now.
func freePort() (int, error) {
	ports, err := freePorts(1)
	if err != nil {
		return 0, err
	}
	return ports[0], nil
}

// freePorts returns n distinct ports free for both TCP and UDP on the
// loopback interface right now: each stays taken until all are found, so no
// two are the same.
func freePorts(n int) ([]int, error) {
	var ports []int
	var held []io.Closer
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for tries := 0; len(ports) < n; tries++ {
		if tries == 100*n {
			return nil, errors.New("no port free for both TCP and UDP on 127.0.0.1")
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		held = append(held, ln)
		port := ln.Addr().(*net.TCPAddr).Port
		if u, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			held = append(held, u)
			ports = append(ports, port)
		}
	}
	return ports, nil
}

// findBinary looks for name on PATH, then in the given glob patterns (the last
// match in sorted order: the newest version).
func findBinary(name string, globs ...string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, g := range globs {
		matches, _ := filepath.Glob(g)
		slices.Sort(matches)
		for i := len(matches) - 1; i >= 0; i-- {
			if st, err := os.Stat(matches[i]); err == nil && st.Mode().IsRegular() {
				return matches[i], nil
			}
		}
	}
	return "", fmt.Errorf("%s not found on PATH or in %v", name, globs)
}

// unprivileged returns, when running as root, the credentials of a user to
// run a server as that refuses root (postgres): the postgres user, else
// nobody. It returns nil when not root.
func unprivileged() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, err1 := strconv.Atoi(u.Uid)
		gid, err2 := strconv.Atoi(u.Gid)
		if err1 == nil && err2 == nil {
			return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
		}
	}
	return nil, errors.New("running as root and found no postgres or nobody user to run postgres as")
}

// waitFor calls ready until it returns nil, the process exits or timeout passes.
func waitFor(p *process, timeout time.Duration, ready func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := ready()
		if err == nil {
			return nil
		}
		if perr := p.exited(); perr != nil {
			return perr
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready within %s: %v", p.name, timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
