package persist_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/countermesh/countermesh/crdt"
	"github.com/countermesh/countermesh/persist"
	"github.com/countermesh/countermesh/tests/testkit"
)

// restoreOpts returns small-profile options for a restore into dir.
func restoreOpts(dir string) persist.Options {
	o := persist.SmallOptions(dir)
	o.Logger = discardLogger()
	return o
}

// backupWriter writes to one item, op after op: each Write adds 1 to counter "n"
// under idempotency key "wW-I" and sets user "uI" to like, atomically. So in any
// consistent snapshot counter n, the like tally and the likes among u0..
// all equal the number of writes it holds.
type backupWriter struct {
	item string
	mu   sync.Mutex
	done int            // writes acknowledged
	ts   crdt.Timestamp // register timestamp of the last acknowledged write
}

func (w *backupWriter) acked() (int, crdt.Timestamp) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.done, w.ts
}

func (w *backupWriter) run(ctx context.Context, s *persist.Store, id int) error {
	for i := 0; ctx.Err() == nil; i++ {
		res, err := s.Write(ctx,
			persist.AddOnce(w.item, "n", 1, fmt.Sprintf("w%d-%d", id, i)),
			persist.React(w.item, fmt.Sprintf("u%d", i), "like"))
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return err
		}
		w.mu.Lock()
		w.done, w.ts = i+1, res[1].Register.TS
		w.mu.Unlock()
	}
	return nil
}

func TestBackupWhileWritingRestoresNewReplica(t *testing.T) {
	ctx := context.Background()
	src := openStore(t, t.TempDir())
	write(t, src, persist.Add("warmup", "n", 1), persist.Add("warmup", "n", 1))
	if err := src.SetAcked(ctx, 42, 1); err != nil {
		t.Fatal(err)
	}
	if err := src.TrimLog(1); err != nil {
		t.Fatal(err)
	}

	writers := make([]*backupWriter, 4)
	wctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	errs := make(chan error, len(writers))
	for i := range writers {
		w := &backupWriter{item: fmt.Sprintf("video:%d", i)}
		writers[i] = w
		wg.Go(func() { errs <- w.run(wctx, src, i) })
	}
	defer func() { stop(); wg.Wait() }()
	testkit.WaitFor(t, 20*time.Second, "writers to get going", func() bool {
		for _, w := range writers {
			if n, _ := w.acked(); n < 20 {
				return false
			}
		}
		return true
	})
	before := make([]int, len(writers))
	var newest crdt.Timestamp
	for i, w := range writers {
		n, ts := w.acked()
		before[i] = n
		if newest.Before(ts) {
			newest = ts
		}
	}
	var buf bytes.Buffer
	if err := src.Backup(&buf); err != nil {
		t.Fatalf("backup: %v", err)
	}
	testkit.WaitFor(t, 20*time.Second, "writes after the backup", func() bool {
		n, _ := writers[0].acked()
		return n > before[0]+5
	})
	stop()
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("writer: %v", err)
		}
	}

	// The restored peer's wall clock is an hour behind: only the restored
	// high-water mark keeps its clock ahead of what it holds.
	dst := t.TempDir()
	skewed := func() time.Time { return time.Now().Add(-time.Hour) }
	opts := restoreOpts(dst)
	opts.WallClock = skewed
	if err := persist.Restore(&buf, opts); err != nil {
		t.Fatalf("restore: %v", err)
	}
	s := openStore(t, dst, func(o *persist.Options) { o.WallClock = skewed })

	for i, w := range writers {
		v := readItem(t, s, w.item, "")
		n := int(v.Counters["n"])
		after, _ := w.acked()
		if n < before[i] || n > after {
			t.Errorf("%s: counter %d, want between %d (acknowledged before the backup) and %d", w.item, n, before[i], after)
		}
		if v.Tallies["like"] != int64(n) {
			t.Errorf("%s: like tally %d, counter %d: not one snapshot", w.item, v.Tallies["like"], n)
		}
		last, _ := s.Register(w.item, fmt.Sprintf("u%d", n-1))
		next, _ := s.Register(w.item, fmt.Sprintf("u%d", n))
		if last.Kind != "like" || !next.IsZero() {
			t.Errorf("%s: registers u%d=%+v u%d=%+v, want like and none", w.item, n-1, last, n, next)
		}
		c, err := s.Counter(w.item, "n")
		if err != nil || c.Len() != 1 || c.Entry(src.Replica()).P != uint64(n) {
			t.Errorf("%s: counter %+v (%v), want the old replica's entry of %d", w.item, c, err, n)
		}
	}
	if err := s.CheckTallies(); err != nil {
		t.Error(err)
	}
	if s.Replica() == src.Replica() || s.Replica() == 0 {
		t.Errorf("restored replica %v, source %v: want a new id", s.Replica(), src.Replica())
	}
	if s.LastSeq() != 0 {
		t.Errorf("LastSeq = %d, want 0", s.LastSeq())
	}
	if keys, upTo, err := s.Changes(0, 1<<20); err != nil || keys.Len() != 0 || upTo != 0 {
		t.Errorf("Changes = %d keys up to %d (%v), want none", keys.Len(), upTo, err)
	}
	if start, err := s.LogStart(); err != nil || start != 1 {
		t.Errorf("LogStart = %d (%v), want 1", start, err)
	}
	if acks, err := s.Acks(); err != nil || len(acks) != 0 {
		t.Errorf("Acks = %v (%v), want none", acks, err)
	}
	if now := s.Clock().Now(); !newest.Before(now) {
		t.Errorf("clock reads %v, behind %v written before the backup", now, newest)
	}

	// An increment acknowledged before the backup replays, reporting no sequence
	// and the counter's value; a new one is the new replica's first.
	res := write(t, s, persist.AddOnce(writers[0].item, "n", 1, "w0-0"))
	if c, _ := s.Counter(writers[0].item, "n"); !res[0].Replayed || res[0].Value != c.Value() || res[0].Seq != 0 {
		t.Errorf("replayed increment = %+v, want replayed, value %d, seq 0", res[0], c.Value())
	}
	res = write(t, s, persist.Add(writers[0].item, "n", 1))
	if res[0].Seq != 1 || s.LastSeq() != 1 {
		t.Errorf("first new write got seq %d, LastSeq %d; want 1, 1", res[0].Seq, s.LastSeq())
	}
	if c, _ := s.Counter(writers[0].item, "n"); c.Entry(s.Replica()).P != 1 {
		t.Errorf("new replica's entry = %+v, want P 1", c.Entry(s.Replica()))
	}
}

