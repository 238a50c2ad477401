package codec

// EncodeUint returns the canonical encoding of v: [Version, v]. It is meant for
// small versioned scalars such as sequence numbers and acknowledgement marks.
func EncodeUint(v uint64) []byte {
	e := getEncoder()
	e.header()
	e.Uint(v)
	return e.finish()
}

// DecodeUint decodes what EncodeUint wrote.
func DecodeUint(b []byte) (uint64, error) {
	return Decode(b, "uint", (*Decoder).Uint)
}
