package persist

import (
	"context"
	"fmt"
	"testing"

	"github.com/dgraph-io/badger/v4"

	"github.com/countermesh/countermesh/crdt"
	"github.com/countermesh/countermesh/crdt/codec"
)

func openNamesStore(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := Open(testOptions(dir, 0))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// updateClosedStore runs fn in one Badger transaction on the closed store in dir.
func updateClosedStore(t *testing.T, dir string, fn func(*badger.Txn) error) {
	t.Helper()
	opts, _ := testOptions(dir, 0).withDefaults()
	db, err := badger.Open(badgerOptions(opts))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(fn); err != nil {
		t.Fatal(err)
	}
}

func mustWrite(t *testing.T, s *Store, ops ...Op) {
	t.Helper()
	if _, err := s.Write(context.Background(), ops...); err != nil {
		t.Fatal(err)
	}
}

// wantItem checks item's counters and tallies.
func wantItem(t *testing.T, s *Store, item string, counters, tallies map[string]int64) {
	t.Helper()
	v, err := s.ReadItem(item, "")
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(v.Counters) != fmt.Sprint(counters) || fmt.Sprint(map[string]int64(v.Tallies)) != fmt.Sprint(tallies) {
		t.Errorf("%s: counters %v tallies %v; want %v %v", item, v.Counters, v.Tallies, counters, tallies)
	}
}

// TestNamesSurviveRestart: an item is read by the names the store knows, so the
// names written before a restart must be known after it — from local writes and
// from merges alike.
func TestNamesSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	s := openNamesStore(t, dir)
	mustWrite(t, s, Add("a", "claps", 2), Add("a", "views", 5), React("a", "u1", "like"))
	var c crdt.PNCounter
	c.JoinEntry(0x77, crdt.PN{P: 9})
	d := crdt.Delta{
		Counters:  map[crdt.CounterKey]crdt.PNCounter{{Item: "b", Name: "shares"}: c},
		Registers: map[crdt.RegisterKey]crdt.Register{{Item: "b", User: "u2"}: {Kind: "wow", TS: s.Clock().Now(), Replica: 0x77}},
	}
	if _, err := s.Merge(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openNamesStore(t, dir)
	defer s.Close()
	wantItem(t, s, "a", map[string]int64{"claps": 2, "views": 5}, map[string]int64{"like": 1})
	wantItem(t, s, "b", map[string]int64{"shares": 9}, map[string]int64{"wow": 1})
}

// TestReadItemWithManyNames: past maxPointNames names, items are read by
// scanning, with the same answer.
func TestReadItemWithManyNames(t *testing.T) {
	s := openNamesStore(t, t.TempDir())
	defer s.Close()
	want := map[string]int64{}
	var ops []Op
	for i := range maxPointNames + 5 {
		name := fmt.Sprintf("c%02d", i)
		ops = append(ops, Add("many", name, int64(i+1)))
		want[name] = int64(i + 1)
	}
	mustWrite(t, s, ops...)
	mustWrite(t, s, Add("few", "c03", 1))
	wantItem(t, s, "many", want, map[string]int64{})
	wantItem(t, s, "few", map[string]int64{"c03": 1}, map[string]int64{})
}

// TestOpenAddsNamesToAVersion1Keyspace: a keyspace written before names were
// kept gets them at its first open, and reads see every counter and tally.
func TestOpenAddsNamesToAVersion1Keyspace(t *testing.T) {
	dir := t.TempDir()
	s := openNamesStore(t, dir)
	mustWrite(t, s, Add("a", "claps", 2), Add("a", "views", 5), React("a", "u1", "like"), React("b", "u1", "dislike"))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Make it what version 1 wrote: no names, format 1.
	updateClosedStore(t, dir, func(txn *badger.Txn) error {
		for _, k := range [][]byte{keyCounterNames, keyTallyKinds} {
			if err := txn.Delete(k); err != nil {
				return err
			}
		}
		return txn.Set(keyFormat, codec.EncodeUint(1))
	})

	for range 2 { // the first open upgrades, the second reads the upgrade
		s = openNamesStore(t, dir)
		wantItem(t, s, "a", map[string]int64{"claps": 2, "views": 5}, map[string]int64{"like": 1})
		wantItem(t, s, "b", map[string]int64{}, map[string]int64{"dislike": 1})
		var format uint64
		s.view(func(txn *badger.Txn) (err error) { format, err = getUint(txn, keyFormat); return })
		if format != formatVersion {
			t.Errorf("format %d after open, want %d", format, formatVersion)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
