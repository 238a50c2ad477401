package crdt

import (
	"cmp"
	"errors"
	"maps"
	"math"
	"slices"
	"time"
)

// IdemKey names one keyed increment: the item it adds to and the client's
// idempotency key (scoped by whoever issued it, such as an API token). A keyed
// increment's record lives with its item, so everything of an item — counters,
// registers, tallies and keyed increments — shares the item's place in the store.
type IdemKey struct {
	Item string
	Key  string
}

// CompareIdemKeys orders idempotency keys by item, then key.
func CompareIdemKeys(a, b IdemKey) int {
	return cmp.Or(cmp.Compare(a.Item, b.Item), cmp.Compare(a.Key, b.Key))
}

// Application is one replica's application of a keyed increment: when it applied
// it, to which counter of the item, by how much, and whether it has since taken
// its application back because another replica's application won.
type Application struct {
	TS          Timestamp // the applying replica's clock reading when it applied
	Counter     string    // the counter's name
	By          int64     // the amount, non-zero
	Compensated bool      // the applier has raised its own entry to cancel By
}

// compare orders applications of one replica by (TS, Counter, By, Compensated),
// so that joining two copies of one replica's application keeps the larger: a
// copy marked compensated wins over the same application unmarked.
func (a Application) compare(o Application) int {
	return cmp.Or(a.TS.Compare(o.TS), cmp.Compare(a.Counter, o.Counter), cmp.Compare(a.By, o.By),
		compareBools(a.Compensated, o.Compensated))
}

func compareBools(a, b bool) int {
	switch {
	case a == b:
		return 0
	case b:
		return -1
	}
	return 1
}

// IdemRecord is the replicated record of one keyed increment: every replica that
// applied it, with its Application. Records join by union (for one replica, the
// larger Application by TS, then counter, amount, and compensated last). The
// application with the smallest (TS, replica) is the winner: it stands, and every
// other applier compensates its own application exactly once (Owes, Compensate),
// so the converged mesh counts the increment once whatever peers the retries
// reached. The zero IdemRecord is empty. An IdemRecord is a value holding a map:
// use Clone before handing one to code that may join into it.
type IdemRecord struct {
	apps map[ReplicaID]Application
}

// NewIdemRecord returns the record of replica r applying a.
func NewIdemRecord(r ReplicaID, a Application) IdemRecord {
	return IdemRecord{apps: map[ReplicaID]Application{r: a}}
}

// Len is the number of replicas that applied the increment.
func (rec IdemRecord) Len() int { return len(rec.apps) }

// Application returns replica r's application and whether r applied the increment.
func (rec IdemRecord) Application(r ReplicaID) (Application, bool) {
	a, ok := rec.apps[r]
	return a, ok
}

// Replicas returns the replicas that applied the increment, in ascending order.
func (rec IdemRecord) Replicas() []ReplicaID { return slices.Sorted(maps.Keys(rec.apps)) }

// Clone returns a record that shares nothing with rec.
func (rec IdemRecord) Clone() IdemRecord { return IdemRecord{apps: maps.Clone(rec.apps)} }

// Equal reports whether rec and o hold the same applications.
func (rec IdemRecord) Equal(o IdemRecord) bool { return maps.Equal(rec.apps, o.apps) }

// JoinApplication joins replica r's application a into rec and reports whether rec
// changed.
func (rec *IdemRecord) JoinApplication(r ReplicaID, a Application) bool {
	old, ok := rec.apps[r]
	if ok && a.compare(old) <= 0 {
		return false
	}
	if rec.apps == nil {
		rec.apps = make(map[ReplicaID]Application, 1)
	}
	rec.apps[r] = a
	return true
}

// Join joins o into rec and reports whether rec changed. Join is commutative,
// associative and idempotent.
func (rec *IdemRecord) Join(o IdemRecord) bool {
	changed := false
	for r, a := range o.apps {
		if rec.JoinApplication(r, a) {
			changed = true
		}
	}
	return changed
}

// Winner returns the application with the smallest (TS, replica), the one that
// stands in the converged mesh; ok is false for an empty record.
func (rec IdemRecord) Winner() (r ReplicaID, a Application, ok bool) {
	for id, app := range rec.apps {
		if !ok || app.TS.Before(a.TS) || (app.TS == a.TS && id < r) {
			r, a, ok = id, app, true
		}
	}
	return r, a, ok
}

// Owes reports whether replica r must compensate its application now: r applied
// the increment, is not the winner, and has not compensated yet. It returns r's
// application.
func (rec IdemRecord) Owes(r ReplicaID) (Application, bool) {
	a, ok := rec.apps[r]
	if !ok || a.Compensated {
		return a, false
	}
	w, _, _ := rec.Winner()
	return a, w != r
}

// Compensate marks replica r's application compensated. The caller raises r's
// own counter entry by Compensation(a.By) in the same durable step.
func (rec *IdemRecord) Compensate(r ReplicaID) {
	if a, ok := rec.apps[r]; ok && !a.Compensated {
		a.Compensated = true
		rec.apps[r] = a
	}
}

// ErrCompensation reports an amount whose compensation does not fit an int64.
var ErrCompensation = errors.New("crdt: amount cannot be compensated")

// Compensation returns the amount to add to the applier's own counter entry to
// cancel an application of by: −by (a negative amount's compensation raises P).
func Compensation(by int64) (int64, error) {
	if by == math.MinInt64 {
		return 0, ErrCompensation
	}
	return -by, nil
}

// ExpiresAt returns when the record expires, in wall milliseconds: its winner's
// wall time plus ttl. Every replica computes the same expiry from the same
// record, so they all drop it at about the same time. An empty record has
// expired.
func (rec IdemRecord) ExpiresAt(ttl time.Duration) int64 {
	_, w, ok := rec.Winner()
	if !ok {
		return math.MinInt64
	}
	return w.TS.Wall + ttl.Milliseconds()
}

// Expired reports whether the record has expired at wall time nowMillis. An
// expired record is as good as absent: a replica drops it, never takes it back
// from a slower peer (it would trigger a second compensation), and treats a
// retry of its key as a new increment.
func (rec IdemRecord) Expired(nowMillis int64, ttl time.Duration) bool {
	return rec.ExpiresAt(ttl) <= nowMillis
}

// Matches reports whether an increment of counter by by is the one the record's
// winner applied: a retry, not a reuse of the key for something else.
func (rec IdemRecord) Matches(counter string, by int64) bool {
	_, w, ok := rec.Winner()
	return ok && w.Counter == counter && w.By == by
}
