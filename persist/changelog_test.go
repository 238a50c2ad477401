package persist_test

import (
	"context"
	"testing"

	"github.com/countermesh/countermesh/crdt"
	"github.com/countermesh/countermesh/persist"
)

func TestChangesSinceAndTrim(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	write(t, s, persist.Add("a", "claps", 1))                                  // seq 1
	write(t, s, persist.React("a", "u", "like"), persist.Add("b", "views", 1)) // seq 2-3
	write(t, s, persist.Add("a", "claps", 1))                                  // seq 4

	keys, upTo, err := s.Changes(0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var want crdt.KeySet
	want.AddCounter(crdt.CounterKey{Item: "a", Name: "claps"})
	want.AddCounter(crdt.CounterKey{Item: "b", Name: "views"})
	want.AddRegister(crdt.RegisterKey{Item: "a", User: "u"})
	if upTo != 4 || !keys.Equal(want) {
		t.Errorf("Changes(0) = %v up to %d, want %v up to 4", keys, upTo, want)
	}
	if keys, upTo, _ := s.Changes(4, 1000); keys.Len() != 0 || upTo != 4 {
		t.Errorf("Changes(4) = %v up to %d, want nothing", keys, upTo)
	}
	// maxKeys stops after the record that reaches it.
	if keys, upTo, _ := s.Changes(0, 1); upTo >= 4 || keys.Len() == 0 {
		t.Errorf("Changes(0, max 1) = %v up to %d", keys, upTo)
	}

	if err := s.TrimLog(3); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openStore(t, dir)
	start, err := s.LogStart()
	if err != nil || start != 4 {
		t.Errorf("LogStart = %d, %v; want 4", start, err)
	}
	keys, upTo, _ = s.Changes(3, 1000)
	if upTo != 4 || keys.Len() != 1 {
		t.Errorf("Changes(3) after trim = %v up to %d", keys, upTo)
	}
	// The state shipped for those keys is their current state.
	d, err := s.State(keys)
	if err != nil || d.Counters[crdt.CounterKey{Item: "a", Name: "claps"}].Value() != 2 {
		t.Errorf("State = %+v, %v", d, err)
	}
}

func TestAcksOnlyMoveForwardAndSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	ctx := context.Background()
	for _, seq := range []uint64{5, 9, 7} {
		if err := s.SetAcked(ctx, 42, seq); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SetAcked(ctx, 43, 1); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openStore(t, dir)
	if got, err := s.Acked(42); err != nil || got != 9 {
		t.Errorf("Acked(42) = %d, %v; want 9", got, err)
	}
	acks, err := s.Acks()
	if err != nil || len(acks) != 2 || acks[43] != 1 {
		t.Errorf("Acks = %v, %v", acks, err)
	}
}
