package netns

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/countermesh/countermesh/tests/chaos"
)

// Faults implements chaos.Cluster: a region partitioned (its mesh links down), one
// peer's mesh link flapping, and a region added to the topology file (once).
func (c *Cluster) Faults() []chaos.Fault {
	return []chaos.Fault{
		{Name: "partition", Inject: c.partition, Repair: c.repairPartition},
		{Name: "flap", Inject: c.startFlap, Repair: c.repairFlap},
		{Name: "add-region", Once: true, Inject: c.addRegion},
	}
}

// partition takes down the mesh link of every peer of a random region: they
// reach no other peer, and no other peer reaches them; their APIs still answer.
func (c *Cluster) partition(_ context.Context, rng *rand.Rand) (string, error) {
	c.mu.Lock()
	r := c.regions[rng.IntN(len(c.regions))]
	peers := slices.Clone(c.byReg[r])
	c.cut = append(c.cut, peers...)
	c.mu.Unlock()
	var names []string
	for _, p := range peers {
		if err := c.net.setLink(p.index, false); err != nil {
			return "", err
		}
		names = append(names, p.name)
	}
	return fmt.Sprintf("%s cut off: mesh links of %s down", r, strings.Join(names, ", ")), nil
}

// repairPartition brings the links the partition took down up again.
func (c *Cluster) repairPartition(context.Context) error {
	c.mu.Lock()
	cut := c.cut
	c.cut = nil
	c.mu.Unlock()
	for _, p := range cut {
		if err := c.net.setLink(p.index, true); err != nil {
			return err
		}
	}
	return nil
}

// startFlap takes a random peer's link down and up again every 200–400 ms,
// from a goroutine that runs until the fault is repaired.
func (c *Cluster) startFlap(_ context.Context, rng *rand.Rand) (string, error) {
	peers := c.Peers()
	name := peers[rng.IntN(len(peers))]
	c.mu.Lock()
	p := c.peers[name]
	c.mu.Unlock()
	if err := c.net.setLink(p.index, false); err != nil {
		return "", err
	}
	ctx, cancel := context.WithCancel(context.Background())
	jitter := rand.New(rand.NewPCG(rng.Uint64(), 2))
	errs := make(chan error, 1)
	c.flapped.Go(func() {
		for up := true; ; up = !up {
			select {
			case <-ctx.Done():
				return
			case <-time.After(200*time.Millisecond + time.Duration(jitter.Int64N(int64(200*time.Millisecond)))):
			}
			if err := c.net.setLink(p.index, up); err != nil {
				errs <- err
				return
			}
		}
	})
	c.mu.Lock()
	c.flap, c.flapErr = cancel, errs
	c.mu.Unlock()
	return fmt.Sprintf("%s's mesh link flapping down and up every 200–400 ms", name), nil
}

// stopFlap stops the flapping link, if one flaps, and waits for it to stop.
// It returns the error that stopped the flapping early, if one did.
func (c *Cluster) stopFlap() error {
	c.mu.Lock()
	stop, errs := c.flap, c.flapErr
	c.flap, c.flapErr = nil, nil
	c.mu.Unlock()
	if stop == nil {
		return nil
	}
	stop()
	c.flapped.Wait()
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}

// repairFlap stops the flapping and brings every link up.
func (c *Cluster) repairFlap(context.Context) error {
	if err := c.stopFlap(); err != nil {
		return fmt.Errorf("flapping: %w", err)
	}
	return c.linksUp()
}

// addRegion adds a region of one peer: its namespace, certificate and entry in
// the topology file, which the running peers reload, then its process.
func (c *Cluster) addRegion(ctx context.Context, _ *rand.Rand) (string, error) {
	c.mu.Lock()
	c.added++
	region := fmt.Sprintf("added-%d", c.added)
	c.mu.Unlock()
	p, err := c.addPeer(region)
	if err != nil {
		return "", err
	}
	if err := c.writeTopology(); err != nil {
		return "", err
	}
	if err := c.start(p); err != nil {
		return "", err
	}
	if err := c.waitHealthy(ctx, p); err != nil {
		return "", err
	}
	c.list(p)
	return fmt.Sprintf("region %s (%s) added to the topology file and started", region, p.name), nil
}
