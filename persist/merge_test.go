package persist_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/countermesh/countermesh/crdt"
	"github.com/countermesh/countermesh/persist"
)

func merge(t testing.TB, s *persist.Store, d crdt.Delta) crdt.Delta {
	t.Helper()
	res, err := s.Merge(context.Background(), d)
	if err != nil {
		t.Fatalf("merge: %v", err)
	}
	if res.Refused.Len() != 0 || res.Drift != nil {
		t.Fatalf("merge refused %v: %v", res.Refused, res.Drift)
	}
	return res.Changed
}

// remoteState builds the delta of writes made on another replica.
func remoteState(r crdt.ReplicaID, clock *crdt.Clock, build func(st *crdt.State, clock *crdt.Clock)) crdt.Delta {
	st := crdt.NewState(r)
	build(st, clock)
	return st.Full()
}

func TestMergeIsIdempotentAndReportsChanges(t *testing.T) {
	s := openStore(t, t.TempDir())
	clock := crdt.NewClock(nil, 0)
	d := remoteState(7, clock, func(st *crdt.State, c *crdt.Clock) {
		st.Add("a", "claps", 4)
		st.SetReaction("a", "u1", "like", c.Now())
	})
	if changed := merge(t, s, d); !changed.Equal(d) {
		t.Errorf("first merge changed %+v, want all of %+v", changed, d)
	}
	if changed := merge(t, s, d); changed.Len() != 0 {
		t.Errorf("second merge changed %+v, want nothing", changed)
	}
	v := readItem(t, s, "a", "u1")
	if v.Counters["claps"] != 4 || !v.Tallies.Equal(crdt.Tallies{"like": 1}) {
		t.Errorf("after merges: %+v", v)
	}
	// Remote merges are not local mutations: nothing to ship on.
	if s.LastSeq() != 0 {
		t.Errorf("merge took sequence numbers: LastSeq = %d", s.LastSeq())
	}
}

func TestSameUserLikesConcurrentlyOnTwoReplicasCountsOnce(t *testing.T) {
	a := openStore(t, t.TempDir())
	b := openStore(t, t.TempDir())
	ra := write(t, a, persist.React("post", "u", "like"))[0].Register
	rb := write(t, b, persist.React("post", "u", "like"))[0].Register

	var da, db crdt.Delta
	da.JoinRegister(crdt.RegisterKey{Item: "post", User: "u"}, ra)
	db.JoinRegister(crdt.RegisterKey{Item: "post", User: "u"}, rb)
	merge(t, a, db)
	merge(t, b, da)
	for name, s := range map[string]*persist.Store{"a": a, "b": b} {
		v := readItem(t, s, "post", "u")
		if !v.Tallies.Equal(crdt.Tallies{"like": 1}) {
			t.Errorf("%s: tallies %v, want like 1", name, v.Tallies)
		}
		if err := s.CheckTallies(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if readItem(t, a, "post", "u").User != readItem(t, b, "post", "u").User {
		t.Error("registers differ after exchange")
	}
}

func TestWriteAfterMergeOrdersAfterIt(t *testing.T) {
	s := openStore(t, t.TempDir())
	// A remote write 30 s ahead of our wall clock, within the max drift.
	ahead := crdt.Timestamp{Wall: time.Now().Add(30 * time.Second).UnixMilli()}
	var d crdt.Delta
	d.JoinRegister(crdt.RegisterKey{Item: "a", User: "u"}, crdt.Register{Kind: "like", TS: ahead, Replica: 9})
	merge(t, s, d)
	r := write(t, s, persist.React("a", "u", "dislike"))[0].Register
	if !ahead.Before(r.TS) {
		t.Fatalf("local write %s does not order after observed %s", r.TS, ahead)
	}
	if v := readItem(t, s, "a", "u"); v.User.Kind != "dislike" || !v.Tallies.Equal(crdt.Tallies{"dislike": 1}) {
		t.Errorf("after write: %+v", v)
	}
}

func TestMergeRefusesEmptyKeys(t *testing.T) {
	s := openStore(t, t.TempDir())
	var d crdt.Delta
	d.JoinCounter(crdt.CounterKey{Item: "", Name: "claps"}, counterOf(3, 1))
	if _, err := s.Merge(context.Background(), d); !errors.Is(err, persist.ErrInvalidOp) {
		t.Errorf("err = %v, want ErrInvalidOp", err)
	}
}

func counterOf(r crdt.ReplicaID, p uint64) crdt.PNCounter {
	var c crdt.PNCounter
	c.JoinEntry(r, crdt.PN{P: p})
	return c
}
