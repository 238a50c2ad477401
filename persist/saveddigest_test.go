package persist

import (
	"errors"
	"testing"

	"github.com/dgraph-io/badger/v4"
)

func savedDigestPresent(t *testing.T, s *Store) bool {
	t.Helper()
	err := s.view(func(txn *badger.Txn) error { _, err := txn.Get(keyDigest); return err })
	if err != nil && !errors.Is(err, badger.ErrKeyNotFound) {
		t.Fatal(err)
	}
	return err == nil
}

func checkDigestIsRecomputed(t *testing.T, s *Store) {
	t.Helper()
	want, err := s.RecomputeDigest()
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Digest(); len(got.Differing(want)) > 0 {
		t.Errorf("digest after open differs from the recomputed one in buckets %v", got.Differing(want))
	}
}

// TestDigestSavedAtCloseAndTakenAtOpen: a clean Close saves the digest; Open
// uses it and deletes it at once, so a crash during the run that follows
// leaves none behind and the next Open recomputes.
func TestDigestSavedAtCloseAndTakenAtOpen(t *testing.T) {
	dir := t.TempDir()
	s := openNamesStore(t, dir)
	mustWrite(t, s, Add("a", "claps", 2), React("a", "u1", "like"), React("b", "u2", "dislike"))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openNamesStore(t, dir)
	if savedDigestPresent(t, s) {
		t.Error("the saved digest is still there while the store is open")
	}
	checkDigestIsRecomputed(t, s)
	mustWrite(t, s, Add("c", "claps", 1))
	// As after a crash: the store is gone without Close, and nothing was saved.
	s.stopPipeline()
	s.db.Close()
	s = openNamesStore(t, dir)
	defer s.Close()
	checkDigestIsRecomputed(t, s)
}

// TestUnreadableSavedDigestIsRecomputed: a saved digest of the wrong size or
// version is ignored, not trusted.
func TestUnreadableSavedDigestIsRecomputed(t *testing.T) {
	dir := t.TempDir()
	s := openNamesStore(t, dir)
	mustWrite(t, s, Add("a", "claps", 2), React("a", "u1", "like"))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	bad := encodeSavedDigest(&Digest{1, 2, 3})
	bad[0] = 9
	updateClosedStore(t, dir, func(txn *badger.Txn) error { return txn.Set(keyDigest, bad) })
	s = openNamesStore(t, dir)
	defer s.Close()
	checkDigestIsRecomputed(t, s)
	if _, err := decodeSavedDigest(bad[:10]); err == nil {
		t.Error("a truncated saved digest decoded")
	}
}
