package crdt_test

import (
	"errors"
	"math"
	"slices"
	"testing"

	"github.com/countermesh/countermesh/crdt"
	"pgregory.net/rapid"
)

// TestStateApplyReportsChanges: Apply returns exactly the keys it changed, with
// their new states, and applying the same delta again changes nothing.
func TestStateApplyReportsChanges(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := crdt.NewState(1)
		s.Apply(genDelta().Draw(t, "initial"))
		before := s.Full()
		d := genDelta().Draw(t, "delta")
		changed := s.Apply(d)
		after := s.Full()

		want := withoutBottom(before.Clone())
		want.Join(withoutBottom(d))
		if !after.Equal(want) {
			t.Fatalf("state after Apply\n%+v\nwant the join\n%+v", after, want)
		}
		for k, c := range after.Counters {
			_, reported := changed.Counters[k]
			if moved := !c.Equal(before.Counters[k]); moved != reported {
				t.Fatalf("counter %v: changed %v, reported %v", k, moved, reported)
			}
			if reported && !changed.Counters[k].Equal(c) {
				t.Fatalf("counter %v: reported %+v, state holds %+v", k, changed.Counters[k], c)
			}
		}
		for k, r := range after.Registers {
			got, reported := changed.Registers[k]
			if moved := r != before.Registers[k]; moved != reported || (reported && got != r) {
				t.Fatalf("register %v: %+v -> %+v, reported %v %+v", k, before.Registers[k], r, reported, got)
			}
		}
		if again := s.Apply(d); again.Len() != 0 {
			t.Fatalf("second Apply changed %+v", again)
		}
		checkExact(t, "after apply", s)
	})
}

// withoutBottom returns d without the keys holding bottom states (an empty
// counter, a never-written register), which a State never stores.
func withoutBottom(d crdt.Delta) crdt.Delta {
	var out crdt.Delta
	for k, c := range d.Counters {
		if c.Len() > 0 {
			out.JoinCounter(k, c)
		}
	}
	for k, r := range d.Registers {
		if !r.IsZero() {
			out.JoinRegister(k, r)
		}
	}
	return out
}

func TestStateAddAndSetReaction(t *testing.T) {
	s := crdt.NewState(5)
	if s.Replica() != 5 || s.Items() != 0 || s.Item("video:a") != nil {
		t.Fatalf("new state: replica %v, %d items", s.Replica(), s.Items())
	}
	d, err := s.Add("video:a", "claps", -4)
	if err != nil {
		t.Fatal(err)
	}
	k := crdt.CounterKey{Item: "video:a", Name: "claps"}
	if d.Len() != 1 || d.Counters[k].Entry(5) != (crdt.PN{N: 4}) {
		t.Errorf("Add delta = %+v", d)
	}
	if _, err := s.Add("video:a", "claps", math.MinInt64); err != nil {
		t.Fatal(err)
	}
	if d, err := s.Add("video:a", "claps", math.MinInt64); !errors.Is(err, crdt.ErrOverflow) || d.Len() != 0 {
		t.Errorf("overflowing Add: delta %+v, err %v", d, err)
	}
	// −4 + MinInt64 is below the int64 range: it saturates, as Value documents.
	if got := s.Item("video:a").Value("claps"); got != math.MinInt64 {
		t.Errorf("value %d, want %d", got, int64(math.MinInt64))
	}

	ts := crdt.Timestamp{Wall: 10}
	rd := s.SetReaction("video:a", "ann", "like", ts)
	want := crdt.Register{Kind: "like", TS: ts, Replica: 5}
	if rd.Len() != 1 || rd.Registers[crdt.RegisterKey{Item: "video:a", User: "ann"}] != want {
		t.Errorf("SetReaction delta = %+v", rd)
	}
	// Setting the same reaction again changes no tally (invariant 5).
	s.SetReaction("video:a", "ann", "like", crdt.Timestamp{Wall: 11})
	if got := s.Item("video:a").Tallies; !got.Equal(crdt.Tallies{"like": 1}) {
		t.Errorf("tallies %v after liking twice, want like=1", got)
	}
	if got := s.Full().Items(); !slices.Equal(got, []string{"video:a"}) {
		t.Errorf("Full().Items() = %v", got)
	}
}

