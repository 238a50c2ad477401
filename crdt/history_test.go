package crdt_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/countermesh/countermesh/crdt"
	"pgregory.net/rapid"
)

// simMaxDrift is small next to the clock skews a history draws, so that some
// deliveries are refused for drift and must flow later.
const simMaxDrift = 5 * time.Second

// simReplica is one replica of a simulated mesh: its state and its clock on its
// own fake wall clock.
type simReplica struct {
	state *crdt.State
	clock *crdt.Clock
	wall  *fakeWall
}

// message is a delta on its way to replica to.
type message struct {
	to int
	d  crdt.Delta
}

// model is the reference the mesh must agree with: plain sums and plain maps.
type model struct {
	entries   map[crdt.CounterKey]map[crdt.ReplicaID]crdt.PN // plain sums per replica
	sums      map[crdt.CounterKey]int64                      // plain sum of every increment
	registers map[crdt.RegisterKey]crdt.Register             // latest write per key
	written   map[crdt.Register]bool                         // every register write, to catch reuse
}

func newModel() *model {
	return &model{
		entries:   map[crdt.CounterKey]map[crdt.ReplicaID]crdt.PN{},
		sums:      map[crdt.CounterKey]int64{},
		registers: map[crdt.RegisterKey]crdt.Register{},
		written:   map[crdt.Register]bool{},
	}
}

func (m *model) add(k crdt.CounterKey, r crdt.ReplicaID, by int64) {
	m.sums[k] += by
	if m.entries[k] == nil {
		m.entries[k] = map[crdt.ReplicaID]crdt.PN{}
	}
	pn := m.entries[k][r]
	if by > 0 {
		pn.P += uint64(by)
	} else {
		pn.N += uint64(-by)
	}
	m.entries[k][r] = pn
}

func (m *model) write(t tb, k crdt.RegisterKey, r crdt.Register) {
	stamp := crdt.Register{TS: r.TS, Replica: r.Replica}
	if m.written[stamp] {
		t.Fatalf("replica %v issued timestamp %v twice", r.Replica, r.TS)
	}
	m.written[stamp] = true
	if cur, ok := m.registers[k]; !ok || laterWrite(r, cur) {
		m.registers[k] = r
	}
}

// check asserts that s holds exactly what the model says.
func (m *model) check(t tb, s *crdt.State) {
	t.Helper()
	for _, item := range testItems {
		for _, name := range testNames {
			k := crdt.CounterKey{Item: item, Name: name}
			if got := itemValue(s, item, name); got != m.sums[k] {
				t.Fatalf("replica %v: %v = %d, sum of increments %d", s.Replica(), k, got, m.sums[k])
			}
		}
		want := map[string]crdt.Register{}
		for _, user := range testUsers {
			k := crdt.RegisterKey{Item: item, User: user}
			if r, ok := m.registers[k]; ok {
				want[user] = r
			}
			if got := itemRegisters(s, item)[user]; got != want[user] {
				t.Fatalf("replica %v: register %v = %+v, latest write %+v", s.Replica(), k, got, want[user])
			}
		}
		if got := itemTallies(s, item); !got.Equal(crdt.TalliesOf(want)) {
			t.Fatalf("replica %v: item %s tallies %v, want %v", s.Replica(), item, got, crdt.TalliesOf(want))
		}
	}
	if got, want := s.Full(), m.full(); !got.Equal(want) {
		t.Fatalf("replica %v: full state\n%+v\nwant\n%+v", s.Replica(), got, want)
	}
}

// full is the state the model says every replica ends with.
func (m *model) full() crdt.Delta {
	var d crdt.Delta
	for k, entries := range m.entries {
		d.JoinCounter(k, counterOf(entries))
	}
	for k, r := range m.registers {
		d.JoinRegister(k, r)
	}
	return d
}

// mesh is a simulated mesh: replicas, a network that holds messages in flight
// and loses some, and the reference model.
type mesh struct {
	replicas []*simReplica
	inflight []message
	lost     []message
	model    *model
}

func newMesh(t *rapid.T, n int) *mesh {
	m := &mesh{model: newModel()}
	for i := range n {
		skew := rapid.Int64Range(-15_000, 15_000).Draw(t, "skew")
		w := newFakeWall(baseWall + skew)
		m.replicas = append(m.replicas, &simReplica{
			state: crdt.NewState(crdt.ReplicaID(i*7 + 1)), // 1, 8, 15, ...: small, distinct
			clock: crdt.NewClock(w.Now, simMaxDrift),
			wall:  w,
		})
	}
	return m
}

// broadcast sends d from replica from to every other replica.
func (m *mesh) broadcast(from int, d crdt.Delta) {
	if d.Len() == 0 {
		return
	}
	for to := range m.replicas {
		if to != from {
			m.inflight = append(m.inflight, message{to: to, d: d.Clone()})
		}
	}
}

// deliver hands msg to its replica: the replica observes every timestamp it
// carries and applies it, or refuses it whole for clock drift.
func (m *mesh) deliver(t tb, msg message) bool {
	t.Helper()
	r := m.replicas[msg.to]
	last := r.clock.Last()
	for _, reg := range msg.d.Registers {
		if err := r.clock.Observe(reg.TS); err != nil {
			var de *crdt.DriftError
			if !errors.Is(err, crdt.ErrClockDrift) || !errors.As(err, &de) || de.Remote != reg.TS {
				t.Fatalf("Observe(%v): unexpected error %v", reg.TS, err)
			}
			if r.clock.Last().Before(last) {
				t.Fatalf("refused Observe moved the clock back from %v to %v", last, r.clock.Last())
			}
			return false
		}
	}
	r.state.Apply(msg.d)
	checkExact(t, "after apply", r.state)
	return true
}

