package crdt_test

import (
	"cmp"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/countermesh/countermesh/crdt"
	"pgregory.net/rapid"
)

// keyedOp is one logical keyed increment a client sends, perhaps to several
// replicas: its key and what it adds. A client that reuses a key for another
// amount or counter (a conflict) is modelled by two keyedOps with one key.
type keyedOp struct {
	item, key, counter string
	by                 int64
}

// application is one replica applying a keyed increment, as the reference model
// records it.
type application struct {
	replica crdt.ReplicaID
	ts      crdt.Timestamp
	op      keyedOp
}

// idemMesh is a simulated mesh of replicas taking keyed increments at random
// replicas, with a network that delivers, duplicates, reorders and loses deltas.
type idemMesh struct {
	replicas []*simReplica
	inflight []message
	// applied records, per idempotency key, every replica that applied it (not
	// replayed): the reference says the smallest (ts, replica) stands.
	applied map[crdt.IdemKey][]application
	// plain holds unkeyed increments per counter.
	plain map[crdt.CounterKey]int64
}

func newIdemMesh(t *rapid.T) *idemMesh {
	m := &idemMesh{applied: map[crdt.IdemKey][]application{}, plain: map[crdt.CounterKey]int64{}}
	n := rapid.IntRange(2, 4).Draw(t, "replicas")
	for i := range n {
		w := newFakeWall(baseWall + rapid.Int64Range(-2_000, 2_000).Draw(t, "skew"))
		m.replicas = append(m.replicas, &simReplica{
			state: crdt.NewState(crdt.ReplicaID(i*7 + 1)),
			clock: crdt.NewClock(w.Now, time.Hour),
			wall:  w,
		})
	}
	return m
}

func (m *idemMesh) broadcast(from int, d crdt.Delta) {
	if d.Len() == 0 {
		return
	}
	for to := range m.replicas {
		if to != from {
			m.inflight = append(m.inflight, message{to: to, d: d.Clone()})
		}
	}
}

// deliver applies msg at its replica and ships whatever the replica changed of
// its own (a compensation) onwards, as a peer's sender would.
func (m *idemMesh) deliver(msg message) {
	r := m.replicas[msg.to]
	for _, reg := range msg.d.Registers {
		_ = r.clock.Observe(reg.TS)
	}
	changed := r.state.Apply(msg.d)
	own := ownChanges(r.state.Replica(), changed)
	m.broadcast(msg.to, own)
}

// ownChanges keeps the part of changed that is the replica's own mutation: its
// counter entries and the records whose own application changed.
func ownChanges(self crdt.ReplicaID, changed crdt.Delta) crdt.Delta {
	var out crdt.Delta
	for k, c := range changed.Counters {
		if e := c.Entry(self); e != (crdt.PN{}) {
			out.JoinCounter(k, c)
		}
	}
	for k, rec := range changed.Idem {
		if _, ok := rec.Application(self); ok {
			out.JoinIdem(k, rec)
		}
	}
	return out
}

// send has replica i take op, as a client retrying at i would.
func (m *idemMesh) send(t *rapid.T, i int, op keyedOp) {
	r := m.replicas[i]
	ts := r.clock.Now()
	k := crdt.IdemKey{Item: op.item, Key: op.key}
	rec, known := r.state.Idem(k)
	d, replayed, err := r.state.AddOnce(op.item, op.counter, op.by, op.key, ts)
	switch {
	case known && !rec.Matches(op.counter, op.by):
		if err == nil {
			t.Fatalf("replica %v took %+v for key %q whose winner was another increment", r.state.Replica(), op, op.key)
		}
		return
	case known:
		if err != nil || !replayed || d.Len() != 0 {
			t.Fatalf("replica %v knows key %q: AddOnce = %v, replayed %v, %d keys; want a replay", r.state.Replica(), op.key, err, replayed, d.Len())
		}
		return
	case err != nil || replayed:
		t.Fatalf("replica %v does not know key %q: AddOnce = %v, replayed %v", r.state.Replica(), op.key, err, replayed)
	}
	m.applied[k] = append(m.applied[k], application{replica: r.state.Replica(), ts: ts, op: op})
	m.broadcast(i, d)
}

