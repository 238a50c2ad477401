package crdt_test

import (
	"testing"

	"github.com/countermesh/countermesh/crdt"
)

func reg(kind string, wall int64, logical uint32, replica crdt.ReplicaID) crdt.Register {
	return crdt.Register{Kind: kind, TS: crdt.Timestamp{Wall: wall, Logical: logical}, Replica: replica}
}

func TestRegisterWins(t *testing.T) {
	tests := []struct {
		name string
		r, o crdt.Register
		want bool // r.Wins(o)
	}{
		{"later wall", reg("like", 2, 0, 1), reg("dislike", 1, 9, 9), true},
		{"earlier wall", reg("like", 1, 9, 9), reg("dislike", 2, 0, 1), false},
		{"later logical", reg(crdt.None, 1, 2, 1), reg("like", 1, 1, 9), true},
		{"earlier logical", reg("like", 1, 1, 9), reg(crdt.None, 1, 2, 1), false},
		{"same ts, larger replica", reg("dislike", 1, 1, 3), reg("like", 1, 1, 2), true},
		{"same ts, smaller replica", reg("like", 1, 1, 2), reg("dislike", 1, 1, 3), false},
		{"same ts and replica, larger kind", reg("like", 1, 1, 2), reg("dislike", 1, 1, 2), true},
		{"same ts and replica, smaller kind", reg("dislike", 1, 1, 2), reg("like", 1, 1, 2), false},
		{"same ts and replica, kind over none", reg("dislike", 1, 1, 2), reg(crdt.None, 1, 1, 2), true},
		{"equal", reg("like", 1, 1, 2), reg("like", 1, 1, 2), false},
		{"written over never written", reg(crdt.None, 0, 0, 1), crdt.Register{}, true},
		{"never written over never written", crdt.Register{}, crdt.Register{}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.r.Wins(tc.o); got != tc.want {
				t.Errorf("%+v.Wins(%+v) = %v, want %v", tc.r, tc.o, got, tc.want)
			}
			if tc.r != tc.o && tc.o.Wins(tc.r) == tc.want {
				t.Errorf("Wins is not antisymmetric on %+v and %+v", tc.r, tc.o)
			}
		})
	}
}

func TestRegisterMerge(t *testing.T) {
	tests := []struct {
		name       string
		cur, in    crdt.Register
		wantWinner crdt.Register
		wantAdj    crdt.TallyAdjust
	}{
		{"first like", crdt.Register{}, reg("like", 1, 0, 1), reg("like", 1, 0, 1), crdt.TallyAdjust{To: "like"}},
		{"like to dislike", reg("like", 1, 0, 1), reg("dislike", 2, 0, 1), reg("dislike", 2, 0, 1), crdt.TallyAdjust{From: "like", To: "dislike"}},
		{"like cleared", reg("like", 1, 0, 1), reg(crdt.None, 2, 0, 2), reg(crdt.None, 2, 0, 2), crdt.TallyAdjust{From: "like"}},
		{"like again, later", reg("like", 1, 0, 1), reg("like", 2, 0, 2), reg("like", 2, 0, 2), crdt.TallyAdjust{From: "like", To: "like"}},
		{"stale write loses", reg("like", 2, 0, 1), reg("dislike", 1, 0, 9), reg("like", 2, 0, 1), crdt.TallyAdjust{}},
		{"same write again", reg("like", 2, 0, 1), reg("like", 2, 0, 1), reg("like", 2, 0, 1), crdt.TallyAdjust{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			winner, adj := tc.cur.Merge(tc.in)
			if winner != tc.wantWinner || adj != tc.wantAdj {
				t.Errorf("Merge = %+v, %+v; want %+v, %+v", winner, adj, tc.wantWinner, tc.wantAdj)
			}
			tallies := crdt.TalliesOf(map[string]crdt.Register{"u": tc.cur})
			tallies.Apply(adj)
			if want := crdt.TalliesOf(map[string]crdt.Register{"u": winner}); !tallies.Equal(want) {
				t.Errorf("tallies after adjust %v, want %v", tallies, want)
			}
		})
	}
}

func TestTalliesEqual(t *testing.T) {
	tests := []struct {
		name string
		a, b crdt.Tallies
		want bool
	}{
		{"nil and nil", nil, nil, true},
		{"nil and empty", nil, crdt.Tallies{}, true},
		{"absent and zero", crdt.Tallies{"like": 2}, crdt.Tallies{"like": 2, "dislike": 0}, true},
		{"nil and zero", nil, crdt.Tallies{"like": 0}, true},
		{"same counts", crdt.Tallies{"like": 2, "dislike": 1}, crdt.Tallies{"dislike": 1, "like": 2}, true},
		{"different count", crdt.Tallies{"like": 2}, crdt.Tallies{"like": 3}, false},
		{"absent and one", crdt.Tallies{"like": 1}, crdt.Tallies{"like": 1, "dislike": 1}, false},
		{"nil and one", nil, crdt.Tallies{"like": 1}, false},
		{"different kinds", crdt.Tallies{"like": 1}, crdt.Tallies{"dislike": 1}, false},
	}
	for _, tc := range tests {
		if got := tc.a.Equal(tc.b); got != tc.want {
			t.Errorf("%s: %v.Equal(%v) = %v, want %v", tc.name, tc.a, tc.b, got, tc.want)
		}
		if got := tc.b.Equal(tc.a); got != tc.want {
			t.Errorf("%s: %v.Equal(%v) = %v, want %v", tc.name, tc.b, tc.a, got, tc.want)
		}
	}
}

func TestTalliesApply(t *testing.T) {
	tests := []struct {
		name  string
		start crdt.Tallies
		adj   crdt.TallyAdjust
		want  crdt.Tallies
	}{
		{"none to none", nil, crdt.TallyAdjust{}, nil},
		{"like to like", nil, crdt.TallyAdjust{From: "like", To: "like"}, nil},
		{"none to like", crdt.Tallies{}, crdt.TallyAdjust{To: "like"}, crdt.Tallies{"like": 1}},
		{"like to dislike", crdt.Tallies{"like": 2}, crdt.TallyAdjust{From: "like", To: "dislike"}, crdt.Tallies{"like": 1, "dislike": 1}},
		{"last like cleared", crdt.Tallies{"like": 1, "dislike": 4}, crdt.TallyAdjust{From: "like"}, crdt.Tallies{"dislike": 4}},
	}
	for _, tc := range tests {
		got := tc.start.Clone()
		got.Apply(tc.adj)
		if !got.Equal(tc.want) {
			t.Errorf("%s: %v after %+v = %v, want %v", tc.name, tc.start, tc.adj, got, tc.want)
		}
		if _, kept := got["like"]; kept && got["like"] == 0 {
			t.Errorf("%s: Apply kept a zero count: %v", tc.name, got)
		}
	}
	orig := crdt.Tallies{"like": 1}
	clone := orig.Clone()
	clone.Apply(crdt.TallyAdjust{To: "like"})
	if orig["like"] != 1 {
		t.Errorf("Clone shares its map: original now %v", orig)
	}
}
