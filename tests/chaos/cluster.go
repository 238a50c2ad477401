package chaos

import (
	"context"
	"math/rand/v2"
)

// Cluster is a mesh under test. Its methods are called from one goroutine at a
// time, except Peers, Region, API and Token, which sessions call concurrently.
type Cluster interface {
	// Describe says what the cluster is, for the summary.
	Describe() string
	// Peers returns every peer clients may call, running or not, sorted. It may
	// grow during a run (a region added).
	Peers() []string
	// Region returns the region of a peer Peers listed.
	Region(peer string) string
	// API returns the base URL of a peer's HTTP API ("http://host:port").
	API(peer string) string
	// Token returns the bearer token clients send ("" for an open API).
	Token() string
	// Faults returns the network, clock and topology faults the cluster can
	// inject. Crashes are not among them: Run makes them with Kill and Restart.
	Faults() []Fault
	// Kill stops a running peer abruptly: no drain, no flush, as SIGKILL does.
	Kill(peer string) error
	// Restart starts a killed peer again on its data directory and returns once
	// its API answers.
	Restart(ctx context.Context, peer string) error
	// Heal ends every fault: links restored, clocks true, killed peers restarted.
	// Once it returns, the mesh must converge.
	Heal(ctx context.Context) error
	// Final returns every peer's state of items read from its store, registers
	// included. The cluster may stop its peers to read it; Run calls it last.
	Final(ctx context.Context, items []string) (map[string]PeerState, error)
}

// Fault is one kind of fault a cluster can inject.
type Fault struct {
	// Name names the kind of fault ("partition", "loss-30", ...).
	Name string
	// Once marks a fault that changes the mesh for good (a region added): it is
	// injected at most once per run and has no Repair.
	Once bool
	// Inject starts the fault, choosing its targets with rng, and says what it
	// did ("us-east cut off from the other regions").
	Inject func(ctx context.Context, rng *rand.Rand) (string, error)
	// Repair ends the fault. Nil for a fault that stays.
	Repair func(ctx context.Context) error
}