// backupOf returns a backup of a small store.
func backupOf(t *testing.T) []byte {
	t.Helper()
	src := openStore(t, t.TempDir())
	for i := range 50 {
		write(t, src, persist.Add(fmt.Sprintf("item:%d", i), "claps", 3),
			persist.React(fmt.Sprintf("item:%d", i), "u1", "like"))
	}
	var buf bytes.Buffer
	if err := src.Backup(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestRestoreRefusesNonEmptyDir(t *testing.T) {
	b := backupOf(t)
	dir := t.TempDir()
	keep := filepath.Join(dir, "keep")
	if err := os.WriteFile(keep, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := persist.Restore(bytes.NewReader(b), restoreOpts(dir))
	if !errors.Is(err, persist.ErrRestoreTarget) {
		t.Fatalf("restore into a non-empty dir: %v, want ErrRestoreTarget", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("dir holds %d entries after a refused restore, want only keep", len(entries))
	}
}

func TestRestoreBadBackupLeavesNothing(t *testing.T) {
	b := backupOf(t)
	if len(b) < 100 {
		t.Fatalf("backup of %d bytes: too small to cut", len(b))
	}
	flip := func(i int) []byte { c := bytes.Clone(b); c[i] ^= 0x40; return c }
	cases := []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"header only", b[:9]},
		{"cut in the middle", b[:len(b)/2]},
		{"cut before the end record", b[:len(b)-16]},
		{"cut in the end record", b[:len(b)-1]},
		{"corrupt byte", flip(len(b) / 2)},
		{"bad magic", flip(0)},
		{"other version", flip(8)},
		{"data after the end", append(bytes.Clone(b), 0)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			parent := t.TempDir()
			absent := filepath.Join(parent, "data")
			err := persist.Restore(bytes.NewReader(c.in), restoreOpts(absent))
			if !errors.Is(err, persist.ErrBadBackup) {
				t.Errorf("restore: %v, want ErrBadBackup", err)
			}
			if _, err := os.Stat(absent); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("data dir left behind (%v)", err)
			}
			empty := t.TempDir()
			if err := persist.Restore(bytes.NewReader(c.in), restoreOpts(empty)); err == nil {
				t.Errorf("restore into an empty dir succeeded")
			}
			if entries, err := os.ReadDir(empty); err != nil || len(entries) != 0 {
				t.Errorf("empty dir holds %d entries after a failed restore (%v)", len(entries), err)
			}
		})
	}
}

