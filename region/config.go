package region

import (
	"log/slog"
	"time"

	"github.com/countermesh/countermesh/persist"
	"github.com/countermesh/countermesh/sync/exchange"
	"github.com/countermesh/countermesh/topology"
)

// Config configures a Peer. Start from DefaultConfig or DefaultLocalConfig; New
// copies it.
type Config struct {
	// TopologyFile is the topology file. Required.
	TopologyFile string
	// PeerName is this peer's name in the topology. Required.
	PeerName string
	// DataDir is the data directory. Required.
	DataDir string

	// StoreOptions returns the store's options for a data directory. Default
	// persist.DefaultOptions; DefaultLocalConfig uses persist.SmallOptions.
	StoreOptions func(dir string) persist.Options
	// MemoryBudget, when positive, sizes the store's memory from one budget of
	// bytes (persist.Options.WithMemoryBudget), over StoreOptions' sizes. When
	// zero, the peer's memory in the topology, if it names one, does.
	MemoryBudget int64
	// Exchange tunes the sync protocol (the mesh name is taken from the
	// topology). Default: the exchange's defaults (20 ms flush).
	Exchange exchange.Config
	// Network is what the peer listens and dials on. Default HostNetwork (UDP for
	// QUIC and gossip packets, TCP for gossip streams); tests pass a fault network.
	Network Network

	// GossipProfile is "lan", "wan" or "local": memberlist's timing profile.
	// Default "wan"; DefaultLocalConfig "local".
	GossipProfile string
	// RejoinInterval is how often the peer re-joins the topology's peers to
	// memberlist, so a pool split by a long partition re-merges. Default 10 s.
	RejoinInterval time.Duration
	// DialInterval is how often missing links are retried. Default 1 s.
	DialInterval time.Duration
	// AntiEntropyInterval is how often the peer runs anti-entropy with a random
	// linked peer. Default 30 s.
	AntiEntropyInterval time.Duration
	// TrimInterval is how often the change log is trimmed. Default 10 s.
	TrimInterval time.Duration
	// LogRetention caps the change log, in sequences, whatever peers lag.
	// Default 10,000,000.
	LogRetention uint64
	// ReloadInterval is how often the topology file is checked for changes.
	// Default 2 s.
	ReloadInterval time.Duration
	// OnReload, when set, is called with every topology a reload put in force
	// (file change or Reload) and the material its files hold, after the peer
	// applied them, from the goroutine that reloaded. What the peer does not
	// use — API tokens, token secrets — is applied there, from the material:
	// nobody reads those files again. It must not block for long.
	OnReload func(*topology.Topology, *topology.Material)
	// LinkIdleTimeout closes a link that heard nothing for that long. Default 15 s.
	LinkIdleTimeout time.Duration

	// WallClock is the hybrid logical clock's time source. Default time.Now.
	WallClock func() time.Time
	// Logger receives the peer's logs. Default slog.Default().
	Logger *slog.Logger
}

// DefaultConfig returns production settings for a peer.
func DefaultConfig() Config {
	return Config{
		StoreOptions:        persist.DefaultOptions,
		GossipProfile:       "wan",
		RejoinInterval:      10 * time.Second,
		DialInterval:        time.Second,
		AntiEntropyInterval: 30 * time.Second,
		TrimInterval:        10 * time.Second,
		LogRetention:        10_000_000,
		ReloadInterval:      2 * time.Second,
		LinkIdleTimeout:     15 * time.Second,
	}
}

// DefaultLocalConfig returns fast settings for meshes on one machine: tests and
// the demo.
func DefaultLocalConfig() Config {
	c := DefaultConfig()
	c.StoreOptions = persist.SmallOptions
	c.GossipProfile = "local"
	c.RejoinInterval = time.Second
	c.DialInterval = 100 * time.Millisecond
	c.AntiEntropyInterval = 2 * time.Second
	c.TrimInterval = time.Second
	c.ReloadInterval = 200 * time.Millisecond
	c.LinkIdleTimeout = 3 * time.Second
	c.Exchange.FlushInterval = 10 * time.Millisecond
	c.Exchange.RetryInterval = 200 * time.Millisecond
	return c
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.StoreOptions == nil {
		c.StoreOptions = d.StoreOptions
	}
	if c.Network == nil {
		c.Network = HostNetwork{}
	}
	if c.GossipProfile == "" {
		c.GossipProfile = d.GossipProfile
	}
	if c.RejoinInterval <= 0 {
		c.RejoinInterval = d.RejoinInterval
	}
	if c.DialInterval <= 0 {
		c.DialInterval = d.DialInterval
	}
	if c.AntiEntropyInterval <= 0 {
		c.AntiEntropyInterval = d.AntiEntropyInterval
	}
	if c.TrimInterval <= 0 {
		c.TrimInterval = d.TrimInterval
	}
	if c.LogRetention == 0 {
		c.LogRetention = d.LogRetention
	}
	if c.ReloadInterval <= 0 {
		c.ReloadInterval = d.ReloadInterval
	}
	if c.LinkIdleTimeout <= 0 {
		c.LinkIdleTimeout = d.LinkIdleTimeout
	}
	if c.WallClock == nil {
		c.WallClock = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}
