package httpapi

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"math"
	"slices"

	"github.com/countermesh/countermesh/crdt"
)

// A causal token tells any peer what its holder has seen: for some replicas the
// sequence of that replica's changes seen, and the newest hybrid-clock timestamp
// seen. Only the peers of a mesh mint tokens: each carries a MAC under a secret
// of the mesh (a TokenKey), so a client can neither forge one nor alter one it
// was given. Encoded (all integers unsigned varints unless said otherwise):
//
//	version      1 byte, tokenVersion
//	key id       1 byte length (1 to maxKeyIDLen), then the id of the signing key
//	wall         HLC wall milliseconds
//	logical      HLC logical counter
//	n            number of replicas, at most maxTokenReplicas
//	n times:     replica id (8 bytes, big-endian, non-zero, strictly ascending), seq
//	mac          tokenMACLen bytes: HMAC-SHA256 under the key's secret of
//	             tokenMACContext and every byte above, truncated
//
// and the bytes are sent as unpadded base64url. Version 1 had no key id and no
// MAC; it is refused.
const (
	tokenVersion     = 2
	maxTokenReplicas = 64
	// maxTokenLen bounds the text of a token: a full one is well under it.
	maxTokenLen = 2048
	// maxKeyIDLen bounds a key id, in bytes.
	maxKeyIDLen = 63
	// tokenMACLen is the length of a token's MAC: HMAC-SHA256 truncated to
	// 128 bits.
	tokenMACLen = 16
	// MinTokenSecretLen is the shortest secret a TokenKey may have, in bytes.
	MinTokenSecretLen = 16
)

// tokenMACContext starts the input of every token MAC, so that a MAC of a token
// is never a MAC of anything else made with the same secret.
const tokenMACContext = "countermesh causal token\x00"

// causalToken is a decoded causal token. The zero value has seen nothing.
type causalToken struct {
	ts   crdt.Timestamp
	seqs map[crdt.ReplicaID]uint64
}

// see records that the holder saw replica's changes up to seq.
func (t *causalToken) see(replica crdt.ReplicaID, seq uint64) {
	if seq == 0 {
		return
	}
	if t.seqs == nil {
		t.seqs = map[crdt.ReplicaID]uint64{}
	}
	t.seqs[replica] = max(t.seqs[replica], seq)
}

// observe records that the holder saw timestamp ts.
func (t *causalToken) observe(ts crdt.Timestamp) {
	if t.ts.Before(ts) {
		t.ts = ts
	}
}

// merge adds what o saw to t.
func (t *causalToken) merge(o causalToken) {
	t.observe(o.ts)
	for r, seq := range o.seqs {
		t.see(r, seq)
	}
}

// appendBody appends the body of t's encoding — timestamp and replicas — to b.
// A token that accumulated more replicas than a token may carry keeps the
// first maxTokenReplicas in replica order, so it stays decodable (and loses the
// guarantee for the others); a client session meets far fewer replicas than
// that.
func (t causalToken) appendBody(b []byte) []byte {
	replicas := make([]crdt.ReplicaID, 0, len(t.seqs))
	for r := range t.seqs {
		replicas = append(replicas, r)
	}
	slices.SortFunc(replicas, cmp.Compare)
	replicas = replicas[:min(len(replicas), maxTokenReplicas)]
	b = binary.AppendUvarint(b, uint64(t.ts.Wall))
	b = binary.AppendUvarint(b, uint64(t.ts.Logical))
	b = binary.AppendUvarint(b, uint64(len(replicas)))
	for _, r := range replicas {
		b = binary.BigEndian.AppendUint64(b, uint64(r))
		b = binary.AppendUvarint(b, t.seqs[r])
	}
	return b
}

// parseBody decodes the body of a token's encoding, or says precisely what is
// wrong with it.
func parseBody(b []byte) (causalToken, error) {
	var t causalToken
	d := tokenDecoder{b: b}
	wall, logical, n := d.uvarint("wall time"), d.uvarint("logical time"), d.uvarint("replica count")
	switch {
	case d.err != nil:
		return t, d.err
	case wall > math.MaxInt64 || logical > math.MaxUint32:
		return t, fmt.Errorf("timestamp %d.%d out of range", wall, logical)
	case n > maxTokenReplicas:
		return t, fmt.Errorf("%d replicas, more than the %d a token carries", n, maxTokenReplicas)
	}
	t.ts = crdt.Timestamp{Wall: int64(wall), Logical: uint32(logical)}
	var prev crdt.ReplicaID
	for i := range n {
		r, seq := crdt.ReplicaID(d.uint64()), d.uvarint("sequence")
		switch {
		case d.err != nil:
			return t, d.err
		case r == 0:
			return t, fmt.Errorf("replica %d is zero", i)
		case r <= prev:
			return t, fmt.Errorf("replica %d (%s) is not after replica %d (%s)", i, r, i-1, prev)
		case seq == 0:
			return t, fmt.Errorf("replica %d (%s) has sequence zero", i, r)
		}
		prev = r
		t.see(r, seq)
	}
	if len(d.b) > 0 {
		return t, fmt.Errorf("%d unexpected bytes after the last replica", len(d.b))
	}
	return t, nil
}

// tokenDecoder reads a token's bytes, remembering the first error.
type tokenDecoder struct {
	b   []byte
	err error
}

func (d *tokenDecoder) uvarint(what string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = fmt.Errorf("truncated or malformed %s", what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *tokenDecoder) uint64() uint64 {
	if d.err != nil {
		return 0
	}
	if len(d.b) < 8 {
		d.err = fmt.Errorf("truncated replica id")
		return 0
	}
	v := binary.BigEndian.Uint64(d.b)
	d.b = d.b[8:]
	return v
}
