package persist

import (
	"encoding/binary"
	"errors"
)

// idemRecord remembers an increment made under an idempotency key: what it was, so
// a reuse of the key for something else is refused, and what it returned, so a
// retry returns the same.
type idemRecord struct {
	item, counter string
	by            int64
	seq           uint64
	value         int64
	expires       int64 // unix seconds
}

// idemRecordVersion is the first byte of an encoded idemRecord.
const idemRecordVersion = 1

// matches reports whether op is the increment r recorded.
func (r idemRecord) matches(op Op) bool {
	return r.item == op.Item && r.counter == op.Counter && r.by == op.By
}

func (r idemRecord) encode() []byte {
	b := make([]byte, 0, 32+len(r.item)+len(r.counter))
	b = append(b, idemRecordVersion)
	b = binary.AppendUvarint(b, r.seq)
	b = binary.AppendVarint(b, r.value)
	b = binary.AppendVarint(b, r.by)
	b = binary.AppendVarint(b, r.expires)
	b = binary.AppendUvarint(b, uint64(len(r.item)))
	b = append(b, r.item...)
	return append(b, r.counter...)
}

var errIdemRecord = errors.New("bad idempotency record")

func decodeIdemRecord(b []byte) (idemRecord, error) {
	var r idemRecord
	if len(b) == 0 || b[0] != idemRecordVersion {
		return r, errIdemRecord
	}
	b = b[1:]
	var ok bool
	uv := func() uint64 {
		v, n := binary.Uvarint(b)
		ok = ok && n > 0
		if n > 0 {
			b = b[n:]
		}
		return v
	}
	sv := func() int64 {
		v, n := binary.Varint(b)
		ok = ok && n > 0
		if n > 0 {
			b = b[n:]
		}
		return v
	}
	ok = true
	r.seq = uv()
	r.value = sv()
	r.by = sv()
	r.expires = sv()
	n := uv()
	if !ok || uint64(len(b)) < n {
		return r, errIdemRecord
	}
	r.item, r.counter = string(b[:n]), string(b[n:])
	return r, nil
}
