package codec

import (
	"fmt"
	"slices"
)

// EncodeNames returns the canonical encoding of a set of names (counter names,
// reaction kinds): [Version, [name]], in ascending order without repeats.
func EncodeNames(names []string) []byte {
	sorted := slices.Compact(slices.Sorted(slices.Values(names)))
	e := getEncoder()
	e.header()
	e.ArrayLen(len(sorted))
	for _, n := range sorted {
		e.String(n)
	}
	return e.finish()
}

// DecodeNames decodes what EncodeNames wrote.
func DecodeNames(b []byte) ([]string, error) {
	return Decode(b, "names", (*Decoder).namesBody)
}

// namesBody reads [name], refusing names out of order or repeated.
func (d *Decoder) namesBody() ([]string, error) {
	n, err := d.ArrayLen(1)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, n)
	var prev string
	for i := range n {
		b, err := d.stringBytes()
		if err != nil {
			return nil, fmt.Errorf("name %d: %w", i, err)
		}
		if err := checkOrder(i, b, prev); err != nil {
			return nil, fmt.Errorf("name %q: %w", b, err)
		}
		prev = string(b)
		names = append(names, prev)
	}
	return names, nil
}
