package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/quic-go/quic-go"
)

// The hello exchange confirms a link before either side calls it up. With TLS
// 1.3 the client finishes its handshake before the server has checked the
// client's certificate, so a client the server refuses would otherwise see a
// working connection until its first use. The client opens the first stream,
// writes helloMsg and closes it; the server, whose handshake has verified the
// client, answers welcomeMsg and closes; both read to the end.
var (
	helloMsg   = []byte(ALPN + " hello")
	welcomeMsg = []byte(ALPN + " welcome")
)

// maxHelloFrame bounds the frames of the hello exchange.
const maxHelloFrame = 256

// clientHello runs the client's side of the hello exchange on a new
// connection, within ctx.
func clientHello(ctx context.Context, conn *quic.Conn) error {
	s, err := conn.OpenStreamSync(ctx)
	if err != nil {
		return err
	}
	defer s.CancelRead(0) // a no-op once read to the end
	return exchangeHello(ctx, s, helloMsg, welcomeMsg, true)
}

// serverHello runs the server's side of the hello exchange on an accepted
// connection, within ctx.
func serverHello(ctx context.Context, conn *quic.Conn) error {
	s, err := conn.AcceptStream(ctx)
	if err != nil {
		return err
	}
	defer s.CancelRead(0)
	return exchangeHello(ctx, s, welcomeMsg, helloMsg, false)
}

// exchangeHello writes say and reads want on s: first writing if client,
// first reading if not. Then it reads to the end of s.
func exchangeHello(ctx context.Context, s *quic.Stream, say, want []byte, client bool) error {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Time{}
	}
	s.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { s.SetDeadline(time.Now()) }) // cancellation, too
	defer stop()

	write := func() error {
		frame := append(appendFrameHeader(nil, len(say)), say...)
		if _, err := s.Write(frame); err != nil {
			return err
		}
		return s.Close()
	}
	fr := newFrameReader(s, maxHelloFrame)
	if client {
		if err := write(); err != nil {
			return err
		}
	}
	got, err := fr.next()
	switch {
	case errors.Is(err, ErrFrameTooLarge), errors.Is(err, ErrProtocol), err == io.EOF, err == io.ErrUnexpectedEOF:
		return fmt.Errorf("%w: bad hello: %w", ErrProtocol, err)
	case err != nil:
		return err
	case !bytes.Equal(got, want):
		return fmt.Errorf("%w: bad hello %q, want %q", ErrProtocol, got, want)
	}
	if !client {
		if err := write(); err != nil {
			return err
		}
	}
	if _, err := fr.next(); err != io.EOF {
		if err == nil {
			err = errors.New("more than one frame")
		}
		return fmt.Errorf("%w: bad hello: %w", ErrProtocol, err)
	}
	return nil
}
