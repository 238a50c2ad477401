package persist

// committedCache returns the applier's cache of committed states. The applier
// owns it while the store is open: look only after Close.
func (s *Store) committedCache() *committedCache { return s.applier.cache }

// DecidedKind reports whether the applier has decided a reaction of kind: it
// adds a kind to the name set when it decides the first reaction of it, before
// the batch is committed.
func (s *Store) DecidedKind(kind string) bool {
	s.names.mu.RLock()
	defer s.names.mu.RUnlock()
	_, ok := s.names.kinds[kind]
	return ok
}
