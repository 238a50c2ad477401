package persist

// DiskSize returns the bytes the store's tables (LSM) and value log take on disk,
// as Badger last measured them (it refreshes the figures every minute).
func (s *Store) DiskSize() (lsm, vlog int64) { return s.db.Size() }
