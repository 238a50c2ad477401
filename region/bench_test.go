package region_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/countermesh/countermesh/crdt"
	"github.com/countermesh/countermesh/persist"
	"github.com/countermesh/countermesh/region"
	"github.com/countermesh/countermesh/region/regiontest"
	"github.com/countermesh/countermesh/sync/transport/faultnet"
	"github.com/countermesh/countermesh/sync/wire"
)

const (
	benchDelay = 30 * time.Millisecond // one way, between regions
	benchFlush = 20 * time.Millisecond // the exchange's default flush interval
)

// benchMesh starts one peer in each of three regions with benchDelay between
// regions and the default flush interval.
func benchMesh(b *testing.B) *regiontest.Mesh {
	m := regiontest.NewMesh(b, threeRegions, 1)
	for _, p := range m.Running() {
		m.Stop(p)
	}
	m.Tune = func(c *region.Config) {
		c.Exchange.FlushInterval = benchFlush
		c.AntiEntropyInterval = region.DefaultConfig().AntiEntropyInterval // production timing
	}
	peers := []string{"eu-1", "us-1", "ap-1"}
	for _, a := range peers {
		for _, c := range peers {
			if a != c {
				m.Net.SetFaults(m.Host(a), m.Host(c), faultnet.Faults{Delay: benchDelay})
			}
		}
	}
	for _, p := range peers {
		m.Start(p)
	}
	waitLinked(b, m, peers)
	return m
}

func waitLinked(b *testing.B, m *regiontest.Mesh, peers []string) {
	deadline := time.Now().Add(30 * time.Second)
	for _, p := range peers {
		for _, q := range peers {
			for p != q && !m.Node(p).Peer.Linked(q) {
				if time.Now().After(deadline) {
					b.Fatalf("%s never linked %s", p, q)
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
	}
}

// BenchmarkConvergenceLatency measures how long a write at eu-1 takes to be
// readable at us-1 and ap-1 across a 30 ms one-way delay. Target: p99 ≤ delay +
// flush interval + 30 ms.
func BenchmarkConvergenceLatency(b *testing.B) {
	m := benchMesh(b)
	var lat []time.Duration
	i := 0
	for b.Loop() {
		item := fmt.Sprint("lat", i)
		i++
		start := time.Now()
		m.Write("eu-1", persist.Add(item, "claps", 1))
		for _, p := range []string{"us-1", "ap-1"} {
			for {
				v, err := m.Node(p).Peer.Store().Counter(item, "claps")
				if err != nil {
					b.Fatal(err)
				}
				if v.Value() == 1 {
					break
				}
				time.Sleep(200 * time.Microsecond)
			}
		}
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	p50, p99 := lat[len(lat)/2], lat[len(lat)*99/100]
	b.ReportMetric(float64(p50.Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(p99.Microseconds())/1000, "p99-ms")
	target := benchDelay + benchFlush + 30*time.Millisecond
	b.Logf("convergence across regions (%s one way, flush %s): p50 %s, p99 %s over %d writes; target p99 ≤ %s",
		benchDelay, benchFlush, p50, p99, len(lat), target)
}

// oneMessagePerOp is what a design shipping every operation as its own message
// would send for op to one peer: a batch holding just that change.
func oneMessagePerOp(replica crdt.ReplicaID, op persist.Op, seq uint64) int {
	var d crdt.Delta
	switch op.Kind {
	case persist.OpAdd:
		var c crdt.PNCounter
		c.JoinEntry(replica, crdt.PN{P: seq})
		d.JoinCounter(crdt.CounterKey{Item: op.Item, Name: op.Counter}, c)
	case persist.OpReact:
		d.JoinRegister(crdt.RegisterKey{Item: op.Item, User: op.User},
			crdt.Register{Kind: op.Reaction, TS: crdt.Timestamp{Wall: time.Now().UnixMilli()}, Replica: replica})
	}
	return len(wire.EncodeMessage(wire.Message{Type: wire.MsgBatch, Seq: seq, Delta: d}))
}

// benchWireBytes writes rate ops/s at eu-1 for d, waits for convergence, and
// reports the sync bytes eu-1 sent per operation against one message per
// operation to each peer.
func benchWireBytes(b *testing.B, rate int, d time.Duration, opAt func(i int) persist.Op) {
	m := benchMesh(b)
	eu := m.Node("eu-1").Peer
	before := sentBytes(eu)
	replica := eu.Store().Replica()
	var naive, ops int
	start := time.Now()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for time.Since(start) < d {
		<-tick.C
		due := int(time.Since(start).Seconds()*float64(rate)) - ops
		batch := make([]persist.Op, 0, due)
		for range due {
			op := opAt(ops + len(batch))
			naive += 2 * oneMessagePerOp(replica, op, uint64(ops+len(batch)+1))
			batch = append(batch, op)
		}
		if len(batch) > 0 {
			m.Write("eu-1", batch...)
			ops += len(batch)
		}
	}
	m.WaitConverged(60 * time.Second)
	sent := sentBytes(eu) - before
	b.ReportMetric(float64(sent)/float64(ops), "bytes/op")
	b.ReportMetric(100*float64(sent)/float64(naive), "%-of-one-msg-per-op")
	b.Logf("%d ops in %s at eu-1: %d sync bytes sent to 2 peers (%.2f bytes/op); one message per op: %d bytes (%.2f%%)",
		ops, d, sent, float64(sent)/float64(ops), naive, 100*float64(sent)/float64(naive))
}

func sentBytes(p *region.Peer) uint64 {
	var n uint64
	for _, r := range p.Status().Regions {
		for _, q := range r.Peers {
			n += q.BytesSent
		}
	}
	return n
}

// BenchmarkWireBytesHotItem: 10,000 increments/s on one item for 10 s. Target:
// ≤ 1% of one message per operation.
func BenchmarkWireBytesHotItem(b *testing.B) {
	for b.Loop() {
		benchWireBytes(b, 10_000, 10*time.Second, func(int) persist.Op { return persist.Add("hot", "claps", 1) })
	}
}

// BenchmarkWireBytesDistinctUsers: reactions by distinct users, which cannot
// coalesce.
func BenchmarkWireBytesDistinctUsers(b *testing.B) {
	for b.Loop() {
		benchWireBytes(b, 2_000, 5*time.Second, func(i int) persist.Op {
			return persist.React("post", fmt.Sprint("user-", i), "like")
		})
	}
}