// converge delivers everything in flight, then has every replica send its full
// state to every other until nothing changes: the network healed, anti-entropy
// done.
func (m *idemMesh) converge() {
	for len(m.inflight) > 0 {
		msg := m.inflight[0]
		m.inflight = m.inflight[1:]
		m.deliver(msg)
	}
	for changed := true; changed; {
		changed = false
		for from := range m.replicas {
			for to := range m.replicas {
				if from == to {
					continue
				}
				own := ownChanges(m.replicas[to].state.Replica(), m.replicas[to].state.Apply(m.replicas[from].state.Full()))
				if own.Len() > 0 {
					changed = true
				}
			}
		}
	}
}

// want returns the value every converged replica must show for counter k: the
// unkeyed increments plus, per idempotency key, the amount of the application
// with the smallest (ts, replica), counted once.
func (m *idemMesh) want(k crdt.CounterKey) int64 {
	sum := m.plain[k]
	for ik, apps := range m.applied {
		if ik.Item != k.Item {
			continue
		}
		w := slices.MinFunc(apps, func(a, b application) int {
			return cmp.Or(a.ts.Compare(b.ts), cmp.Compare(a.replica, b.replica))
		})
		if w.op.counter == k.Name {
			sum += w.op.by
		}
	}
	return sum
}

// TestKeyedIncrementsCountOnce: random histories of keyed increments, each sent
// to a random subset of replicas (some several times, some with a conflicting
// amount under the same key), interleaved with unkeyed ones, and delivered with
// reordering, duplication and loss (repaired by anti-entropy at the end),
// converge on every replica to exactly one count per key — the winner's — against
// a reference model, with every other application compensated exactly once.
func TestKeyedIncrementsCountOnce(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m := newIdemMesh(t)
		var ops []keyedOp
		steps := rapid.IntRange(1, 60).Draw(t, "steps")
		for range steps {
			switch rapid.IntRange(0, 9).Draw(t, "action") {
			case 0, 1, 2: // a new keyed increment, or a conflicting reuse of a key
				op := keyedOp{
					item:    rapid.SampledFrom(testItems).Draw(t, "item"),
					key:     fmt.Sprintf("k%d", rapid.IntRange(0, 5).Draw(t, "key")),
					counter: rapid.SampledFrom(testNames).Draw(t, "counter"),
					by:      rapid.SampledFrom([]int64{-3, -1, 1, 2, 5}).Draw(t, "by"),
				}
				ops = append(ops, op)
				m.send(t, rapid.IntRange(0, len(m.replicas)-1).Draw(t, "at"), op)
			case 3, 4: // a retry of an earlier increment at some replica
				if len(ops) > 0 {
					op := rapid.SampledFrom(ops).Draw(t, "retry")
					m.send(t, rapid.IntRange(0, len(m.replicas)-1).Draw(t, "at"), op)
				}
			case 5: // an unkeyed increment
				i := rapid.IntRange(0, len(m.replicas)-1).Draw(t, "at")
				k := genCounterKey().Draw(t, "counter")
				d, err := m.replicas[i].state.Add(k.Item, k.Name, 1)
				if err != nil {
					t.Fatal(err)
				}
				m.plain[k]++
				m.broadcast(i, d)
			default: // the network: deliver, duplicate or lose a message
				if len(m.inflight) == 0 {
					continue
				}
				j := rapid.IntRange(0, len(m.inflight)-1).Draw(t, "message")
				msg := m.inflight[j]
				switch rapid.SampledFrom([]string{"deliver", "duplicate", "lose"}).Draw(t, "fate") {
				case "deliver":
					m.inflight = slices.Delete(m.inflight, j, j+1)
					m.deliver(msg)
				case "duplicate":
					m.deliver(msg)
				case "lose":
					m.inflight = slices.Delete(m.inflight, j, j+1)
				}
			}
			for _, r := range m.replicas {
				r.wall.Add(rapid.Int64Range(0, 3).Draw(t, "tick"))
			}
		}
		m.converge()

		first := m.replicas[0].state.Full()
		for _, r := range m.replicas[1:] {
			if got := r.state.Full(); !got.Equal(first) {
				t.Fatalf("replicas %v and %v differ after convergence", m.replicas[0].state.Replica(), r.state.Replica())
			}
		}
		for _, r := range m.replicas {
			for _, item := range testItems {
				for _, name := range testNames {
					k := crdt.CounterKey{Item: item, Name: name}
					if got, want := itemValue(r.state, item, name), m.want(k); got != want {
						t.Fatalf("replica %v: %v = %d, want %d (each key counted once)", r.state.Replica(), k, got, want)
					}
				}
			}
		}
		for k, apps := range m.applied {
			rec, ok := m.replicas[0].state.Idem(k)
			if !ok || rec.Len() != len(apps) {
				t.Fatalf("key %v: record of %d applications, %d applied", k, rec.Len(), len(apps))
			}
			w, _, _ := rec.Winner()
			for _, r := range rec.Replicas() {
				a, _ := rec.Application(r)
				if a.Compensated == (r == w) {
					t.Fatalf("key %v: replica %v compensated = %v, winner %v", k, r, a.Compensated, w)
				}
			}
		}
	})
}

