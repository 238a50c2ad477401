package faultnet

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/countermesh/countermesh/tests/testkit"
)

// streamPairOf dials from host a to a listener on b and returns both ends.
func streamPairOf(t *testing.T, n *Network) (client, server net.Conn) {
	t.Helper()
	ln, err := n.Listen("b:7946")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	client, err = n.Dial(context.Background(), "a", "b:7946")
	if err != nil {
		t.Fatal(err)
	}
	server, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

func TestStreamRoundTrip(t *testing.T) {
	testkit.NoLeaks(t)
	n := newNet(t, 1)
	client, server := streamPairOf(t, n)
	if client.RemoteAddr() != server.LocalAddr() || server.RemoteAddr() != client.LocalAddr() {
		t.Errorf("addresses: client %v→%v, server %v→%v", client.LocalAddr(), client.RemoteAddr(), server.LocalAddr(), server.RemoteAddr())
	}
	// More than PipeBytes each way at once: writers block and resume.
	want := bytes.Repeat([]byte("0123456789abcdef"), PipeBytes/8)
	var wg sync.WaitGroup
	for _, c := range []net.Conn{client, server} {
		wg.Go(func() {
			if _, err := c.Write(want); err != nil {
				t.Errorf("write: %v", err)
			}
		})
		wg.Go(func() {
			got := make([]byte, len(want))
			if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, want) {
				t.Errorf("read: %v (equal %v)", err, bytes.Equal(got, want))
			}
		})
	}
	wg.Wait()
	client.Close()
	if _, err := io.ReadAll(server); err != nil {
		t.Errorf("after the client closed, server reads %v, want io.EOF", err)
	}
	if _, err := server.Write([]byte("x")); err == nil {
		t.Error("write to a closed peer succeeded")
	}
	if _, err := client.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
		t.Errorf("read on a closed end: %v", err)
	}
	if st := n.Stats(); st.StreamsOpened != 1 || st.StreamBytes < 2*uint64(len(want)) {
		t.Errorf("stats %+v", st)
	}
}

func TestStreamDialFailures(t *testing.T) {
	n := newNet(t, 1)
	ctx := context.Background()
	if _, err := n.Dial(ctx, "a", "b:1"); !errors.Is(err, ErrRefused) {
		t.Errorf("dial with no listener: %v, want ErrRefused", err)
	}
	ln, _ := n.Listen("b:1")
	defer ln.Close()
	for _, f := range []struct{ from, to string }{{"a", "b"}, {"b", "a"}} {
		n.SetFaults(f.from, f.to, Faults{Down: true})
		if _, err := n.Dial(ctx, "a", "b:1"); !errors.Is(err, ErrLinkDown) {
			t.Errorf("dial with %s→%s down: %v, want ErrLinkDown", f.from, f.to, err)
		}
		n.Heal()
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := n.Dial(cctx, "a", "b:1"); !errors.Is(err, context.Canceled) {
		t.Errorf("dial with a canceled context: %v", err)
	}
	if _, err := n.Listen("b:1"); !errors.Is(err, ErrAddrInUse) {
		t.Errorf("second Listen(b:1): %v", err)
	}
	// Stream and packet ports are apart.
	c := listenPacket(t, n, "b:1")
	c.Close()
}

func TestStreamBreaksOnPartition(t *testing.T) {
	for name, cut := range map[string]func(n *Network){
		"partition": func(n *Network) { n.Partition([]string{"b"}, []string{"a", "c"}) },
		"isolate":   func(n *Network) { n.Isolate("a") },
		"one way":   func(n *Network) { n.SetFaults("b", "a", Faults{Down: true}) },
	} {
		t.Run(name, func(t *testing.T) {
			testkit.NoLeaks(t)
			n := newNet(t, 1)
			client, server := streamPairOf(t, n)
			blocked := make(chan error)
			go func() {
				_, err := server.Read(make([]byte, 1))
				blocked <- err
			}()
			cut(n)
			if err := <-blocked; !errors.Is(err, ErrLinkDown) {
				t.Errorf("blocked read: %v, want ErrLinkDown", err)
			}
			for _, c := range []net.Conn{client, server} {
				if _, err := c.Write([]byte("x")); !errors.Is(err, ErrLinkDown) {
					t.Errorf("write on a broken stream: %v", err)
				}
				if _, err := c.Read(make([]byte, 1)); !errors.Is(err, ErrLinkDown) {
					t.Errorf("read on a broken stream: %v", err)
				}
			}
			if st := n.Stats(); st.StreamsBroken != 1 {
				t.Errorf("StreamsBroken = %d", st.StreamsBroken)
			}
			n.Heal() // broken stays broken; a new dial works
			if _, err := client.Write([]byte("x")); !errors.Is(err, ErrLinkDown) {
				t.Errorf("write after Heal: %v", err)
			}
			c, err := n.Dial(context.Background(), "a", "b:7946")
			if err != nil {
				t.Fatalf("dial after Heal: %v", err)
			}
			c.Close()
		})
	}
}

func TestStreamPartitionSparesOthers(t *testing.T) {
	n := newNet(t, 1)
	client, _ := streamPairOf(t, n)
	n.Partition([]string{"c"}, []string{"d"})
	n.SetFaults("a", "c", Faults{Down: true})
	if _, err := client.Write([]byte("x")); err != nil {
		t.Errorf("a partition of other hosts broke a→b: %v", err)
	}
}

func TestStreamDelayKeepsOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := New(5)
		defer n.Close()
		ln, _ := n.Listen("b:1")
		defer ln.Close()
		n.SetFaults("a", "b", Faults{Delay: 40 * time.Millisecond, Jitter: 30 * time.Millisecond})
		client, err := n.Dial(context.Background(), "a", "b:1")
		if err != nil {
			t.Fatal(err)
		}
		defer client.Close()
		server, _ := ln.Accept()
		defer server.Close()
		start := time.Now()
		var want []byte
		for i := range 50 {
			client.Write([]byte{byte(i)})
			want = append(want, byte(i))
		}
		got := make([]byte, len(want))
		if _, err := io.ReadFull(server, got); err != nil || !bytes.Equal(got, want) {
			t.Errorf("read %v, %v; want %v in order", got, err, want)
		}
		if d := time.Since(start); d < 40*time.Millisecond || d >= 70*time.Millisecond {
			t.Errorf("stream took %v, want [40ms, 70ms)", d)
		}
		// Nothing is readable before its delay.
		n.SetFaults("a", "b", Faults{Delay: 100 * time.Millisecond})
		start = time.Now()
		client.Write([]byte("z"))
		server.Read(got[:1])
		if d := time.Since(start); d != 100*time.Millisecond {
			t.Errorf("write took %v to arrive, want 100ms", d)
		}
	})
}

