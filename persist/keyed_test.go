package persist_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/countermesh/countermesh/crdt"
	"github.com/countermesh/countermesh/crdt/codec"
	"github.com/countermesh/countermesh/persist"
)

// ship merges into to what from's sender would ship: the current state of
// every key from changed locally, as a delta.
func ship(t testing.TB, from, to *persist.Store) crdt.Delta {
	t.Helper()
	keys, _, err := from.Changes(0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	d, err := from.State(keys)
	if err != nil {
		t.Fatal(err)
	}
	return merge(t, to, d)
}

// checkDigest fails t unless s's maintained digest equals the one recomputed
// from everything stored.
func checkDigest(t testing.TB, s *persist.Store) {
	t.Helper()
	re, err := s.RecomputeDigest()
	if err != nil {
		t.Fatal(err)
	}
	if *re != *s.Digest() {
		t.Fatal("maintained digest differs from the recomputed one")
	}
}

func counterValue(t testing.TB, s *persist.Store, item, name string) int64 {
	t.Helper()
	c, err := s.Counter(item, name)
	if err != nil {
		t.Fatal(err)
	}
	return c.Value()
}

// A frontend behind a load balancer retries an increment at another peer after
// its first answer was lost: both peers applied it. Once they exchange what they
// changed, the later applier compensates and both count it once; a third retry
// anywhere is a replay.
func TestKeyedIncrementAtTwoPeersCountsOnce(t *testing.T) {
	wall := newFakeWall()
	tweak := func(o *persist.Options) { o.WallClock = wall.now }
	a := openStore(t, t.TempDir(), tweak)
	b := openStore(t, t.TempDir(), tweak)

	if r := write(t, a, persist.AddOnce("post", "claps", 3, "tok\x00k1"))[0]; r.Replayed || r.Value != 3 {
		t.Fatalf("first application at a: %+v", r)
	}
	wall.advance(time.Millisecond)
	if r := write(t, b, persist.AddOnce("post", "claps", 3, "tok\x00k1"))[0]; r.Replayed || r.Value != 3 {
		t.Fatalf("retry at b, which had not heard of it: %+v", r)
	}
	// b learns that a applied first: it takes its own application back.
	changed := ship(t, a, b)
	if got := counterValue(t, b, "post", "claps"); got != 3 {
		t.Fatalf("b after merging a's record: claps = %d, want 3", got)
	}
	if c := changed.Counters[crdt.CounterKey{Item: "post", Name: "claps"}]; c.Value() != 3 {
		t.Fatalf("merge reported claps %+v, want the compensated value 3", c)
	}
	if e := mustCounter(t, b, "post", "claps").Entry(b.Replica()); e != (crdt.PN{P: 3, N: 3}) {
		t.Fatalf("b's own entry %+v, want P 3 N 3", e)
	}
	// The compensation is b's own mutation: it ships to a like any other.
	ship(t, b, a)
	for name, s := range map[string]*persist.Store{"a": a, "b": b} {
		if got := counterValue(t, s, "post", "claps"); got != 3 {
			t.Errorf("%s converged to claps = %d, want 3", name, got)
		}
		if r := write(t, s, persist.AddOnce("post", "claps", 3, "tok\x00k1"))[0]; !r.Replayed || r.Value != 3 {
			t.Errorf("third retry at %s: %+v, want replayed with value 3", name, r)
		}
		checkDigest(t, s)
	}
	if !persist.SameState(a, b) {
		t.Error("a and b differ after exchanging everything")
	}
	// Shipping everything again changes nothing: the compensation is made once.
	ship(t, a, b)
	ship(t, b, a)
	if got := counterValue(t, b, "post", "claps"); got != 3 {
		t.Errorf("after shipping again: claps = %d, want 3", got)
	}
}

// Two regions accept the same key with different amounts during a partition:
// the earlier application's amount stands everywhere; a reuse of the key for
// another amount is refused where it is detected.
func TestConflictingKeyedIncrementsKeepTheWinner(t *testing.T) {
	wall := newFakeWall()
	tweak := func(o *persist.Options) { o.WallClock = wall.now }
	a := openStore(t, t.TempDir(), tweak)
	b := openStore(t, t.TempDir(), tweak)
	write(t, b, persist.AddOnce("post", "claps", 5, "k"))
	wall.advance(time.Millisecond)
	write(t, a, persist.AddOnce("post", "claps", 2, "k"))
	ship(t, a, b)
	ship(t, b, a)
	ship(t, a, b)
	for name, s := range map[string]*persist.Store{"a": a, "b": b} {
		if got := counterValue(t, s, "post", "claps"); got != 5 {
			t.Errorf("%s: claps = %d, want the winner's 5", name, got)
		}
		_, err := s.Write(context.Background(), persist.AddOnce("post", "claps", 2, "k"))
		if !errors.Is(err, persist.ErrIdempotencyConflict) {
			t.Errorf("%s: reuse of the key for 2: err = %v, want ErrIdempotencyConflict", name, err)
		}
	}
}

// The compensation and its mark are durable together: after a restart, the
// same record merged again compensates nothing more.
func TestCompensationSurvivesRestart(t *testing.T) {
	wall := newFakeWall()
	tweak := func(o *persist.Options) { o.WallClock = wall.now }
	a := openStore(t, t.TempDir(), tweak)
	dirB := t.TempDir()
	b := openStore(t, dirB, tweak)
	write(t, a, persist.AddOnce("post", "views", -4, "k"))
	wall.advance(time.Millisecond)
	write(t, b, persist.AddOnce("post", "views", -4, "k"))
	ship(t, a, b)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b = openStore(t, dirB, tweak)
	ship(t, a, b)
	if got := counterValue(t, b, "post", "views"); got != -4 {
		t.Errorf("after restart and a second merge: views = %d, want -4", got)
	}
	if e := mustCounter(t, b, "post", "views").Entry(b.Replica()); e != (crdt.PN{P: 4, N: 4}) {
		t.Errorf("b's own entry %+v, want P 4 N 4 (a negative amount compensates on P)", e)
	}
	checkDigest(t, b)
}

// A record past its expiry is as good as absent: a slower peer's copy is not
// taken back (no compensation), the key counts anew, and the sweeper deletes
// expired records with their digest hashes.
func TestExpiredRecordsAreNotTakenBack(t *testing.T) {
	wall := newFakeWall()
	tweak := func(o *persist.Options) {
		o.WallClock = wall.now
		o.IdempotencyTTL = time.Hour
	}
	a := openStore(t, t.TempDir(), tweak)
	b := openStore(t, t.TempDir(), tweak)
	write(t, a, persist.AddOnce("post", "claps", 1, "k"))
	wall.advance(time.Millisecond)
	write(t, b, persist.AddOnce("post", "claps", 1, "k"))

	wall.advance(2 * time.Hour) // a partition longer than the TTL
	ship(t, a, b)
	if got := counterValue(t, b, "post", "claps"); got != 2 {
		t.Errorf("an expired record was taken back: claps = %d, want 2 (the documented duplicate)", got)
	}
	if r := write(t, a, persist.AddOnce("post", "claps", 1, "k"))[0]; r.Replayed {
		t.Errorf("a retry after the TTL was replayed: %+v", r)
	}
	for _, s := range []*persist.Store{a, b} {
		n, err := s.ExpireIdempotency(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		checkDigest(t, s)
		if s == b && n != 1 {
			t.Errorf("b expired %d records, want 1", n)
		}
	}
}

func mustCounter(t testing.TB, s *persist.Store, item, name string) crdt.PNCounter {
	t.Helper()
	c, err := s.Counter(item, name)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

const compensateEnvDir = "COUNTERMESH_COMPENSATE_CHILD" // set only in the child

// A peer killed with SIGKILL while it compensates keyed increments, restarted
// and handed the same records again, compensates each exactly once: the
// compensation and its mark commit in one batch.
func TestCompensationSurvivesKill(t *testing.T) {
	if dir := os.Getenv(compensateEnvDir); dir != "" {
		compensateChild(dir) // never returns: merges, then waits to be killed
		return
	}
	if testing.Short() {
		t.Skip("kills a child process")
	}
	const keys = 300
	rng := rand.New(rand.NewPCG(20261207, 0))
	for cycle := range 4 {
		dir := t.TempDir()
		earlier := func() time.Time { return time.Now().Add(-time.Second) }
		a := openStore(t, filepath.Join(dir, "a"), func(o *persist.Options) { o.WallClock = earlier })
		b := openStore(t, filepath.Join(dir, "b"))
		for i := range keys {
			op := persist.AddOnce(fmt.Sprintf("item%d", i%7), "claps", int64(i%5+1), fmt.Sprintf("k%d", i))
			write(t, a, op)
			write(t, b, op)
		}
		ks, _, err := a.Changes(0, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		fromA, err := a.State(ks)
		if err != nil {
			t.Fatal(err)
		}
		a.Close()
		b.Close()
		if err := os.WriteFile(filepath.Join(dir, "delta"), codec.EncodeDelta(fromA), 0o600); err != nil {
			t.Fatal(err)
		}

		cmd := exec.Command(os.Args[0], "-test.run=^TestCompensationSurvivesKill$")
		cmd.Env = append(os.Environ(), compensateEnvDir+"="+dir)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := bufio.NewScanner(out)
		if !lines.Scan() {
			t.Fatalf("cycle %d: the child said nothing", cycle)
		}
		time.Sleep(time.Duration(rng.Int64N(int64(30 * time.Millisecond)))) // a random kill point, not a wait for a condition
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()

		b = openStore(t, filepath.Join(dir, "b"))
		merge(t, b, fromA)
		want := map[string]int64{}
		for i := range keys {
			want[fmt.Sprintf("item%d", i%7)] += int64(i%5 + 1)
		}
		for item, n := range want {
			if got := counterValue(t, b, item, "claps"); got != n {
				t.Errorf("cycle %d: %s claps = %d, want %d (each key once)", cycle, item, got, n)
			}
		}
		checkDigest(t, b)
		b.Close()
	}
}

// compensateChild merges the delta in dir key by key into the store dir/b,
// saying "merging" first, then waits to be killed.
func compensateChild(dir string) {
	b, err := persist.Open(persist.SmallOptions(filepath.Join(dir, "b")))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "delta"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	d, err := codec.DecodeDelta(raw)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println("merging")
	for k, c := range d.Counters {
		var one crdt.Delta
		one.JoinCounter(k, c)
		if _, err := b.Merge(context.Background(), one); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	for k, rec := range d.Idem {
		var one crdt.Delta
		one.JoinIdem(k, rec)
		if _, err := b.Merge(context.Background(), one); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	select {}
}
