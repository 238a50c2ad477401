package persist

import (
	"context"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/countermesh/countermesh/crdt"
	"github.com/countermesh/countermesh/crdt/codec"
)

// Keyed increments (DESIGN.md §2, "Idempotent increments across the mesh").
//
// An increment sent with an idempotency key leaves a record under its item,
// prefixKeyed | bucket | item | key → crdt.IdemRecord: every replica that applied
// the increment, with when, to which counter and by how much. The record is a
// replicated state like a counter: it is logged with the increment, shipped with
// the counter's new state, joined by union on merge and covered by anti-entropy
// (its hash is part of the item's digest bucket). When a merge shows that this
// replica applied an increment that another replica applied first, this replica
// compensates its own application in the same batch (Compensation on its own
// counter entry, the record marked compensated), so the converged mesh counts the
// increment once.
//
// A record expires at its winner's wall time plus Options.IdempotencyTTL. An
// expired record is as good as absent: a retry of its key counts anew, a merge
// never takes one back from a slower peer (it would trigger a second
// compensation), and the sweeper deletes expired records every
// Options.IdempotencySweep, with their digest hashes.

// liveIdem returns rec, or the empty record when rec has expired.
func (a *applier) liveIdem(rec crdt.IdemRecord) crdt.IdemRecord {
	if rec.Len() > 0 && rec.Expired(a.env.wallClock().UnixMilli(), a.env.idemTTL) {
		return crdt.IdemRecord{}
	}
	return rec
}

// setIdem stores rec as the new record of k, replacing stored (what the store
// held, live or not), and keeps the digest in step. An empty rec deletes it.
func (a *applier) setIdem(k crdt.IdemKey, stored, rec crdt.IdemRecord) {
	a.cur.setIdem(&a.j, k, rec)
	a.cur.xorDigest(&a.j, BucketOf(k.Item), idemHash(k, stored)^idemHash(k, rec))
}

// applyKeyedAdd applies op, an increment with an idempotency key: a replay if
// the key has a live record (a conflict if the record's winner was another
// increment), else the increment and a new record of it.
func (a *applier) applyKeyedAdd(op Op) (Result, error) {
	k := crdt.IdemKey{Item: op.Item, Key: op.IdempotencyKey}
	stored, err := idemStates.at(a, k)
	if err != nil {
		return Result{}, err
	}
	if rec := a.liveIdem(stored); rec.Len() > 0 {
		if !rec.Matches(op.Counter, op.By) {
			_, w, _ := rec.Winner()
			return Result{}, fmt.Errorf("%w: key %q was used for %+d on %s/%s",
				ErrIdempotencyConflict, op.IdempotencyKey, w.By, op.Item, w.Counter)
		}
		c, err := counterStates.at(a, crdt.CounterKey{Item: op.Item, Name: op.Counter})
		return Result{Value: c.Value(), Replayed: true}, err
	}
	res, err := a.applyAdd(op)
	if err != nil {
		return Result{}, err
	}
	rec := crdt.NewIdemRecord(a.env.replica, crdt.Application{TS: a.env.clock.Now(), Counter: op.Counter, By: op.By})
	a.setIdem(k, stored, rec)
	a.cur.logIdem(&a.j, k)
	return res, nil
}

// mergeIdem joins a remote record of k into the local one and, if that shows
// this replica's application lost, compensates it in the same batch. It adds
// what changed to changed.
func (a *applier) mergeIdem(k crdt.IdemKey, remote crdt.IdemRecord, changed *crdt.Delta) error {
	stored, err := idemStates.at(a, k)
	if err != nil {
		return err
	}
	rec := a.liveIdem(stored).Clone()
	if !rec.Join(remote) || a.liveIdem(rec).Len() == 0 {
		return nil // nothing new, or expired: never take an expired record back
	}
	if app, owes := rec.Owes(a.env.replica); owes {
		comp, err := crdt.Compensation(app.By)
		if err != nil {
			return fmt.Errorf("compensate %s/%s: %w", k.Item, app.Counter, err)
		}
		if _, err := a.applyAdd(Add(k.Item, app.Counter, comp)); err != nil {
			return fmt.Errorf("compensate %s/%s: %w", k.Item, app.Counter, err)
		}
		rec.Compensate(a.env.replica)
		a.cur.logIdem(&a.j, k)
		ck := crdt.CounterKey{Item: k.Item, Name: app.Counter}
		c, err := counterStates.at(a, ck)
		if err != nil {
			return err
		}
		changed.JoinCounter(ck, c)
	}
	a.setIdem(k, stored, rec)
	changed.JoinIdem(k, rec)
	return nil
}

// applyExpire deletes the records of r.expire that have expired by now.
func (a *applier) applyExpire(r *request) error {
	for _, k := range r.expire {
		stored, err := idemStates.at(a, k)
		if err != nil {
			return err
		}
		if stored.Len() > 0 && a.liveIdem(stored).Len() == 0 {
			a.setIdem(k, stored, crdt.IdemRecord{})
		}
	}
	return nil
}

// sweepBatch is how many expired records one sweep request deletes.
const sweepBatch = 1000

// ExpireIdempotency deletes every record of a keyed increment that has expired
// (its winner's time plus Options.IdempotencyTTL) and returns how many it
// deleted. The store calls it every Options.IdempotencySweep; tests call it
// directly.
func (s *Store) ExpireIdempotency(ctx context.Context) (int, error) {
	now := s.opts.WallClock().UnixMilli()
	var expired []crdt.IdemKey
	err := s.view(func(txn *badger.Txn) error {
		return scanPrefix(txn, []byte{prefixKeyed}, func(key, val []byte) error {
			item, idemKey, err := splitItemKey(key)
			if err != nil {
				return err
			}
			rec, err := codec.DecodeIdemRecord(val)
			if err != nil {
				return err
			}
			if rec.Expired(now, s.opts.IdempotencyTTL) {
				expired = append(expired, crdt.IdemKey{Item: item, Key: idemKey})
			}
			return nil
		})
	})
	if err != nil {
		return 0, fmt.Errorf("persist: expire idempotency records: %w", err)
	}
	for start := 0; start < len(expired); start += sweepBatch {
		r := newRequest(requestExpire)
		r.expire = expired[start:min(start+sweepBatch, len(expired))]
		if err := s.submit(ctx, r); err != nil {
			return start, fmt.Errorf("persist: expire idempotency records: %w", err)
		}
		r.release()
	}
	return len(expired), nil
}

// runSweeper calls ExpireIdempotency every Options.IdempotencySweep until ctx
// ends.
func (s *Store) runSweeper(ctx context.Context) {
	t := time.NewTicker(s.opts.IdempotencySweep)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if n, err := s.ExpireIdempotency(ctx); err != nil && ctx.Err() == nil {
				s.opts.Logger.Warn("persist: sweeping expired idempotency records", "err", err)
			} else if n > 0 {
				s.opts.Logger.Debug("persist: expired idempotency records", "records", n)
			}
		}
	}
}
