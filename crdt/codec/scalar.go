package codec

// EncodeUint returns the canonical encoding of v: [Version, v]. It is meant for
// small versioned scalars such as sequence numbers and acknowledgement marks.
func EncodeUint(v uint64) []byte {
	e := getEncoder()
	e.header()
	e.uint(v)
	return e.finish()
}

// DecodeUint decodes what EncodeUint wrote.
func DecodeUint(b []byte) (uint64, error) {
	return decodeTop(b, "uint", (*decoder).uint)
}
