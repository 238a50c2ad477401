package persist

import (
	"errors"
	"log/slog"
	"time"
)

// Options configures a Store. Start from DefaultOptions or SmallOptions; Open
// copies the Options, so the caller's value is never changed.
type Options struct {
	// Dir is the data directory. Required. A directory with no store in it becomes
	// a new replica with a fresh random id.
	Dir string

	// MemTableSize is the size of one Badger memtable. It bounds one group-commit
	// batch to about 15% of it. Default 16 MiB; small profile 8 MiB. Larger
	// memtables cost tail latency on a small machine: flushing 64 MiB to a
	// level-0 table is a burst of CPU that stalls paced writes after a bulk
	// load (BenchmarkLayerStorePacedAfterLoad on 2 cores: p99 22 ms at 64 MiB,
	// 8 ms at 16 MiB, medians of 3).
	MemTableSize int64
	// NumMemtables is how many memtables Badger keeps before stalling writes.
	// Default 5; small profile 2.
	NumMemtables int
	// BlockCacheSize is Badger's block cache. Default 256 MiB; small profile 0
	// (which needs Compression off).
	BlockCacheSize int64
	// IndexCacheSize bounds memory for table indexes; 0 keeps them all in memory.
	// Default 0; small profile 4 MiB.
	IndexCacheSize int64
	// Compression turns on Snappy compression of tables. Default on; small off.
	Compression bool
	// NumCompactors is how many compaction goroutines Badger runs. Default 2.
	NumCompactors int

	// CacheKeys is about how many counters, how many registers and how many
	// tallies (each) the store keeps in memory, as last committed, to decide
	// writes on them without reading Badger; it is rounded up to a power of two,
	// and those used least recently are dropped first. Default 32,768, about 15
	// MiB when full; small profile 4,096. Negative keeps none.
	CacheKeys int

	// ReadModelBytes is the memory budget of the read model: the counter values
	// and tallies of the items read or written lately, from which reads are
	// answered without Badger. Past it, the items least used since the last
	// sweep are dropped and read from Badger again when asked for. Default 256
	// MiB (about 1.5 million items of one counter and two tallies); small
	// profile 8 MiB. Negative keeps none: every read goes to Badger.
	ReadModelBytes int64
	// ReactionFilterBytes sizes the filter that tells, without a disk read, that
	// a user has no reaction to an item. About 1.5 bytes per stored reaction
	// keeps the disk reads it lets through for users who have none under 1%.
	// Default 16 MiB (about 10 million reactions); small profile 1 MiB. Negative
	// keeps none: every read of a user's reaction goes to Badger.
	ReactionFilterBytes int64
	// ItemFilterBytes sizes the filter that tells, without a disk read, that
	// an item has no counter and no tally: a read of it answers zeros from
	// memory, and its first write reads nothing. About 1.5 bytes per item
	// written keeps the disk reads it lets through for other items under 1%.
	// Default 4 MiB (about 2.8 million items); small profile 256 KiB. Negative
	// keeps none: every read of an item the read model does not hold goes to
	// Badger.
	ItemFilterBytes int64

	// MaxBatchOps caps how many mutations share one commit. Default 10,000.
	MaxBatchOps int
	// QueueLength is how many calls may wait for the applier before Write blocks.
	// Default 4,096.
	QueueLength int
	// IdempotencyTTL is how long the record of a keyed increment is kept, from
	// its winning application's time: within it, retries anywhere in the mesh
	// count once. Default 24 h.
	IdempotencyTTL time.Duration
	// IdempotencySweep is how often expired records of keyed increments are
	// deleted. Default 5 min; negative never (ExpireIdempotency still does).
	IdempotencySweep time.Duration

	// MinFreeBytes is the free space the data directory's file system must keep:
	// below it writes fail with ErrDiskFull (reads keep working), because Badger
	// needs room for its flushes and compactions and dies rather than erring when
	// its memory-mapped files hit a full disk. Default 1 GiB; small profile 64 MiB.
	// Negative disables the check.
	MinFreeBytes int64

	// WallClock is the hybrid logical clock's physical time source. Default
	// time.Now. Tests inject skewed or jumping clocks here.
	WallClock func() time.Time
	// MaxDrift is how far ahead of local wall time a merged timestamp may be.
	// Default 60 s.
	MaxDrift time.Duration

	// Logger receives the store's and Badger's warnings and errors. Default
	// slog.Default().
	Logger *slog.Logger

	// CommitFault, when non-nil, is called before every batch is written; a non-nil
	// error fails that batch exactly as a failed disk write would. It exists for
	// tests that inject storage faults; leave it nil in production.
	CommitFault func(ops int) error
}

