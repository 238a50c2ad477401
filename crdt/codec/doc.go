// Package codec is the canonical binary encoding of countermesh's replicated
// states, used for both the values persist stores on disk and the payloads sync
// sends between peers. It is the only package of the project that imports msgpack.
//
// # Format
//
// Every encoding is one msgpack value: an array of two elements whose first is the
// format version (Version), so that a reader refuses, with ErrVersion, what a later
// build wrote, before looking at the rest:
//
//	Counter   = [ Version, CounterBody ]
//	Register  = [ Version, RegisterBody ]
//	Timestamp = [ Version, [ wall, logical ] ]
//	Uint      = [ Version, uint ]
//	Delta     = [ Version, { item: [ { name: CounterBody }, { user: RegisterBody } (, { key: IdemBody }) ] } ]
//	KeySet    = [ Version, { item: [ [ name ], [ user ] (, [ key ]) ] } ]
//	IdemRecord = [ Version, IdemBody ]
//
//	CounterBody  = { replica: [ p, n ] }
//	RegisterBody = [ kind, wall, logical, replica ]
//	IdemBody     = { replica: [ wall, logical, counter, sign, magnitude, compensated ] }
//
// An item of a Delta or KeySet has the third element only when it holds keyed
// increments (the records of increments sent with an idempotency key), so that
// everything written before keyed increments replicated still decodes, and a
// delta without them is byte for byte what it was. In an IdemBody the amount is
// sign (0 for +, 1 for −) and magnitude, and compensated is 0 or 1.
//
// where [ ... ] is a msgpack array, { k: v } a msgpack map, item, name, user and
// kind are msgpack strings (item id, counter name, user id, reaction kind) and
// every number is a msgpack unsigned integer. A Delta or KeySet is grouped by item:
// an item id appears once, holding that item's counters and registers (or counter
// names and user ids).
//
// # Canonical form
//
// An encoding is canonical, so that equal values have equal bytes and encodings can
// be hashed (anti-entropy digests): map keys are in strictly ascending order (bytes
// for strings, numbers for replicas), and every integer, string, array and map
// header takes its shortest msgpack form. Decoders accept only canonical
// encodings: whatever a decoder accepts re-encodes to the very same bytes.
//
// # What decoders refuse
//
// Decoders never panic and never allocate beyond what the input could hold. They
// return an error matching ErrVersion for a version other than Version, and one
// matching ErrMalformed, naming the offending field, for anything else: trailing
// bytes, truncated input, wrong msgpack types, non-canonical forms, duplicate or
// unsorted keys (two entries for one item, counter name, user or replica), strings
// longer than MaxStringLen, an item with no key, and values no replica produces:
//
//   - a counter entry of replica 0, or with p = n = 0;
//   - a keyed increment with no application, an application of zero, of an
//     amount beyond int64, with no counter name, or with a zero wall; a present
//     but empty third element of an item;
//   - a timestamp whose wall is above 2^63-1 or whose logical is above 2^32-1;
//   - a register with a zero timestamp but a kind or a replica, or with a non-zero
//     timestamp but replica 0 or wall 0.
//
// Encoders take any value and never fail; they write such invalid values too, and
// the decoders refuse them. Callers keep ids and kinds within MaxStringLen and
// never use replica 0 (crdt.ReplicaID: the zero value is not a replica).
//
// Encoding is byte-stable across runs and builds of the same Version; a change to
// the format must bump Version. Encoders and decoders are safe for concurrent use:
// they draw their buffers from pools.
package codec
