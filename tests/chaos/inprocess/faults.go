package inprocess

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/countermesh/countermesh/sync/transport/faultnet"
	"github.com/countermesh/countermesh/tests/chaos"
)

// Faults implements chaos.Cluster: partitions of a region, one-way loss, a
// flapping region, 30% loss everywhere, added delay, a region's clock skewed by
// ±30 s, a region whose answers to writes are lost, and a region added to the
// topology (once).
func (c *Cluster) Faults() []chaos.Fault {
	heal := func(context.Context) error { c.mesh.Net.Heal(); return nil }
	return []chaos.Fault{
		{Name: "partition", Inject: c.partition, Repair: heal},
		{Name: "one-way-loss", Inject: c.oneWayLoss, Repair: heal},
		{Name: "flap", Inject: c.startFlap, Repair: func(context.Context) error { c.stopFlap(); c.mesh.Net.Heal(); return nil }},
		{Name: "loss-30", Inject: c.everyLink(faultnet.Faults{Loss: 0.3}, "30% of packets lost on every link"), Repair: heal},
		{Name: "delay", Inject: c.everyLink(faultnet.Faults{Delay: 150 * time.Millisecond, Jitter: 100 * time.Millisecond},
			"150–250 ms added to every packet, reordered"), Repair: heal},
		{Name: "clock-skew", Inject: c.skewClock, Repair: c.unskew},
		{Name: "lost-answers", Inject: c.loseAnswers, Repair: c.answerAgain},
		{Name: "add-region", Once: true, Inject: c.addRegion},
	}
}

// liveRegions returns the regions with at least one peer.
func (c *Cluster) liveRegions() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.regions)
}

// split returns the hosts of region r and those of every other region.
func (c *Cluster) split(r string) (in, out []string) {
	for _, o := range c.liveRegions() {
		if o == r {
			in = append(in, c.mesh.HostsOf(o)...)
		} else {
			out = append(out, c.mesh.HostsOf(o)...)
		}
	}
	return in, out
}

func pick[T any](rng *rand.Rand, xs []T) T { return xs[rng.IntN(len(xs))] }

// partition cuts a random region off from the others.
func (c *Cluster) partition(_ context.Context, rng *rand.Rand) (string, error) {
	r := pick(rng, c.liveRegions())
	in, out := c.split(r)
	c.mesh.Net.Partition(in, out)
	return r + " cut off from the other regions", nil
}

// oneWayLoss drops every packet from one region to another; the reverse
// direction works.
func (c *Cluster) oneWayLoss(_ context.Context, rng *rand.Rand) (string, error) {
	regions := c.liveRegions()
	from := pick(rng, regions)
	to := pick(rng, slices.DeleteFunc(slices.Clone(regions), func(r string) bool { return r == from }))
	for _, a := range c.mesh.HostsOf(from) {
		for _, b := range c.mesh.HostsOf(to) {
			c.mesh.Net.SetFaults(a, b, faultnet.Faults{Loss: 1})
		}
	}
	return fmt.Sprintf("every packet from %s to %s lost, %s to %s delivered", from, to, to, from), nil
}

// startFlap cuts a region off and reconnects it every 150–450 ms, until
// stopFlap.
func (c *Cluster) startFlap(_ context.Context, rng *rand.Rand) (string, error) {
	r := pick(rng, c.liveRegions())
	in, out := c.split(r)
	ctx, cancel := context.WithCancel(context.Background())
	c.mu.Lock()
	c.flap = cancel
	c.mu.Unlock()
	seed := rng.Uint64()
	c.flapped.Go(func() {
		rng := rand.New(rand.NewPCG(seed, 2))
		for cut := true; ; cut = !cut {
			if cut {
				c.mesh.Net.Partition(in, out)
			} else {
				c.mesh.Net.Heal()
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(150*time.Millisecond + time.Duration(rng.Int64N(int64(300*time.Millisecond)))):
			}
		}
	})
	return r + "'s links flapping every 150–450 ms", nil
}

// stopFlap stops the flapping link, if any, and waits for it.
func (c *Cluster) stopFlap() {
	c.mu.Lock()
	stop := c.flap
	c.flap = nil
	c.mu.Unlock()
	if stop != nil {
		stop()
	}
	c.flapped.Wait()
}

// everyLink sets faults on every link between two peers.
func (c *Cluster) everyLink(f faultnet.Faults, what string) func(context.Context, *rand.Rand) (string, error) {
	return func(context.Context, *rand.Rand) (string, error) {
		var hosts []string
		for _, r := range c.liveRegions() {
			hosts = append(hosts, c.mesh.HostsOf(r)...)
		}
		for _, a := range hosts {
			for _, b := range hosts {
				if a != b {
					c.mesh.Net.SetFaults(a, b, f)
				}
			}
		}
		return what, nil
	}
}

// skewClock moves a random region's clock 30 s ahead or behind.
func (c *Cluster) skewClock(_ context.Context, rng *rand.Rand) (string, error) {
	r := pick(rng, c.liveRegions())
	d := 30 * time.Second
	if rng.IntN(2) == 0 {
		d = -d
	}
	c.skewOf(r).Store(int64(d))
	return fmt.Sprintf("%s's clock %+v", r, d), nil
}

func (c *Cluster) unskew(context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.skews {
		s.Store(0)
	}
	return nil
}

// addRegion adds a region of one peer to the topology file and starts it; the
// running peers pick it up on their next reload.
func (c *Cluster) addRegion(ctx context.Context, _ *rand.Rand) (string, error) {
	c.mu.Lock()
	c.added++
	name := fmt.Sprintf("added-%d", c.added)
	c.regions = append(c.regions, name)
	c.mu.Unlock()
	c.mesh.AddRegion(name, 1)
	c.mesh.WriteTopology()
	peers := c.mesh.PeersOf(name)
	for _, p := range peers {
		c.mesh.Start(p)
		if err := chaos.WaitHealthy(ctx, c.API(p), nil); err != nil {
			return "", err
		}
	}
	return fmt.Sprintf("region %s (%s) added to the topology", name, strings.Join(peers, ", ")), nil
}
