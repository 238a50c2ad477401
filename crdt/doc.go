// Package crdt holds countermesh's replicated data types and the rules that make
// every region converge without coordination:
//
//   - PNCounter: per-replica grow-only (P, N) totals joined by pointwise max.
//   - Register: a last-writer-wins register of one user's reaction, ordered by
//     (hybrid logical timestamp, replica id).
//   - Tallies: users per reaction kind, derived from registers — never replicated
//     as counters, so a user cannot be counted twice.
//   - Delta: a set of counter and register states; every mutation yields one,
//     deltas join into deltas, and applying one is idempotent.
//   - Clock: a hybrid logical clock with an injectable wall clock and a guard
//     against remote timestamps too far in the future.
//
// The package is pure: no goroutines, no I/O, standard library only. Storage and
// transport live in other packages and call in here for every decision.
package crdt