// TestIdemRecordJoinLaws: joining records is commutative, associative and
// idempotent, whatever the applications (even two copies of one replica's
// application, one compensated).
func TestIdemRecordJoinLaws(t *testing.T) {
	gen := rapid.Custom(func(t *rapid.T) crdt.IdemRecord {
		var rec crdt.IdemRecord
		for range rapid.IntRange(0, 3).Draw(t, "apps") {
			rec.JoinApplication(genReplica().Draw(t, "replica"), crdt.Application{
				TS:          genTimestamp().Draw(t, "ts"),
				Counter:     rapid.SampledFrom(testNames).Draw(t, "counter"),
				By:          rapid.Int64Range(-2, 2).Draw(t, "by"),
				Compensated: rapid.Bool().Draw(t, "compensated"),
			})
		}
		return rec
	})
	join := func(a, b crdt.IdemRecord) crdt.IdemRecord {
		out := a.Clone()
		out.Join(b)
		return out
	}
	rapid.Check(t, func(t *rapid.T) {
		a, b, c := gen.Draw(t, "a"), gen.Draw(t, "b"), gen.Draw(t, "c")
		if !join(a, b).Equal(join(b, a)) {
			t.Fatal("join is not commutative")
		}
		if !join(join(a, b), c).Equal(join(a, join(b, c))) {
			t.Fatal("join is not associative")
		}
		if !join(a, a).Equal(a) {
			t.Fatal("join is not idempotent")
		}
		if ab := join(a, b); ab.Join(a) {
			t.Fatal("joining a part changed the whole")
		}
	})
}

// TestIdemRecordWinnerAndExpiry pins the winner rule and the expiry.
func TestIdemRecordWinnerAndExpiry(t *testing.T) {
	early := crdt.Application{TS: crdt.Timestamp{Wall: 1000, Logical: 1}, Counter: "claps", By: 3}
	late := crdt.Application{TS: crdt.Timestamp{Wall: 2000}, Counter: "claps", By: 3}
	rec := crdt.NewIdemRecord(9, late)
	if _, owes := rec.Owes(9); owes {
		t.Fatal("a lone applier owes a compensation")
	}
	rec.JoinApplication(4, early)
	if w, _, _ := rec.Winner(); w != 4 {
		t.Fatalf("winner %v, want 4 (the earliest)", w)
	}
	if _, owes := rec.Owes(9); !owes {
		t.Fatal("the later applier does not owe a compensation")
	}
	rec.Compensate(9)
	if _, owes := rec.Owes(9); owes {
		t.Fatal("a compensated applier still owes")
	}
	tie := crdt.NewIdemRecord(7, early)
	tie.JoinApplication(3, early)
	if w, _, _ := tie.Winner(); w != 3 {
		t.Fatalf("winner of a timestamp tie %v, want the smaller replica 3", w)
	}
	if got := rec.ExpiresAt(time.Second); got != 2000 {
		t.Fatalf("ExpiresAt = %d, want the winner's wall + ttl = 2000", got)
	}
	if !rec.Expired(2000, time.Second) || rec.Expired(1999, time.Second) {
		t.Fatal("Expired disagrees with ExpiresAt")
	}
	if !rec.Matches("claps", 3) || rec.Matches("claps", 4) || rec.Matches("views", 3) {
		t.Fatal("Matches does not compare with the winner's counter and amount")
	}
}
