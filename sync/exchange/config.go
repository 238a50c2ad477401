package exchange

import (
	"log/slog"
	"time"
)

// Config tunes the exchange. Zero fields take the defaults below.
type Config struct {
	// Mesh is the mesh name sent in every hello; a peer of another mesh is refused.
	Mesh string
	// FlushInterval is how often a sender ships what is pending. Default 20 ms.
	FlushInterval time.Duration
	// MaxBatchKeys is how many keys one batch may carry; a sender ships at once
	// when that many changes are pending. Default 4096.
	MaxBatchKeys int
	// Window is how many batches may await acknowledgement. Default 8.
	Window int
	// RetryInterval is how long a sender waits after its stream failed or the
	// receiver could not apply a batch (full disk), and how often it offers again
	// the keys the receiver refused (clock drift). Default 1 s.
	RetryInterval time.Duration
	// IOTimeout bounds each anti-entropy round, on both sides, and each exchange
	// of hellos: a peer that stalls past it has its stream failed. Default 30 s.
	IOTimeout time.Duration
	// Logger receives the exchange's logs. Default slog.Default().
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.FlushInterval <= 0 {
		c.FlushInterval = 20 * time.Millisecond
	}
	if c.MaxBatchKeys <= 0 {
		c.MaxBatchKeys = 4096
	}
	if c.Window <= 0 {
		c.Window = 8
	}
	if c.RetryInterval <= 0 {
		c.RetryInterval = time.Second
	}
	if c.IOTimeout <= 0 {
		c.IOTimeout = 30 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}