// TestStateNoOpsCreateNothing: operations that change nothing leave a state
// knowing no item, as State.Item documents (nil "when s knows nothing of it").
func TestStateNoOpsCreateNothing(t *testing.T) {
	var bottom crdt.Delta
	bottom.JoinCounter(crdt.CounterKey{Item: "video:c", Name: "claps"}, crdt.PNCounter{})
	bottom.JoinRegister(crdt.RegisterKey{Item: "video:d", User: "ann"}, crdt.Register{})
	ops := map[string]func(s *crdt.State){
		"Add 0": func(s *crdt.State) {
			if _, err := s.Add("video:a", "claps", 0); err != nil {
				t.Fatal(err)
			}
		},
		"Apply of bottom states": func(s *crdt.State) {
			if changed := s.Apply(bottom); changed.Len() != 0 {
				t.Errorf("Apply of bottom states changed %+v", changed)
			}
		},
	}
	for name, op := range ops {
		s := crdt.NewState(1)
		op(s)
		if s.Items() != 0 {
			t.Errorf("%s: state changed nothing but now knows %d items", name, s.Items())
		}
	}
}

func TestDeltaJoinReportsChange(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		d := genDelta().Draw(t, "delta")
		ck, c := genCounterKey().Draw(t, "counter key"), genCounter().Draw(t, "counter")
		rk, r := genRegisterKey().Draw(t, "register key"), genRegister().Draw(t, "register")
		before := d.Clone()
		if got := d.JoinCounter(ck, c); got == d.Equal(before) {
			t.Fatalf("JoinCounter(%v, %+v) on %+v reported %v", ck, c, before, got)
		}
		before = d.Clone()
		if got := d.JoinRegister(rk, r); got == d.Equal(before) {
			t.Fatalf("JoinRegister(%v, %+v) on %+v reported %v", rk, r, before, got)
		}
	})
}

func TestDeltaAndKeySetOrder(t *testing.T) {
	var d crdt.Delta
	d.JoinCounter(crdt.CounterKey{Item: "b", Name: "views"}, counterOf(map[crdt.ReplicaID]crdt.PN{1: {P: 1}}))
	d.JoinCounter(crdt.CounterKey{Item: "b", Name: "claps"}, counterOf(map[crdt.ReplicaID]crdt.PN{1: {P: 1}}))
	d.JoinRegister(crdt.RegisterKey{Item: "a", User: "zed"}, reg("like", 1, 0, 1))
	d.JoinRegister(crdt.RegisterKey{Item: "a", User: "ann"}, reg("like", 1, 0, 1))
	if got := d.Items(); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("Items() = %v", got)
	}
	var s crdt.KeySet
	s.AddDelta(d)
	if s.Len() != 4 {
		t.Errorf("KeySet of a 4-key delta has %d keys", s.Len())
	}
	wantC := []crdt.CounterKey{{Item: "b", Name: "claps"}, {Item: "b", Name: "views"}}
	if got := s.SortedCounters(); !slices.Equal(got, wantC) {
		t.Errorf("SortedCounters() = %v, want %v", got, wantC)
	}
	wantR := []crdt.RegisterKey{{Item: "a", User: "ann"}, {Item: "a", User: "zed"}}
	if got := s.SortedRegisters(); !slices.Equal(got, wantR) {
		t.Errorf("SortedRegisters() = %v, want %v", got, wantR)
	}
	var other crdt.KeySet
	other.AddCounter(wantC[0])
	if s.Equal(other) || other.Equal(s) || !s.Equal(s) {
		t.Errorf("KeySet.Equal wrong on %v and %v", s, other)
	}
}

func TestReplicaIDRoundTrip(t *testing.T) {
	for _, r := range []crdt.ReplicaID{1, 0xabc, math.MaxUint64} {
		s := r.String()
		if len(s) != 16 {
			t.Errorf("%d.String() = %q, want 16 hex digits", uint64(r), s)
		}
		if got, err := crdt.ParseReplicaID(s); err != nil || got != r {
			t.Errorf("ParseReplicaID(%q) = %v, %v; want %v", s, got, err, r)
		}
	}
	for _, s := range []string{"", "0000000000000000", "xyz", "1ffffffffffffffff"} {
		if _, err := crdt.ParseReplicaID(s); err == nil {
			t.Errorf("ParseReplicaID(%q) accepted", s)
		}
	}
}