func TestRestoreIntoAbsentDirAndHasStore(t *testing.T) {
	b := backupOf(t)
	dir := filepath.Join(t.TempDir(), "a", "b")
	if ok, err := persist.HasStore(dir); ok || err != nil {
		t.Errorf("HasStore(absent) = %v, %v", ok, err)
	}
	if err := persist.Restore(bytes.NewReader(b), restoreOpts(dir)); err != nil {
		t.Fatal(err)
	}
	if ok, err := persist.HasStore(dir); !ok || err != nil {
		t.Errorf("HasStore(restored) = %v, %v", ok, err)
	}
	s := openStore(t, dir)
	if v := readItem(t, s, "item:7", ""); v.Counters["claps"] != 3 || v.Tallies["like"] != 1 {
		t.Errorf("restored item:7 = %+v", v)
	}
	// A restored store's own backup restores again, as yet another replica.
	var again bytes.Buffer
	if err := s.Backup(&again); err != nil {
		t.Fatal(err)
	}
	if err := persist.Restore(&again, restoreOpts(t.TempDir())); err != nil {
		t.Fatal(err)
	}
}

func TestBackupOfClosedStore(t *testing.T) {
	s := openStore(t, t.TempDir())
	s.Close()
	if err := s.Backup(new(bytes.Buffer)); !errors.Is(err, persist.ErrClosed) {
		t.Errorf("backup of a closed store: %v, want ErrClosed", err)
	}
}

func TestBackupOfManyChunks(t *testing.T) {
	src := openStore(t, t.TempDir())
	pad := string(bytes.Repeat([]byte("u"), 10_000))
	for b := range 5 {
		ops := make([]persist.Op, 30)
		for i := range ops {
			ops[i] = persist.React(fmt.Sprintf("item:%d", i%10), fmt.Sprintf("%s%d-%d", pad, b, i), "like")
		}
		write(t, src, ops...)
	}
	var buf bytes.Buffer
	if err := src.Backup(&buf); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	const firstChunkEnd = 9 + 4 + 1<<20 + 4 // header, length, data, checksum
	if len(b) < firstChunkEnd+1000 {
		t.Fatalf("backup of %d bytes: want more than one chunk", len(b))
	}
	for name, in := range map[string][]byte{
		"cut after the first chunk":   b[:firstChunkEnd],
		"corrupt in the second chunk": func() []byte { c := bytes.Clone(b); c[firstChunkEnd+100] ^= 1; return c }(),
		"checksum of the first chunk": func() []byte { c := bytes.Clone(b); c[firstChunkEnd-1] ^= 1; return c }(),
	} {
		dir := filepath.Join(t.TempDir(), "data")
		if err := persist.Restore(bytes.NewReader(in), restoreOpts(dir)); !errors.Is(err, persist.ErrBadBackup) {
			t.Errorf("%s: restore: %v, want ErrBadBackup", name, err)
		}
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: data dir left behind (%v)", name, err)
		}
	}
	dir := t.TempDir()
	if err := persist.Restore(bytes.NewReader(b), restoreOpts(dir)); err != nil {
		t.Fatal(err)
	}
	s := openStore(t, dir)
	if v := readItem(t, s, "item:3", ""); v.Tallies["like"] != 15 {
		t.Errorf("restored like tally of item:3 = %d, want 15", v.Tallies["like"])
	}
}
