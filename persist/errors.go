package persist

import (
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"
)

var (
	// ErrClosed is returned by calls on a closed Store.
	ErrClosed = errors.New("persist: store closed")
	// ErrCommitFailed is matched (errors.Is) by the error of every write whose batch
	// could not be made durable. The write had no effect.
	ErrCommitFailed = errors.New("persist: commit failed")
	// ErrInvalidOp is matched by the error of a Write with a malformed op. Nothing
	// of that Write was applied.
	ErrInvalidOp = errors.New("persist: invalid op")
	// ErrTooLarge is returned for a single call with more keys than fit in one batch.
	ErrTooLarge = errors.New("persist: request larger than one batch")
	// ErrIdempotencyConflict is matched by the error of an increment whose
	// idempotency key was used before for a different increment.
	ErrIdempotencyConflict = errors.New("persist: idempotency key reused for a different operation")
	// ErrCorrupt is matched when a stored record cannot be decoded.
	ErrCorrupt = errors.New("persist: corrupt record")
	// ErrNewerFormat is returned by Open for a data directory written by a newer
	// version of the store.
	ErrNewerFormat = errors.New("persist: data directory has a newer format")
)

// CommitError is the error of a write whose batch failed to commit. It matches
// ErrCommitFailed and unwraps to the cause (for example syscall.ENOSPC).
type CommitError struct {
	Err error // the cause
}

// Error describes the failure.
func (e *CommitError) Error() string { return fmt.Sprintf("persist: commit failed: %v", e.Err) }

// Unwrap returns the cause.
func (e *CommitError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrCommitFailed) true.
func (e *CommitError) Is(target error) bool { return target == ErrCommitFailed }

// translate maps Badger's errors to this package's, so no caller depends on Badger.
func translate(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, badger.ErrDBClosed):
		return ErrClosed
	case errors.Is(err, badger.ErrTxnTooBig):
		return ErrTooLarge
	}
	return err
}

// corrupt wraps a decoding failure of the record at key.
func corrupt(key []byte, err error) error {
	return fmt.Errorf("%w: key %q: %w", ErrCorrupt, key, err)
}
