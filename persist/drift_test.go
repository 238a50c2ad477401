package persist_test

import (
	"context"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"github.com/countermesh/countermesh/crdt"
	"github.com/countermesh/countermesh/persist"
)

// fakeWall is a wall clock a test moves by hand.
type fakeWall struct{ ms atomic.Int64 }

func newFakeWall() *fakeWall {
	w := &fakeWall{}
	w.ms.Store(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli())
	return w
}

func (w *fakeWall) now() time.Time          { return time.UnixMilli(w.ms.Load()) }
func (w *fakeWall) advance(d time.Duration) { w.ms.Add(d.Milliseconds()) }
func (w *fakeWall) at(d time.Duration) crdt.Timestamp {
	return crdt.Timestamp{Wall: w.ms.Load() + d.Milliseconds()}
}

func withWall(w *fakeWall) func(*persist.Options) {
	return func(o *persist.Options) { o.WallClock, o.MaxDrift = w.now, time.Minute }
}

func reg(kind string, ts crdt.Timestamp) crdt.Register {
	return crdt.Register{Kind: kind, TS: ts, Replica: 9}
}

func TestMergeRefusesOnlyTheKeysBeyondMaxDrift(t *testing.T) {
	wall := newFakeWall()
	s := openStore(t, t.TempDir(), withWall(wall))
	write(t, s, persist.React("a", "late", "dislike"))
	lastSeq := s.LastSeq()

	var d crdt.Delta
	d.JoinCounter(crdt.CounterKey{Item: "a", Name: "claps"}, counterOf(9, 5))
	d.JoinRegister(crdt.RegisterKey{Item: "a", User: "soon"}, reg("like", wall.at(30*time.Second)))
	d.JoinRegister(crdt.RegisterKey{Item: "a", User: "late"}, reg("like", wall.at(2*time.Minute)))
	d.JoinRegister(crdt.RegisterKey{Item: "b", User: "now"}, reg("dislike", wall.at(0)))
	d.JoinRegister(crdt.RegisterKey{Item: "b", User: "later"}, reg("like", wall.at(5*time.Minute)))

	res, err := s.Merge(context.Background(), d)
	if err != nil {
		t.Fatalf("merge: %v", err)
	}
	var want crdt.KeySet
	want.AddRegister(crdt.RegisterKey{Item: "a", User: "late"})
	want.AddRegister(crdt.RegisterKey{Item: "b", User: "later"})
	if !res.Refused.Equal(want) {
		t.Errorf("refused %v, want %v", res.Refused, want)
	}
	if res.Drift == nil || res.Drift.Remote != wall.at(5*time.Minute) || res.Drift.Ahead() != 5*time.Minute {
		t.Errorf("drift = %v, want the register 5 min ahead", res.Drift)
	}
	var changed, wantChanged crdt.KeySet
	changed.AddDelta(res.Changed)
	wantChanged.AddCounter(crdt.CounterKey{Item: "a", Name: "claps"})
	wantChanged.AddRegister(crdt.RegisterKey{Item: "a", User: "soon"})
	wantChanged.AddRegister(crdt.RegisterKey{Item: "b", User: "now"})
	if !changed.Equal(wantChanged) {
		t.Errorf("changed %v, want the counter and the two registers within the bound", changed)
	}
	if v := readItem(t, s, "a", "late"); v.Counters["claps"] != 5 || v.User.Kind != "dislike" ||
		!v.Tallies.Equal(crdt.Tallies{"like": 1, "dislike": 1}) {
		t.Errorf("item a = %+v, want claps 5, late still dislike, like 1 dislike 1", v)
	}
	if v := readItem(t, s, "b", "later"); !v.User.IsZero() || !v.Tallies.Equal(crdt.Tallies{"dislike": 1}) {
		t.Errorf("item b = %+v, want later unset, dislike 1", v)
	}
	if err := s.CheckTallies(); err != nil {
		t.Error(err)
	}
	if got := s.Clock().Last(); got.Before(wall.at(30*time.Second)) || !got.Before(wall.at(2*time.Minute)) {
		t.Errorf("clock at %s: want the within-bound timestamps observed and no refused one", got)
	}
	if s.LastSeq() != lastSeq {
		t.Errorf("merge took sequence numbers: LastSeq %d, was %d", s.LastSeq(), lastSeq)
	}

	// Once the wall clock catches up, the same delta applies the rest.
	wall.advance(4 * time.Minute)
	res, err = s.Merge(context.Background(), d)
	if err != nil {
		t.Fatalf("merge again: %v", err)
	}
	if res.Refused.Len() != 0 || res.Drift != nil {
		t.Errorf("refused %v (%v) once within the bound", res.Refused, res.Drift)
	}
	if res.Changed.Len() != 2 {
		t.Errorf("second merge changed %d keys, want the 2 refused before", res.Changed.Len())
	}
	if v := readItem(t, s, "a", "late"); v.User.Kind != "like" || !v.Tallies.Equal(crdt.Tallies{"like": 2}) {
		t.Errorf("item a = %+v, want late like, like 2", v)
	}
	if v := readItem(t, s, "b", "later"); v.User.Kind != "like" || !v.Tallies.Equal(crdt.Tallies{"like": 1, "dislike": 1}) {
		t.Errorf("item b = %+v, want later like, like 1 dislike 1", v)
	}
	if err := s.CheckTallies(); err != nil {
		t.Error(err)
	}
}