// DefaultOptions returns production defaults for a store in dir.
func DefaultOptions(dir string) Options {
	return Options{
		Dir:                 dir,
		MemTableSize:        16 << 20,
		NumMemtables:        5,
		BlockCacheSize:      256 << 20,
		Compression:         true,
		NumCompactors:       2,
		CacheKeys:           1 << 15,
		ReadModelBytes:      256 << 20,
		ReactionFilterBytes: 16 << 20,
		ItemFilterBytes:     4 << 20,
		MaxBatchOps:         10_000,
		QueueLength:         4096,
		IdempotencyTTL:      24 * time.Hour,
		IdempotencySweep:    5 * time.Minute,
		MinFreeBytes:        1 << 30,
	}
}

// SmallOptions returns a small-memory profile for tests and the demo mesh: a
// store using a few tens of MiB instead of hundreds.
func SmallOptions(dir string) Options {
	o := DefaultOptions(dir)
	o.MemTableSize = 8 << 20
	o.NumMemtables = 2
	o.BlockCacheSize = 0
	o.IndexCacheSize = 4 << 20
	o.Compression = false
	o.CacheKeys = 1 << 12
	o.ReadModelBytes = 8 << 20
	o.ReactionFilterBytes = 1 << 20
	o.ItemFilterBytes = 256 << 10
	o.MinFreeBytes = 64 << 20
	return o
}

// WithMemoryBudget returns o with everything the store keeps in memory sized
// from one budget of bytes: Badger's memtables (at most 1/8 of it: four of
// budget/32, up to 16 MiB each; see MemTableSize), block cache (1/8) and
// index cache (1/16), the read model with the item filter (1/4, 1/256 of the
// budget the filter's), the reaction filter (1/32) and the applier's cache
// (about 1/32). That is about 60% of the budget, the rest left to the Go
// runtime, the API's connections and Badger's own bookkeeping. A budget below
// 64 MiB is taken as 64 MiB.
func (o Options) WithMemoryBudget(budget int64) Options {
	budget = max(budget, 64<<20)
	o.MemTableSize = min(max(budget/32, 4<<20), 16<<20)
	o.NumMemtables = 4
	o.BlockCacheSize = budget / 8
	o.IndexCacheSize = budget / 16
	o.Compression = true
	o.ItemFilterBytes = budget / 256
	o.ReadModelBytes = budget/4 - o.ItemFilterBytes
	o.ReactionFilterBytes = budget / 32
	// A cached counter, register and tally take about 480 bytes together.
	o.CacheKeys = int(min(budget/32/480, 1<<17))
	return o
}

// withDefaults fills zero fields and validates.
func (o Options) withDefaults() (Options, error) {
	if o.Dir == "" {
		return o, errors.New("persist: Options.Dir is required")
	}
	d := DefaultOptions(o.Dir)
	if o.MemTableSize <= 0 {
		o.MemTableSize = d.MemTableSize
	}
	if o.NumMemtables <= 0 {
		o.NumMemtables = d.NumMemtables
	}
	if o.BlockCacheSize < 0 {
		o.BlockCacheSize = 0
	}
	if o.BlockCacheSize == 0 && o.Compression {
		return o, errors.New("persist: Options.BlockCacheSize 0 requires Compression off")
	}
	if o.NumCompactors < 2 {
		o.NumCompactors = d.NumCompactors
	}
	switch {
	case o.CacheKeys == 0:
		o.CacheKeys = d.CacheKeys
	case o.CacheKeys < 0:
		o.CacheKeys = 0
	}
	for _, b := range []struct{ v, def *int64 }{
		{&o.ReadModelBytes, &d.ReadModelBytes}, {&o.ReactionFilterBytes, &d.ReactionFilterBytes},
		{&o.ItemFilterBytes, &d.ItemFilterBytes},
	} {
		switch {
		case *b.v == 0:
			*b.v = *b.def
		case *b.v < 0:
			*b.v = 0
		}
	}
	if o.MaxBatchOps <= 0 {
		o.MaxBatchOps = d.MaxBatchOps
	}
	if o.QueueLength <= 0 {
		o.QueueLength = d.QueueLength
	}
	if o.IdempotencyTTL <= 0 {
		o.IdempotencyTTL = d.IdempotencyTTL
	}
	if o.IdempotencySweep == 0 {
		o.IdempotencySweep = d.IdempotencySweep
	}
	switch {
	case o.MinFreeBytes == 0:
		o.MinFreeBytes = d.MinFreeBytes
	case o.MinFreeBytes < 0:
		o.MinFreeBytes = 0
	}
	if o.WallClock == nil {
		o.WallClock = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o, nil
}
