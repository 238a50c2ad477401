package client

import (
	"errors"
	"syscall"
)

// idleClean reports whether c, kept idle since its last answer, may carry a
// request: still open, with nothing arrived on it unasked. A peer closes a
// connection left idle (a restart, a load balancer's idle timeout), and some
// proxies first send an unasked answer on it (408 Request Timeout); without
// this check the next call would take that close as a failure of unknown
// outcome, or that answer as its own. It costs one non-blocking peek at the
// socket, no wait.
func idleClean(c *conn) bool {
	if c.br.Buffered() > 0 {
		return false
	}
	sc, ok := c.tcp.(syscall.Conn)
	if !ok {
		return true // not a socket: nothing to peek at
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	clean := false
	var one [1]byte
	err = rc.Read(func(fd uintptr) bool {
		_, _, rerr := syscall.Recvfrom(int(fd), one[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		// Nothing to read yet is the one clean answer: a byte is an unasked
		// answer (or, under TLS, a record such as a close alert), and no error
		// with no byte is the peer's close.
		clean = errors.Is(rerr, syscall.EAGAIN) || errors.Is(rerr, syscall.EWOULDBLOCK)
		return true // done: do not wait for the socket to be readable
	})
	return err == nil && clean
}
