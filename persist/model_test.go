package persist_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/countermesh/countermesh/crdt"
	"github.com/countermesh/countermesh/persist"
)

// TestStoreMatchesInMemoryModel drives a store and crdt.State — the reference the
// store's key-by-key rules must agree with — through the same random history of
// local writes and merges from two other replicas, then compares everything; with
// the small profile's cache, with a cache so small that most decisions read
// Badger, and with none.
func TestStoreMatchesInMemoryModel(t *testing.T) {
	for _, tc := range []struct {
		name      string
		cacheKeys int // 0: the profile's
	}{{"profile", 0}, {"tiny", 2}, {"none", -1}} {
		t.Run(tc.name, func(t *testing.T) {
			testStoreMatchesInMemoryModel(t, func(o *persist.Options) {
				if tc.cacheKeys != 0 {
					o.CacheKeys = tc.cacheKeys
				}
			})
		})
	}
}

func testStoreMatchesInMemoryModel(t *testing.T, tweak func(*persist.Options)) {
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	s := openStore(t, t.TempDir(), tweak)
	model := crdt.NewState(s.Replica())
	remotes := []*crdt.State{crdt.NewState(101), crdt.NewState(102)}
	remoteClock := crdt.NewClock(nil, 0)
	kinds := []string{"like", "dislike", crdt.None}
	item := func() string { return fmt.Sprint("item", rng.IntN(4)) }
	user := func() string { return fmt.Sprint("u", rng.IntN(6)) }

	for step := range 400 {
		switch rng.IntN(3) {
		case 0: // a local write of a few ops
			ops := make([]persist.Op, 1+rng.IntN(4))
			for i := range ops {
				if rng.IntN(2) == 0 {
					ops[i] = persist.Add(item(), "claps", int64(rng.IntN(9))-4|1)
				} else {
					ops[i] = persist.React(item(), user(), kinds[rng.IntN(3)])
				}
			}
			for i, r := range write(t, s, ops...) {
				applyToModel(t, model, ops[i], r)
			}
		case 1: // a remote replica writes
			rem := remotes[rng.IntN(2)]
			if rng.IntN(2) == 0 {
				rem.Add(item(), "claps", int64(rng.IntN(5)+1))
			} else {
				rem.SetReaction(item(), user(), kinds[rng.IntN(3)], remoteClock.Now())
			}
		default: // a remote replica's state arrives
			d := remotes[rng.IntN(2)].Full()
			changed := merge(t, s, d)
			if want := model.Apply(d); !changed.Equal(want) {
				t.Fatalf("step %d: merge changed %+v, model %+v", step, changed, want)
			}
		}
	}
	compareWithModel(t, s, model)
}

// applyToModel replays one acknowledged local op on the model.
func applyToModel(t *testing.T, model *crdt.State, op persist.Op, r persist.Result) {
	t.Helper()
	switch op.Kind {
	case persist.OpAdd:
		if _, err := model.Add(op.Item, op.Counter, op.By); err != nil {
			t.Fatal(err)
		}
		if got := model.Item(op.Item).Value(op.Counter); got != r.Value {
			t.Fatalf("add %+v: store says %d, model %d", op, r.Value, got)
		}
	case persist.OpReact:
		model.SetReaction(op.Item, op.User, op.Reaction, r.Register.TS)
	}
}

func compareWithModel(t *testing.T, s *persist.Store, model *crdt.State) {
	t.Helper()
	var stored crdt.Delta
	if err := s.Snapshot(7, func(d crdt.Delta) error { stored.Join(d); return nil }); err != nil {
		t.Fatal(err)
	}
	if want := model.Full(); !stored.Equal(want) {
		t.Fatalf("store state differs from the model:\n store %+v\n model %+v", stored, want)
	}
	for _, id := range stored.Items() {
		v := readItem(t, s, id, "")
		if want := model.Item(id).Tallies; !v.Tallies.Equal(want) {
			t.Errorf("%s: tallies %v, model %v", id, v.Tallies, want)
		}
	}
	if err := s.CheckTallies(); err != nil {
		t.Error(err)
	}
	recomputed, err := s.RecomputeDigest()
	if err != nil {
		t.Fatal(err)
	}
	if diff := s.Digest().Differing(recomputed); len(diff) > 0 {
		t.Errorf("maintained digest differs from the recomputed one in buckets %v", diff)
	}
}
