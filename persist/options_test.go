package persist

import "testing"

// TestAMemoryBudgetSizesEveryCache: the parts the budget sizes stay within
// it, at every size, and grow with it.
func TestAMemoryBudgetSizesEveryCache(t *testing.T) {
	prev := int64(0)
	for _, budget := range []int64{64 << 20, 256 << 20, 1 << 30, 8 << 30, 64 << 30} {
		o := DefaultOptions(t.TempDir()).WithMemoryBudget(budget)
		if _, err := o.withDefaults(); err != nil {
			t.Fatalf("budget %d: %v", budget, err)
		}
		sized := o.MemTableSize*int64(o.NumMemtables) + o.BlockCacheSize + o.IndexCacheSize +
			o.ReadModelBytes + o.ReactionFilterBytes + o.ItemFilterBytes + int64(o.CacheKeys)*480
		if sized > budget*3/4 {
			t.Errorf("budget %d MiB: the caches take %d MiB, over 3/4 of it", budget>>20, sized>>20)
		}
		if sized <= prev {
			t.Errorf("budget %d MiB: the caches take %d bytes, no more than a smaller budget's %d", budget>>20, sized, prev)
		}
		prev = sized
	}
}
