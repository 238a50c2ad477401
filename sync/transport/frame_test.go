package transport

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"os"
	"testing"
)

// frames encodes payloads as a stream of frames.
func frames(payloads ...[]byte) []byte {
	var b []byte
	for _, p := range payloads {
		b = appendFrameHeader(b, len(p))
		b = append(b, p...)
	}
	return b
}

func TestFrameReader(t *testing.T) {
	big := bytes.Repeat([]byte("x"), 3*initialFrameBuffer+17) // grows its buffer
	for _, c := range []struct {
		name    string
		in      []byte
		max     int
		want    [][]byte
		wantErr error
	}{
		{"empty stream", nil, 100, nil, io.EOF},
		{"frames", frames([]byte("a"), nil, []byte("hello")), 100, [][]byte{[]byte("a"), {}, []byte("hello")}, io.EOF},
		{"at the limit", frames(bytes.Repeat([]byte("y"), 100)), 100, [][]byte{bytes.Repeat([]byte("y"), 100)}, io.EOF},
		{"big", frames(big), len(big), [][]byte{big}, io.EOF},
		{"over the limit", frames(make([]byte, 101)), 100, nil, ErrFrameTooLarge},
		{"huge length, no payload", binary.AppendUvarint(nil, 1<<62), 1 << 24, nil, ErrFrameTooLarge},
		{"cut in the header", []byte{0x80}, 100, nil, io.ErrUnexpectedEOF},
		{"cut in the payload", frames([]byte("abc"))[:3], 100, nil, io.ErrUnexpectedEOF},
		{"overlong uvarint", bytes.Repeat([]byte{0x80}, 11), 100, nil, ErrProtocol},
		{"uvarint over 64 bits", append(bytes.Repeat([]byte{0xff}, 9), 0x02), math.MaxInt, nil, ErrProtocol},
		{"non-minimal uvarint", []byte{0x81, 0x00, 'z'}, 100, [][]byte{[]byte("z")}, io.EOF},
	} {
		t.Run(c.name, func(t *testing.T) {
			fr := newFrameReader(bytes.NewReader(c.in), c.max)
			for i, want := range c.want {
				got, err := fr.next()
				if err != nil || !bytes.Equal(got, want) || got == nil {
					t.Fatalf("frame %d: %d bytes, %v; want %d bytes", i, len(got), err, len(want))
				}
			}
			if _, err := fr.next(); !errors.Is(err, c.wantErr) {
				t.Errorf("after the frames: %v, want %v", err, c.wantErr)
			}
		})
	}
}

// stutterReader returns its data a few bytes at a time, with a deadline error
// between every two reads.
type stutterReader struct {
	data  []byte
	fail  bool
	chunk int
}

func (r *stutterReader) Read(p []byte) (int, error) {
	if r.fail = !r.fail; r.fail {
		return 0, os.ErrDeadlineExceeded
	}
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), r.chunk)], r.data)
	r.data = r.data[n:]
	return n, nil
}

func TestFrameReaderResumesAfterDeadline(t *testing.T) {
	want := [][]byte{bytes.Repeat([]byte("ab"), 300), {}, []byte("c")}
	header := binary.AppendUvarint(nil, 600) // two bytes: a deadline can cut it
	if len(header) != 2 {
		t.Fatal("test needs a two-byte header")
	}
	fr := newFrameReader(&stutterReader{data: frames(want...), chunk: 1}, 1000)
	var got [][]byte
	for {
		p, err := fr.next()
		if errors.Is(err, os.ErrDeadlineExceeded) {
			continue
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, p)
	}
	if len(got) != len(want) {
		t.Fatalf("got %d frames, want %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Errorf("frame %d: %q, want %q", i, got[i], want[i])
		}
	}
}

// FuzzReadFrame feeds arbitrary bytes to a frame reader: it must not panic,
// must return only frames within the limit, never allocate a buffer over the
// limit, and agree with a plain decoding of the same bytes.
func FuzzReadFrame(f *testing.F) {
	const max = 1 << 10
	f.Add(frames([]byte("hello"), nil, bytes.Repeat([]byte{0}, max)))
	f.Add(frames(bytes.Repeat([]byte{1}, max+1)))
	f.Add(binary.AppendUvarint(nil, 1<<63))
	f.Add(bytes.Repeat([]byte{0x80}, 12))
	f.Add([]byte{0x81, 0x00, 'z', 0x05, 'a'})
	f.Add(frames(helloMsg, welcomeMsg))
	f.Fuzz(func(t *testing.T, in []byte) {
		fr := newFrameReader(bytes.NewReader(in), max)
		rest := in // what a plain decoder has left
		for {
			p, err := fr.next()
			n, k := binary.Uvarint(rest)
			if err != nil {
				switch {
				case err == io.EOF:
					if len(rest) != 0 {
						t.Fatalf("io.EOF with %d bytes left", len(rest))
					}
				case errors.Is(err, ErrFrameTooLarge):
					if k > 0 && n <= max {
						t.Fatalf("ErrFrameTooLarge for a length of %d", n)
					}
				case errors.Is(err, ErrProtocol):
					if k > 0 {
						t.Fatalf("ErrProtocol for a valid uvarint %d", n)
					}
				case err == io.ErrUnexpectedEOF:
					if k > 0 && uint64(len(rest)-k) >= n {
						t.Fatalf("io.ErrUnexpectedEOF with the whole frame there")
					}
				default:
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if cap(p) > max || len(p) > max {
				t.Fatalf("frame of %d bytes (capacity %d) over the limit %d", len(p), cap(p), max)
			}
			if k <= 0 || n != uint64(len(p)) || !bytes.Equal(p, rest[k:k+len(p)]) {
				t.Fatalf("frame %q does not match a plain decoding (length %d, %d header bytes)", p, n, k)
			}
			rest = rest[k+len(p):]
		}
	})
}
