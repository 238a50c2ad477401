package persist

import (
	"errors"
	"fmt"
	"syscall"
)

// ErrDiskFull is matched by the error of a write refused because the data
// directory's file system has less free space than Options.MinFreeBytes.
//
// Badger maps its files into memory; on a file system that fills up, a write
// through such a mapping kills the process with SIGBUS instead of returning an
// error. The store therefore refuses writes while free space is below a reserve
// large enough for Badger's own flushes and compactions, answering callers with an
// error they can turn into 503, and keeps serving reads.
var ErrDiskFull = errors.New("persist: disk full")

// checkFreeSpace fails when the data directory has less than min bytes free.
func checkFreeSpace(dir string, min uint64) error {
	if min == 0 {
		return nil
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return fmt.Errorf("statfs %s: %w", dir, err)
	}
	free := st.Bavail * uint64(st.Bsize)
	if free < min {
		return fmt.Errorf("%w: %d bytes free in %s, below the %d reserved: %w",
			ErrDiskFull, free, dir, min, syscall.ENOSPC)
	}
	return nil
}

// CheckFreeSpace returns nil while the data directory's file system has at
// least Options.MinFreeBytes free, else an error matching ErrDiskFull that says
// how much is free: the check that refuses writes, for readiness probes. It
// costs one statfs call.
func (s *Store) CheckFreeSpace() error {
	return checkFreeSpace(s.opts.Dir, uint64(s.opts.MinFreeBytes))
}