func (m *mesh) add(t *rapid.T) {
	i := rapid.IntRange(0, len(m.replicas)-1).Draw(t, "replica")
	k := genCounterKey().Draw(t, "key")
	by := rapid.Int64Range(-5, 5).Draw(t, "by")
	r := m.replicas[i]
	d, err := r.state.Add(k.Item, k.Name, by)
	if err != nil {
		t.Fatalf("Add(%v, %d): %v", k, by, err)
	}
	if (by == 0) != (d.Len() == 0) {
		t.Fatalf("Add(%v, %d) returned delta of %d keys", k, by, d.Len())
	}
	if by != 0 {
		m.model.add(k, r.state.Replica(), by)
	}
	m.broadcast(i, d)
}

func (m *mesh) react(t *rapid.T) {
	i := rapid.IntRange(0, len(m.replicas)-1).Draw(t, "replica")
	k := genRegisterKey().Draw(t, "key")
	kind := rapid.SampledFrom(testKinds).Draw(t, "kind")
	r := m.replicas[i]
	ts := r.clock.Now()
	d := r.state.SetReaction(k.Item, k.User, kind, ts)
	want := crdt.Register{Kind: kind, TS: ts, Replica: r.state.Replica()}
	if got := itemRegisters(r.state, k.Item)[k.User]; got != want {
		// The replica observed every register it holds, so its own write wins.
		t.Fatalf("replica %v wrote %+v but holds %+v", r.state.Replica(), want, got)
	}
	m.model.write(t, k, want)
	m.broadcast(i, d)
}

// network delivers, duplicates, loses or re-sends one message.
func (m *mesh) network(t *rapid.T) {
	if len(m.lost) > 0 && rapid.IntRange(0, 3).Draw(t, "resend") == 0 {
		j := rapid.IntRange(0, len(m.lost)-1).Draw(t, "lost")
		m.inflight = append(m.inflight, m.lost[j])
		m.lost = slices.Delete(m.lost, j, j+1)
		return
	}
	if len(m.inflight) == 0 {
		return
	}
	j := rapid.IntRange(0, len(m.inflight)-1).Draw(t, "message")
	switch rapid.SampledFrom([]string{"deliver", "duplicate", "lose"}).Draw(t, "fate") {
	case "deliver":
		if m.deliver(t, m.inflight[j]) {
			m.inflight = slices.Delete(m.inflight, j, j+1)
		}
	case "duplicate":
		m.deliver(t, m.inflight[j])
	case "lose":
		m.lost = append(m.lost, m.inflight[j])
		m.inflight = slices.Delete(m.inflight, j, j+1)
	}
}

// antiEntropy sends the whole state of one replica to another.
func (m *mesh) antiEntropy(t *rapid.T) {
	from := rapid.IntRange(0, len(m.replicas)-1).Draw(t, "from")
	to := rapid.IntRange(0, len(m.replicas)-1).Draw(t, "to")
	if from != to {
		m.inflight = append(m.inflight, message{to: to, d: m.replicas[from].state.Full()})
	}
}

// tick moves one replica's wall clock, possibly backwards.
func (m *mesh) tick(t *rapid.T) {
	i := rapid.IntRange(0, len(m.replicas)-1).Draw(t, "replica")
	m.replicas[i].wall.Add(rapid.Int64Range(-3_000, 3_000).Draw(t, "ms"))
}

// heal sets every wall clock past every timestamp in the mesh, re-sends what was
// lost and delivers everything in flight, in random order.
func (m *mesh) heal(t *rapid.T) {
	var high int64
	for _, r := range m.replicas {
		high = max(high, r.wall.Millis(), r.clock.Last().Wall)
	}
	for _, r := range m.replicas {
		r.wall.Set(high + 1)
	}
	pending := append(m.inflight, m.lost...)
	m.inflight, m.lost = nil, nil
	for _, msg := range rapid.Permutation(pending).Draw(t, "delivery order") {
		if !m.deliver(t, msg) {
			t.Fatalf("delivery to replica %d refused after healing the clocks", msg.to)
		}
	}
}

// TestRandomHistoriesConverge runs random histories of writes, clock jumps, lossy
// duplicating reordering delivery and anti-entropy on five replicas, then checks
// that all replicas agree with each other and with the reference model.
func TestRandomHistoriesConverge(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m := newMesh(t, 5)
		steps := rapid.IntRange(0, 300).Draw(t, "steps")
		for range steps {
			switch rapid.IntRange(0, 9).Draw(t, "op") {
			case 0, 1:
				m.add(t)
			case 2, 3:
				m.react(t)
			case 4:
				m.antiEntropy(t)
			case 5:
				m.tick(t)
			default:
				m.network(t)
			}
			for _, r := range m.replicas {
				checkExact(t, "after step", r.state)
			}
		}
		m.heal(t)
		for _, r := range m.replicas[1:] {
			checkSameState(t, m.replicas[0].state, r.state)
		}
		for _, r := range m.replicas {
			m.model.check(t, r.state)
		}
	})
}
