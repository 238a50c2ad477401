package persist_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/countermesh/countermesh/persist"
)

// mountSmallDisk mounts a tmpfs of the given size on a fresh directory: a real file
// system that fills up. It needs root; without it the test is skipped, unless
// COUNTERMESH_REQUIRE_ROOT_TESTS is set (CI runs as root and sets it).
func mountSmallDisk(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput()
	if err != nil {
		msg := fmt.Sprintf("cannot mount a tmpfs (needs root): %v: %s", err, strings.TrimSpace(string(out)))
		if os.Getenv("COUNTERMESH_REQUIRE_ROOT_TESTS") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	t.Cleanup(func() { exec.Command("umount", dir).Run() })
	return dir
}

// TestRealDiskFull fills a real (tmpfs) file system: writes past the reserve fail
// with ErrDiskFull, the process does not crash, reads keep working, everything
// acknowledged is there, and the store reopens.
func TestRealDiskFull(t *testing.T) {
	dir := mountSmallDisk(t, "112m")
	s := openStore(t, dir, func(o *persist.Options) { o.MinFreeBytes = 80 << 20 })
	pad := strings.Repeat("p", 900) // big keys fill the disk quickly
	acked := 0
	var err error
	for i := 0; i < 1_000_000 && err == nil; i += 50 {
		ops := make([]persist.Op, 50)
		for j := range ops {
			ops[j] = persist.React("item", fmt.Sprint(pad, i+j), "like")
		}
		if _, err = s.Write(context.Background(), ops...); err == nil {
			acked += len(ops)
		}
	}
	if !errors.Is(err, persist.ErrDiskFull) || !errors.Is(err, persist.ErrCommitFailed) || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("after %d writes: err = %v, want ErrDiskFull", acked, err)
	}
	t.Logf("disk full after %d acknowledged writes: %v", acked, err)
	if v := readItem(t, s, "item", ""); v.Tallies["like"] != int64(acked) {
		t.Errorf("like tally = %d, want %d", v.Tallies["like"], acked)
	}
	// Compactions may free some space again, so a later write may succeed; it
	// must never fail any other way.
	if _, err := s.Write(context.Background(), persist.Add("item", "claps", 1)); err != nil && !errors.Is(err, persist.ErrDiskFull) {
		t.Errorf("next write: err = %v, want nil or ErrDiskFull", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("close on a full disk: %v", err)
	}
	s = openStore(t, dir, func(o *persist.Options) { o.MinFreeBytes = -1 })
	if v := readItem(t, s, "item", ""); v.Tallies["like"] != int64(acked) {
		t.Errorf("after reopen: like tally = %d, want %d", v.Tallies["like"], acked)
	}
	if err := s.CheckTallies(); err != nil {
		t.Error(err)
	}
}
