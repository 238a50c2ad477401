package httpapitest

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"math"
	"reflect"
	"testing"

	"github.com/countermesh/countermesh/crdt"
	"github.com/countermesh/countermesh/persist"
)

// TestBackendWritesAsTheStoreDoes runs the same batches on the fake and on a
// real store and expects the same outcomes: results, sentinel errors, all or
// nothing, and what reads see after each batch. Timestamps differ (two
// clocks); their order is checked on the fake alone.
func TestBackendWritesAsTheStoreDoes(t *testing.T) {
	opts := persist.SmallOptions(t.TempDir())
	opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	store, err := persist.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	fake := New(Config{Replica: store.Replica()})

	batches := []struct {
		name string
		ops  []persist.Op
		want error // nil, or the sentinel the error matches
	}{
		{"adds", []persist.Op{persist.Add("a", "claps", 3), persist.Add("a", "views", -2), persist.Add("b", "claps", 1)}, nil},
		{"keyed add", []persist.Op{persist.AddOnce("a", "claps", 5, "k1")}, nil},
		{"replay", []persist.Op{persist.AddOnce("a", "claps", 5, "k1"), persist.Add("a", "claps", 1)}, nil},
		{"reactions", []persist.Op{persist.React("a", "u1", "like"), persist.React("a", "u2", "like"),
			persist.React("a", "u1", "dislike")}, nil},
		{"same reaction again", []persist.Op{persist.React("a", "u2", "like")}, nil},
		{"clear", []persist.Op{persist.React("a", "u2", crdt.None)}, nil},
		{"conflict undoes the batch", []persist.Op{persist.React("a", "u3", "like"), persist.Add("a", "claps", 1),
			persist.AddOnce("a", "claps", 6, "k1")}, persist.ErrIdempotencyConflict},
		{"overflow undoes the batch", []persist.Op{persist.Add("c", "n", math.MaxInt64), persist.Add("c", "n", math.MaxInt64),
			persist.Add("c", "n", math.MaxInt64),
			persist.Add("c", "n", math.MaxInt64)}, crdt.ErrOverflow},
		{"key on another item", []persist.Op{persist.AddOnce("b", "claps", 6, "k1")}, nil},
	}
	for _, b := range batches {
		wantRes, wantErr := store.Write(context.Background(), b.ops...)
		gotRes, gotErr := fake.Write(context.Background(), b.ops...)
		if !errors.Is(wantErr, b.want) || (b.want == nil) != (wantErr == nil) {
			t.Fatalf("%s: the store says %v, want %v", b.name, wantErr, b.want)
		}
		if !errors.Is(gotErr, b.want) || (b.want == nil) != (gotErr == nil) {
			t.Fatalf("%s: the fake says %v, the store %v", b.name, gotErr, wantErr)
		}
		for i := range gotRes {
			if gotRes[i].Register.TS.IsZero() != wantRes[i].Register.TS.IsZero() {
				t.Fatalf("%s: op %d stamped %s, the store %s", b.name, i, gotRes[i].Register.TS, wantRes[i].Register.TS)
			}
			gotRes[i].Register.TS, wantRes[i].Register.TS = crdt.Timestamp{}, crdt.Timestamp{}
		}
		if !reflect.DeepEqual(gotRes, wantRes) {
			t.Fatalf("%s: results %+v, the store's %+v", b.name, gotRes, wantRes)
		}
		if fake.LastSeq() != store.LastSeq() || fake.Applied(fake.Replica()) != store.LastSeq() {
			t.Fatalf("%s: last seq %d, the store's %d", b.name, fake.LastSeq(), store.LastSeq())
		}
		for _, user := range []string{"", "u1", "u2", "u3"} {
			items := []string{"a", "b", "c", "never"}
			want, err := store.ReadItems(items, user)
			if err != nil {
				t.Fatal(err)
			}
			got, err := fake.ReadItems(items, user)
			if err != nil {
				t.Fatal(err)
			}
			for i := range got {
				if !reflect.DeepEqual(got[i].Counters, want[i].Counters) || !got[i].Tallies.Equal(want[i].Tallies) ||
					got[i].User.Kind != want[i].User.Kind || got[i].User.Replica != want[i].User.Replica {
					t.Fatalf("%s: %s as %q reads %+v, the store %+v", b.name, items[i], user, got[i], want[i])
				}
			}
		}
	}
}

