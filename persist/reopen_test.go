package persist_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/countermesh/countermesh/persist"
)

// TestOpenAfterKillDuringOpen leaves what a SIGKILL between Badger creating a new
// log file and sizing it leaves behind — an empty file — and opens again.
func TestOpenAfterKillDuringOpen(t *testing.T) {
	for _, ext := range []string{"vlog", "mem"} {
		t.Run(ext, func(t *testing.T) {
			dir := t.TempDir()
			s := openStore(t, dir)
			write(t, s, persist.Add("a", "claps", 1))
			s.Close()
			files, _ := filepath.Glob(filepath.Join(dir, "*."+ext))
			slices.Sort(files)
			last := 0
			if len(files) > 0 {
				fmt.Sscanf(filepath.Base(files[len(files)-1]), "%d."+ext, &last)
			}
			name := fmt.Sprintf("%06d.%s", last+1, ext)
			if ext == "mem" {
				name = fmt.Sprintf("%05d.%s", last+1, ext)
			}
			if err := os.WriteFile(filepath.Join(dir, name), nil, 0o666); err != nil {
				t.Fatal(err)
			}
			s = openStore(t, dir)
			if v := readItem(t, s, "a", ""); v.Counters["claps"] != 1 {
				t.Errorf("after reopen: %+v", v)
			}
		})
	}
}
