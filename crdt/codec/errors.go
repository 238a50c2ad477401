package codec

import (
	"errors"
	"fmt"
)

// ErrVersion is matched (errors.Is) by the error a decoder returns for an encoding
// of a format version other than Version: written by another build, it may be
// valid, and is neither read nor to be discarded as garbage.
var ErrVersion = errors.New("codec: unknown format version")

// ErrMalformed is matched (errors.Is) by the error a decoder returns for every
// failure other than ErrVersion: truncated or corrupt input, a non-canonical form,
// or a value no replica produces. The message names the offending field, such as
// "codec: malformed encoding: delta: item \"video:1\": register \"u1\": kind: ...".
var ErrMalformed = errors.New("codec: malformed encoding")

// errTruncated reports input that ends inside a value.
var errTruncated = errors.New("unexpected end of input")

// versionError is the error for an encoding of what at version v.
func versionError(what string, v uint64) error {
	return fmt.Errorf("%w: %s: version %d, this build reads version %d", ErrVersion, what, v, Version)
}

// malformed wraps err, the description of what is wrong with an encoding of what,
// so that it matches ErrMalformed.
func malformed(what string, err error) error {
	return fmt.Errorf("%w: %s: %w", ErrMalformed, what, err)
}