// TestBackendPublishesCommitsAndMerges: a write and a merge each close the
// channel Committed returned before them, each tells the follower of the items
// it changed, and a write with an observed timestamp orders after it.
func TestBackendPublishesCommitsAndMerges(t *testing.T) {
	b := New(Config{})
	var notified [][]string
	defer b.Follow(func(items []string) { notified = append(notified, items) })()

	committed := b.Committed()
	ts := crdt.Timestamp{Wall: b.WallMillis() + 500, Logical: 2}
	if err := b.ObserveTimestamp(ts); err != nil {
		t.Fatal(err)
	}
	res, err := b.Write(context.Background(), persist.React("a", "u1", "like"))
	if err != nil {
		t.Fatal(err)
	}
	if !ts.Before(res[0].Register.TS) || b.LastTimestamp().Before(res[0].Register.TS) {
		t.Fatalf("stamped %s, observed %s, last %s", res[0].Register.TS, ts, b.LastTimestamp())
	}
	assertClosed(t, committed, "a write")
	if !reflect.DeepEqual(notified, [][]string{{"a"}}) {
		t.Fatalf("a local write notified %v, want [[a]]", notified)
	}
	notified = nil

	committed = b.Committed()
	remote := crdt.NewState(0xaa)
	d, err := remote.Add("b", "claps", 4)
	if err != nil {
		t.Fatal(err)
	}
	if items := b.Merge(d); !reflect.DeepEqual(items, []string{"b"}) {
		t.Fatalf("merge changed %v, want [b]", items)
	}
	assertClosed(t, committed, "a merge")
	if !reflect.DeepEqual(notified, [][]string{{"b"}}) {
		t.Fatalf("notified %v, want [[b]]", notified)
	}
	if items := b.Merge(d); items != nil {
		t.Fatalf("merging again changed %v", items)
	}
	if v, _ := b.ReadItems([]string{"b"}, ""); v[0].Counters["claps"] != 4 {
		t.Fatalf("after the merge: %+v", v[0])
	}

	if err := b.ObserveTimestamp(crdt.Timestamp{Wall: b.WallMillis() + 2*crdt.DefaultMaxDrift.Milliseconds()}); !errors.Is(err, crdt.ErrClockDrift) {
		t.Fatalf("a timestamp beyond the max drift: %v", err)
	}
}

// TestBackendRefusesWritesWhenTold: a full disk and a failing commit refuse
// writes, apply nothing and keep reads.
func TestBackendRefusesWritesWhenTold(t *testing.T) {
	b := New(Config{})
	if _, err := b.Write(context.Background(), persist.Add("a", "claps", 1)); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		set  func(error)
		err  error
	}{
		{"disk full", b.SetFreeSpace, persist.ErrDiskFull},
		{"commit failed", b.SetWriteErr, persist.ErrCommitFailed},
	} {
		c.set(c.err)
		if _, err := b.Write(context.Background(), persist.Add("a", "claps", 1)); !errors.Is(err, c.err) {
			t.Fatalf("%s: write says %v", c.name, err)
		}
		c.set(nil)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := b.Write(ctx, persist.Add("a", "claps", 1)); !errors.Is(err, context.Canceled) {
		t.Fatalf("write with an ended context: %v", err)
	}
	if v, _ := b.ReadItems([]string{"a"}, ""); v[0].Counters["claps"] != 1 || b.LastSeq() != 1 {
		t.Fatalf("refused writes applied: %+v, last seq %d", v[0], b.LastSeq())
	}
}

// assertClosed fails the test unless ch is closed.
func assertClosed(t *testing.T, ch <-chan struct{}, after string) {
	t.Helper()
	select {
	case <-ch:
	default:
		t.Fatalf("Committed's channel is open after %s", after)
	}
}
