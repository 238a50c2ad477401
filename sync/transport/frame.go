package transport

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
)

// Frames on a stream are a uvarint length, then that many payload bytes.

// initialFrameBuffer is the most a frame reader allocates before the payload
// arrives: a peer announcing a large frame must send it to make us allocate.
const initialFrameBuffer = 64 << 10

// appendFrameHeader appends the header of a frame of n payload bytes.
func appendFrameHeader(b []byte, n int) []byte {
	return binary.AppendUvarint(b, uint64(n))
}

// frameReader reads frames. A read that fails with a temporary error (a
// deadline) keeps the partial frame, and the next read resumes it.
type frameReader struct {
	r   *bufio.Reader
	max int

	// The frame being read.
	length uint64 // payload length, or its low bits while the header is read
	shift  uint   // bits of the length read so far
	inBody bool   // the header is complete
	body   []byte // payload read so far; cap at most length
}

func newFrameReader(r io.Reader, max int) *frameReader {
	return &frameReader{r: bufio.NewReader(r), max: max}
}

// next returns the next frame's payload (never nil). It returns io.EOF at a
// clean end between frames, io.ErrUnexpectedEOF within one,
// ErrFrameTooLarge for a length over max, ErrProtocol for a malformed
// length, and the reader's errors. It never allocates more than the
// announced length (at most max), and no more than initialFrameBuffer until
// payload bytes come.
func (f *frameReader) next() ([]byte, error) {
	for !f.inBody {
		b, err := f.r.ReadByte()
		if err != nil {
			if err == io.EOF && f.shift > 0 {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		if f.shift == 63 && b > 1 { // a tenth byte carrying more than bit 63
			return nil, fmt.Errorf("%w: frame length is not a valid uvarint", ErrProtocol)
		}
		f.length |= uint64(b&0x7f) << f.shift
		f.shift += 7
		if f.length > uint64(f.max) { // the bits seen already make it too large
			return nil, fmt.Errorf("%w: more than %d bytes", ErrFrameTooLarge, f.max)
		}
		if b < 0x80 {
			f.inBody = true
			f.body = make([]byte, 0, min(f.length, initialFrameBuffer))
		}
	}
	for uint64(len(f.body)) < f.length {
		if len(f.body) == cap(f.body) {
			grown := make([]byte, len(f.body), min(2*uint64(cap(f.body)), f.length))
			copy(grown, f.body)
			f.body = grown
		}
		n, err := f.r.Read(f.body[len(f.body):cap(f.body)])
		f.body = f.body[:len(f.body)+n]
		if err != nil && uint64(len(f.body)) < f.length {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
	p := f.body
	f.length, f.shift, f.inBody, f.body = 0, 0, false, nil
	return p, nil
}
