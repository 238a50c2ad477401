package persist

// committedCache returns the applier's cache of committed states. The applier
// owns it while the store is open: look only after Close.
func (s *Store) committedCache() *committedCache { return s.applier.cache }
