package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/countermesh/countermesh/crdt"
	"github.com/countermesh/countermesh/persist"
	"github.com/countermesh/countermesh/region"
	"github.com/countermesh/countermesh/sync/exchange"
)

// mesh is scenario 4: three regions in this process with the configured
// one-way delay between them. It times how long a write at one region takes to
// be readable at the others, and counts the sync bytes a region sends per
// operation — for a hot item and for reactions of distinct users — against
// what one message per operation would take.
func (r *runner) mesh(ctx context.Context) error {
	dir, err := r.dataDir("mesh")
	if err != nil {
		return err
	}
	r.progress("%s / starting 3 regions, %s one way", scenMesh, r.cfg.MeshDelay)
	opts := r.clusterOptions(r.cfg.MeshDelay)
	opts.api = true // for the writes at a cut-off region
	c, err := startCluster(dir, []string{"eu", "us", "ap"}, opts)
	if err != nil {
		return err
	}
	defer c.close()
	if err := c.waitLinked(ctx, time.Minute); err != nil {
		return err
	}
	if err := r.convergence(ctx, c); err != nil {
		return err
	}
	if err := r.wireBytes(ctx, c, caseWireHot, 10_000, func(int) persist.Op {
		return persist.Add(hotItem, clapCounter, 1)
	}); err != nil {
		return err
	}
	if err := r.wireBytes(ctx, c, caseWireUsers, 2_000, func(i int) persist.Op {
		return persist.React("video:post", userID(uint64(i)), "like")
	}); err != nil {
		return err
	}
	// What an idempotency key costs: the same increments of 100 items, without
	// and with a key of a frontend's length each.
	if err := r.wireBytes(ctx, c, caseWirePlain, 2_000, func(i int) persist.Op {
		return persist.Add("video:"+strconv.Itoa(i%100), clapCounter, 1)
	}); err != nil {
		return err
	}
	if err := r.wireBytes(ctx, c, caseWireKeyed, 2_000, func(i int) persist.Op {
		return persist.AddOnce("video:"+strconv.Itoa(i%100), clapCounter, 1, fmt.Sprintf("frontend\x00%032x", i))
	}); err != nil {
		return err
	}
	return r.cutOffWrites(ctx, c)
}

// cutOffWrites times reaction writes through the HTTP API of a region cut off
// from the others: without a causal token, and with one minted by another
// region that covers a write the cut-off region cannot have seen. Writes never
// wait for a token, so both should answer at local latency.
func (r *runner) cutOffWrites(ctx context.Context, c *cluster) error {
	cut, other := c.nodes[0], c.nodes[1]
	c.net.Isolate(cut.host)
	defer c.net.Rejoin(cut.host)
	hc := &http.Client{Timeout: 30 * time.Second}
	put := func(base, path, token string) (string, bool, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPut, base+path, strings.NewReader(`{"reaction":"like"}`))
		if err != nil {
			return "", false, err
		}
		req.Header.Set("Authorization", "Bearer "+c.token)
		if token != "" {
			req.Header.Set("X-Causal-Token", token)
		}
		resp, err := hc.Do(req)
		if err != nil {
			return "", false, err
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		if resp.StatusCode != http.StatusOK {
			return "", false, fmt.Errorf("PUT %s at %s: %s", path, base, resp.Status)
		}
		return resp.Header.Get("X-Causal-Token"), resp.Header.Get("X-Causal-Stale") == "true", nil
	}
	token, _, err := put(other.url, "/v1/items/cut:elsewhere/reactions/u", "")
	if err != nil {
		return err
	}
	for _, kase := range []string{caseCutOff, caseCutOffToken} {
		r.progress("%s / %s / %d writes", scenMesh, kase, r.cfg.ConvergenceWrites)
		send, stale := "", 0
		if kase == caseCutOffToken {
			send = token
		}
		lat := NewLatencies()
		for i := range r.cfg.ConvergenceWrites {
			start := time.Now()
			_, s, err := put(cut.url, "/v1/items/cut:"+strconv.Itoa(i)+"/reactions/u", send)
			if err != nil {
				return err
			}
			lat.Record(time.Since(start))
			if s {
				stale++
			}
		}
		r.add(&Row{Scenario: scenMesh, Case: kase, System: sysCountermesh, Ops: lat.Count(), Runs: 1,
			P50Ms: ms(lat.Percentile(50)), P99Ms: ms(lat.Percentile(99)),
			Note: fmt.Sprintf("one at a time over HTTP, %s cut off; %d of %d answers stale-marked", cut.region, stale, lat.Count())})
	}
	return nil
}