func TestStreamDeadlines(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := New(1)
		defer n.Close()
		ln, _ := n.Listen("b:1")
		defer ln.Close()
		client, _ := n.Dial(context.Background(), "a", "b:1")
		defer client.Close()
		server, _ := ln.Accept()
		defer server.Close()

		start := time.Now()
		server.SetReadDeadline(start.Add(time.Second))
		_, err := server.Read(make([]byte, 1))
		var ne net.Error
		if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &ne) || !ne.Timeout() {
			t.Errorf("read past deadline: %v", err)
		}
		if d := time.Since(start); d != time.Second {
			t.Errorf("read returned after %v, want 1s", d)
		}
		// A writer blocked on a full pipe gives up at its deadline.
		client.SetWriteDeadline(time.Now().Add(time.Second))
		k, err := client.Write(make([]byte, 2*PipeBytes))
		if !errors.Is(err, os.ErrDeadlineExceeded) || k != PipeBytes {
			t.Errorf("write into a full pipe: %d, %v; want %d, timeout", k, err, PipeBytes)
		}
		// Clearing the deadline lets reads proceed.
		server.SetDeadline(time.Time{})
		if _, err := server.Read(make([]byte, 10)); err != nil {
			t.Errorf("read after clearing the deadline: %v", err)
		}
	})
}

func TestListenerClose(t *testing.T) {
	testkit.NoLeaks(t)
	n := newNet(t, 1)
	ln, _ := n.Listen("b:1")
	pending, err := n.Dial(context.Background(), "a", "b:1")
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error)
	go func() {
		_, err := ln.Accept()
		errc <- err
	}()
	// The goroutine may take the pending stream; then Accept again to block.
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	go func() {
		_, err := ln.Accept()
		errc <- err
	}()
	ln.Close()
	if err := <-errc; !errors.Is(err, net.ErrClosed) {
		t.Errorf("Accept after Close: %v", err)
	}
	if _, err := n.Dial(context.Background(), "a", "b:1"); !errors.Is(err, ErrRefused) {
		t.Errorf("dial to a closed listener: %v", err)
	}
	pending.Close()
	// Network.Close breaks open streams.
	client, server := streamPairOf(t, n)
	n.Close()
	for _, c := range []net.Conn{client, server} {
		if _, err := c.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
			t.Errorf("read after Network.Close: %v", err)
		}
	}
}
