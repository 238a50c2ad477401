package exchange

import (
	"testing"
	"time"

	"github.com/countermesh/countermesh/crdt"
)

func regKeys(users ...string) crdt.KeySet {
	var s crdt.KeySet
	for _, u := range users {
		s.AddRegister(crdt.RegisterKey{Item: "post", User: u})
	}
	return s
}

func TestRetrySetOffersRefusedKeysUntilTaken(t *testing.T) {
	const interval = time.Second
	t0 := time.Unix(1000, 0)
	var r retrySet
	if _, ok := r.dueIn(t0); ok {
		t.Fatal("an empty set has keys due")
	}
	if added := r.settle(regKeys("a", "b", "c"), regKeys("b"), t0, interval); added != 1 || r.Len() != 1 {
		t.Fatalf("settle added %d, holds %d; want 1 and 1", added, r.Len())
	}
	if d, ok := r.dueIn(t0); !ok || d != interval {
		t.Fatalf("due in %v (%v), want %v", d, ok, interval)
	}
	if got := r.take(t0.Add(interval/2), 10); got.Len() != 0 {
		t.Fatalf("took %v before the retry interval", got)
	}
	got := r.take(t0.Add(interval), 10)
	if !got.Equal(regKeys("b")) {
		t.Fatalf("took %v, want post/b", got)
	}
	if _, ok := r.dueIn(t0.Add(interval)); ok || r.Len() != 1 {
		t.Fatalf("after take: due %v, holds %d; want nothing due and b offered", ok, r.Len())
	}
	// Refused again: not new, due a retry interval later.
	t1 := t0.Add(2 * interval)
	if added := r.settle(got, regKeys("b"), t1, interval); added != 0 {
		t.Fatalf("refusing b again added %d", added)
	}
	if d, ok := r.dueIn(t1); !ok || d != interval {
		t.Fatalf("due in %v (%v), want %v", d, ok, interval)
	}
	// Taken in a batch of local changes: gone.
	r.settle(regKeys("b", "d"), crdt.KeySet{}, t1, interval)
	if r.Len() != 0 {
		t.Fatalf("holds %d after b was taken", r.Len())
	}
}

func TestRetrySetTakeIsBoundedAndLeavesTheRestDue(t *testing.T) {
	t0 := time.Unix(1000, 0)
	var r retrySet
	var refused crdt.KeySet
	refused.Union(regKeys("a", "b", "c"))
	refused.AddCounter(crdt.CounterKey{Item: "post", Name: "claps"})
	r.settle(refused, refused, t0, 0)
	first := r.take(t0, 3)
	if first.Len() != 3 {
		t.Fatalf("took %d keys, want 3", first.Len())
	}
	rest := r.take(t0, 3)
	if rest.Len() != 1 {
		t.Fatalf("then took %d keys, want the 1 left", rest.Len())
	}
	first.Union(rest)
	if !first.Equal(refused) {
		t.Fatalf("took %v in all, want %v", first, refused)
	}
}

func TestRetrySetSurvivesTheSessionThatOfferedIt(t *testing.T) {
	t0 := time.Unix(1000, 0)
	var session retrySet
	session.settle(regKeys("a", "b"), regKeys("a", "b"), t0, time.Second)
	session.take(t0.Add(time.Second), 1) // one offered, unanswered when the session ends
	session.release()
	var kept retrySet
	kept.join(session)
	got := kept.take(t0, 10) // due at once in the next session
	if !got.Equal(regKeys("a", "b")) {
		t.Fatalf("the next session takes %v, want both keys", got)
	}
}