// convergence writes to a new item at the first region, one write at a time,
// and times until every other region reads it.
func (r *runner) convergence(ctx context.Context, c *cluster) error {
	r.progress("%s / %s / %d writes", scenMesh, caseConvergence, r.cfg.ConvergenceWrites)
	lat := NewLatencies()
	from := c.nodes[0].peer.Store()
	for i := range r.cfg.ConvergenceWrites {
		item := "conv:" + strconv.Itoa(i)
		start := time.Now()
		if _, err := from.Write(ctx, persist.Add(item, clapCounter, 1)); err != nil {
			return err
		}
		deadline := start.Add(30 * time.Second)
		for _, n := range c.nodes[1:] {
			for {
				v, err := n.peer.Store().Counter(item, clapCounter)
				if err != nil {
					return err
				}
				if v.Value() == 1 {
					break
				}
				if time.Now().After(deadline) {
					return fmt.Errorf("a write at %s was not readable at %s within 30 s", c.nodes[0].name, n.name)
				}
				if !sleepCtx(ctx, 200*time.Microsecond) {
					return ctx.Err()
				}
			}
		}
		lat.Record(time.Since(start))
	}
	r.add(&Row{Scenario: scenMesh, Case: caseConvergence, System: sysCountermesh, Ops: lat.Count(), Runs: 1,
		P50Ms: ms(lat.Percentile(50)), P99Ms: ms(lat.Percentile(99)),
		Note: fmt.Sprintf("write at eu readable at us and ap, %s one way", r.cfg.MeshDelay)})
	return nil
}

// wireBytes writes rate ops/s at the first region for the configured time,
// waits until every region converged, and adds a row of the sync bytes that
// region sent per operation.
func (r *runner) wireBytes(ctx context.Context, c *cluster, kase string, rate int, opAt func(i int) persist.Op) error {
	r.progress("%s / %s / %d ops/s for %s", scenMesh, kase, rate, r.cfg.WireDuration)
	p := c.nodes[0].peer
	before := sentBytes(p)
	replica := p.Store().Replica()
	peers := len(c.nodes) - 1
	var naive, ops int
	start := time.Now()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for time.Since(start) < r.cfg.WireDuration {
		select {
		case <-tick.C:
		case <-ctx.Done():
			return ctx.Err()
		}
		due := int(time.Since(start).Seconds()*float64(rate)) - ops
		batch := make([]persist.Op, 0, max(due, 0))
		for range due {
			op := opAt(ops + len(batch))
			naive += peers * oneMessagePerOp(replica, op, uint64(ops+len(batch)+1))
			batch = append(batch, op)
		}
		if len(batch) > 0 {
			if _, err := p.Store().Write(ctx, batch...); err != nil {
				return err
			}
			ops += len(batch)
		}
	}
	deadline := time.Now().Add(time.Minute)
	for !c.converged() {
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: regions did not converge within a minute", kase)
		}
		if !sleepCtx(ctx, 20*time.Millisecond) {
			return ctx.Err()
		}
	}
	sent := sentBytes(p) - before
	perOp := float64(sent) / float64(max(ops, 1))
	r.add(&Row{Scenario: scenMesh, Case: kase, System: sysCountermesh, Ops: int64(ops), Runs: 1,
		Value: perOp, Unit: "bytes/op",
		Note: fmt.Sprintf("to %d regions, %d ops/s; %.2f%% of one message per op", peers, rate, 100*float64(sent)/float64(max(naive, 1)))})
	return nil
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
		if op.IdempotencyKey != "" {
			d.JoinIdem(crdt.IdemKey{Item: op.Item, Key: op.IdempotencyKey}, crdt.NewIdemRecord(replica,
				crdt.Application{TS: crdt.Timestamp{Wall: time.Now().UnixMilli()}, Counter: op.Counter, By: op.By}))
		}
	case persist.OpReact:
		d.JoinRegister(crdt.RegisterKey{Item: op.Item, User: op.User},
			crdt.Register{Kind: op.Reaction, TS: crdt.Timestamp{Wall: time.Now().UnixMilli()}, Replica: replica})
	}
	return len(exchange.EncodeMessage(exchange.Message{Type: exchange.MsgBatch, Seq: seq, Delta: d}))
}

// sentBytes returns the sync bytes a peer sent to every other peer.
func sentBytes(p *region.Peer) uint64 {
	var n uint64
	for _, r := range p.Status().Regions {
		for _, q := range r.Peers {
			n += q.BytesSent
		}
	}
	return n
}