func TestMergeOfOnlyRefusedKeysAppliesNothing(t *testing.T) {
	wall := newFakeWall()
	s := openStore(t, t.TempDir(), withWall(wall))
	var d crdt.Delta
	d.JoinRegister(crdt.RegisterKey{Item: "a", User: "u"}, reg("like", wall.at(61*time.Second)))
	res, err := s.Merge(context.Background(), d)
	if err != nil {
		t.Fatalf("merge: %v", err)
	}
	if res.Refused.Len() != 1 || res.Changed.Len() != 0 || res.Drift == nil {
		t.Errorf("result %+v, want the one key refused and nothing changed", res)
	}
	if v := readItem(t, s, "a", "u"); !v.User.IsZero() || len(v.Tallies) != 0 {
		t.Errorf("refused register applied: %+v", v)
	}
	if !s.Clock().Last().Before(wall.at(time.Minute)) {
		t.Errorf("refused timestamp moved the clock to %s", s.Clock().Last())
	}
}

// TestMergeWithRefusalsKeepsTalliesExact merges random batches whose registers are
// spread across the drift bound while the wall clock moves, and checks after each
// that the store holds exactly what a model applying only the accepted registers
// holds, and that its tallies count its registers.
func TestMergeWithRefusalsKeepsTalliesExact(t *testing.T) {
	wall := newFakeWall()
	s := openStore(t, t.TempDir(), withWall(wall))
	rng := rand.New(rand.NewPCG(1, 2))
	model := crdt.NewState(1)
	users := []string{"u1", "u2", "u3", "u4", "u5"}
	kinds := []string{"like", "dislike", ""}
	for round := range 30 {
		var d crdt.Delta
		for range 1 + rng.IntN(6) {
			ahead := time.Duration(rng.IntN(150)-30) * time.Second
			r := crdt.Register{Kind: kinds[rng.IntN(len(kinds))], TS: wall.at(ahead),
				Replica: crdt.ReplicaID(2 + rng.IntN(3))}
			d.JoinRegister(crdt.RegisterKey{Item: "post", User: users[rng.IntN(len(users))]}, r)
		}
		res, err := s.Merge(context.Background(), d)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		var accepted crdt.Delta
		for k, r := range d.Registers {
			_, refused := res.Refused.Registers[k]
			if beyond := r.TS.Wall > wall.at(time.Minute).Wall; refused != beyond {
				t.Fatalf("round %d: %v at %s: refused %v, beyond the bound %v", round, k, r.TS, refused, beyond)
			}
			if !refused {
				accepted.JoinRegister(k, r)
			}
		}
		model.Apply(accepted)
		want := model.Item("post")
		if want == nil {
			want = &crdt.Item{}
		}
		v := readItem(t, s, "post", "")
		if !v.Tallies.Equal(want.Tallies) {
			t.Fatalf("round %d: tallies %v, model %v", round, v.Tallies, want.Tallies)
		}
		for _, u := range users {
			if got := readItem(t, s, "post", u).User; got != want.Registers[u] {
				t.Fatalf("round %d: %s holds %+v, model %+v", round, u, got, want.Registers[u])
			}
		}
		if err := s.CheckTallies(); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		wall.advance(time.Duration(rng.IntN(20)) * time.Second)
	}
}
