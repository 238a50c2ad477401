package faultnet

import (
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/countermesh/countermesh/tests/testkit"
)

// newNet returns a network closed when the test ends.
func newNet(t *testing.T, seed uint64) *Network {
	t.Helper()
	n := New(seed)
	t.Cleanup(func() { n.Close() })
	return n
}

func listenPacket(t *testing.T, n *Network, addr string) net.PacketConn {
	t.Helper()
	c, err := n.ListenPacket(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// readAll reads packets until none comes for quiet, returning their payloads.
func readAll(t *testing.T, c net.PacketConn, quiet time.Duration) [][]byte {
	t.Helper()
	var got [][]byte
	buf := make([]byte, MaxPacketSize)
	for {
		c.SetReadDeadline(time.Now().Add(quiet))
		n, _, err := c.ReadFrom(buf)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return got
		}
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		got = append(got, slices.Clone(buf[:n]))
	}
}

// sendN sends packets "0", "1", ... from a to b.
func sendN(t *testing.T, from net.PacketConn, to net.Addr, count int) {
	t.Helper()
	for i := range count {
		if _, err := from.WriteTo(fmt.Appendf(nil, "%d", i), to); err != nil {
			t.Fatal(err)
		}
	}
}

func TestPacketRoundTrip(t *testing.T) {
	testkit.NoLeaks(t)
	n := newNet(t, 1)
	a := listenPacket(t, n, "a:1")
	b := listenPacket(t, n, "b:2")
	if _, err := a.WriteTo([]byte("ping"), b.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 100)
	k, from, err := b.ReadFrom(buf)
	if err != nil || string(buf[:k]) != "ping" || from != a.LocalAddr() {
		t.Fatalf("ReadFrom = %q, %v, %v; want ping from %v", buf[:k], from, err, a.LocalAddr())
	}
	if got := from.Network(); got != "faultnet" {
		t.Errorf("Network() = %q", got)
	}
	// Truncation, as with UDP.
	a.WriteTo([]byte("0123456789"), b.LocalAddr())
	if k, _, _ := b.ReadFrom(buf[:4]); k != 4 {
		t.Errorf("truncated read = %d bytes, want 4", k)
	}
	if _, err := n.ListenPacket("a:1"); !errors.Is(err, ErrAddrInUse) {
		t.Errorf("second ListenPacket(a:1) = %v, want ErrAddrInUse", err)
	}
	c, err := n.ListenPacket("a:0")
	if err != nil || c.LocalAddr().(Addr).Port == 0 {
		t.Fatalf("ListenPacket(a:0) = %v, %v", c, err)
	}
	c.Close()
	if _, err := a.WriteTo(make([]byte, MaxPacketSize+1), b.LocalAddr()); err == nil {
		t.Error("oversized packet accepted")
	}
}

// TestOnlyPacketConnMethods checks that a socket hides everything that would
// make quic-go read or write around it.
func TestOnlyPacketConnMethods(t *testing.T) {
	n := newNet(t, 1)
	c := listenPacket(t, n, "a:1")
	for name, ok := range map[string]bool{
		"SyscallConn":    implements[interface{ SyscallConn() }](c),
		"SetReadBuffer":  implements[interface{ SetReadBuffer(int) error }](c),
		"SetWriteBuffer": implements[interface{ SetWriteBuffer(int) error }](c),
		"ReadMsgUDP":     implements[interface{ ReadMsgUDP() }](c),
		"ReadBatch":      implements[interface{ ReadBatch() }](c),
		"File":           implements[interface{ File() }](c),
	} {
		if ok {
			t.Errorf("socket has method %s", name)
		}
	}
}

func implements[I any](v any) bool { _, ok := v.(I); return ok }

func TestLossRateAndDeterminism(t *testing.T) {
	testkit.NoLeaks(t)
	const count, loss = 5000, 0.3
	run := func(seed uint64) ([][]byte, Stats) {
		n := newNet(t, seed)
		a := listenPacket(t, n, "a:1")
		b := listenPacket(t, n, "b:1")
		n.SetFaults("a", "b", Faults{Loss: loss})
		sendN(t, a, b.LocalAddr(), count)
		got := readAll(t, b, 50*time.Millisecond)
		n.Close()
		return got, n.Stats()
	}
	got, st := run(42)
	rate := 1 - float64(len(got))/count
	if rate < loss-0.03 || rate > loss+0.03 {
		t.Errorf("loss rate %.3f, want %.2f ± 0.03", rate, loss)
	}
	if st.PacketsSent != count || st.PacketsDelivered != uint64(len(got)) || st.PacketsDropped != count-uint64(len(got)) {
		t.Errorf("stats %+v do not match %d sent, %d received", st, count, len(got))
	}
	again, _ := run(42)
	if !slices.EqualFunc(got, again, slices.Equal) {
		t.Error("same seed, different packets lost")
	}
	other, _ := run(43)
	if slices.EqualFunc(got, other, slices.Equal) {
		t.Error("different seeds, same packets lost")
	}
}

func TestDuplicate(t *testing.T) {
	n := newNet(t, 7)
	a := listenPacket(t, n, "a:1")
	b := listenPacket(t, n, "b:1")
	n.SetFaults("a", "b", Faults{Duplicate: 1})
	sendN(t, a, b.LocalAddr(), 10)
	if got := readAll(t, b, 50*time.Millisecond); len(got) != 20 {
		t.Errorf("got %d packets, want 20", len(got))
	}
	if st := n.Stats(); st.PacketsDuplicated != 10 {
		t.Errorf("PacketsDuplicated = %d, want 10", st.PacketsDuplicated)
	}
}

func TestDelayAndJitter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := New(3)
		defer n.Close()
		a, _ := n.ListenPacket("a:1")
		b, _ := n.ListenPacket("b:1")
		n.SetFaults("a", "b", Faults{Delay: 50 * time.Millisecond})
		start := time.Now()
		a.WriteTo([]byte("x"), b.LocalAddr())
		buf := make([]byte, 10)
		if _, _, err := b.ReadFrom(buf); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d != 50*time.Millisecond {
			t.Errorf("packet took %v, want 50ms", d)
		}
		// The other direction has no delay.
		start = time.Now()
		b.WriteTo([]byte("y"), a.LocalAddr())
		a.ReadFrom(buf)
		if d := time.Since(start); d != 0 {
			t.Errorf("reverse packet took %v, want 0", d)
		}

		// With jitter every packet takes [Delay, Delay+Jitter) and some overtake others.
		n.SetFaults("a", "b", Faults{Delay: 10 * time.Millisecond, Jitter: 20 * time.Millisecond})
		start = time.Now()
		const count = 200
		sendN(t, a, b.LocalAddr(), count)
		var order []int
		for range count {
			k, _, err := b.ReadFrom(buf)
			if err != nil {
				t.Fatal(err)
			}
			if d := time.Since(start); d < 10*time.Millisecond || d >= 30*time.Millisecond {
				t.Errorf("packet %s took %v, want [10ms, 30ms)", buf[:k], d)
			}
			i, _ := strconv.Atoi(string(buf[:k]))
			order = append(order, i)
		}
		if slices.IsSorted(order) {
			t.Error("jitter reordered nothing")
		}
		a.Close()
		b.Close()
	})
}

func TestDownIsOneWay(t *testing.T) {
	n := newNet(t, 1)
	a := listenPacket(t, n, "a:1")
	b := listenPacket(t, n, "b:1")
	n.SetFaults("a", "b", Faults{Down: true})
	sendN(t, a, b.LocalAddr(), 5)
	sendN(t, b, a.LocalAddr(), 5)
	if got := readAll(t, b, 20*time.Millisecond); len(got) != 0 {
		t.Errorf("a→b down, b got %d packets", len(got))
	}
	if got := readAll(t, a, 20*time.Millisecond); len(got) != 5 {
		t.Errorf("b→a up, a got %d packets, want 5", len(got))
	}
	n.SetFaults("a", "b", Faults{})
	sendN(t, a, b.LocalAddr(), 5)
	if got := readAll(t, b, 20*time.Millisecond); len(got) != 5 {
		t.Errorf("a→b restored, b got %d packets, want 5", len(got))
	}
}

func TestPartitionIsolateHeal(t *testing.T) {
	n := newNet(t, 1)
	conns := map[string]net.PacketConn{}
	for _, h := range []string{"a", "b", "c", "d"} {
		conns[h] = listenPacket(t, n, h+":1")
	}
	// reachable returns which hosts hear from which, as "ab" for a→b.
	reachable := func() []string {
		var out []string
		for _, from := range []string{"a", "b", "c", "d"} {
			for _, to := range []string{"a", "b", "c", "d"} {
				if from != to {
					conns[from].WriteTo([]byte(from), conns[to].LocalAddr())
				}
			}
		}
		for _, to := range []string{"a", "b", "c", "d"} {
			for _, p := range readAll(t, conns[to], 20*time.Millisecond) {
				out = append(out, string(p)+to)
			}
		}
		slices.Sort(out)
		return out
	}
	n.Partition([]string{"a", "b"}, []string{"c", "d"})
	if got, want := reachable(), []string{"ab", "ba", "cd", "dc"}; !slices.Equal(got, want) {
		t.Errorf("partition {a,b}|{c,d}: %v, want %v", got, want)
	}
	n.Heal()
	n.Isolate("c")
	if got, want := reachable(), []string{"ab", "ad", "ba", "bd", "da", "db"}; !slices.Equal(got, want) {
		t.Errorf("c isolated: %v, want %v", got, want)
	}
	n.Partition([]string{"a"}, []string{"b"})
	n.Rejoin("c")
	if got, want := reachable(), []string{"ac", "ad", "bc", "bd", "ca", "cb", "cd", "da", "db", "dc"}; !slices.Equal(got, want) {
		t.Errorf("c rejoined, a|b kept: %v, want %v", got, want)
	}
	n.Heal()
	if got := reachable(); len(got) != 12 {
		t.Errorf("healed: %v, want all 12 directions", got)
	}
}

func TestDelayedPacketsDroppedWhenLinkGoesDown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := New(1)
		defer n.Close()
		a, _ := n.ListenPacket("a:1")
		b, _ := n.ListenPacket("b:1")
		n.SetFaults("a", "b", Faults{Delay: 100 * time.Millisecond})
		a.WriteTo([]byte("x"), b.LocalAddr())
		time.Sleep(50 * time.Millisecond)
		n.Partition([]string{"a"}, []string{"b"})
		b.SetReadDeadline(time.Now().Add(time.Second))
		if _, _, err := b.ReadFrom(make([]byte, 10)); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("in-flight packet over a cut link: err = %v, want a timeout", err)
		}
		a.Close()
		b.Close()
	})
}

func TestReadDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := New(1)
		defer n.Close()
		c, _ := n.ListenPacket("a:1")
		defer c.Close()
		start := time.Now()
		c.SetReadDeadline(start.Add(time.Second))
		_, _, err := c.ReadFrom(make([]byte, 10))
		var ne net.Error
		if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("err = %v, want a net.Error timeout matching os.ErrDeadlineExceeded", err)
		}
		if d := time.Since(start); d != time.Second {
			t.Errorf("read returned after %v, want 1s", d)
		}

		// Moving the deadline unblocks a reader blocked now (quic-go closes its
		// transport that way).
		c.SetReadDeadline(time.Time{})
		done := make(chan error)
		go func() {
			_, _, err := c.ReadFrom(make([]byte, 10))
			done <- err
		}()
		synctest.Wait()
		c.SetReadDeadline(time.Now())
		if err := <-done; !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("err = %v, want a timeout", err)
		}
		c.SetDeadline(time.Now())
		if _, err := c.WriteTo([]byte("x"), Addr{"b", 1}); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("write after the write deadline: %v", err)
		}
	})
}

func TestCloseUnblocksReaders(t *testing.T) {
	testkit.NoLeaks(t)
	n := newNet(t, 1)
	c, _ := n.ListenPacket("a:1")
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			if _, _, err := c.ReadFrom(make([]byte, 10)); !errors.Is(err, net.ErrClosed) {
				t.Errorf("read on closed socket: %v, want net.ErrClosed", err)
			}
		})
	}
	c.Close()
	wg.Wait()
	if _, err := c.WriteTo([]byte("x"), Addr{"b", 1}); !errors.Is(err, net.ErrClosed) {
		t.Errorf("write on closed socket: %v", err)
	}
	if err := c.Close(); err == nil {
		t.Error("second Close returned nil")
	}
	// The address is free again.
	c2 := listenPacket(t, n, "a:1")
	c2.Close()
}

func TestQueueOverflowDrops(t *testing.T) {
	n := newNet(t, 1)
	a := listenPacket(t, n, "a:1")
	b := listenPacket(t, n, "b:1")
	big := make([]byte, 60000)
	sent := QueueBytes/len(big) + 10
	for range sent {
		a.WriteTo(big, b.LocalAddr())
	}
	st := n.Stats()
	if st.PacketsOverflowed == 0 || st.PacketsDelivered+st.PacketsDropped != uint64(sent) {
		t.Errorf("stats %+v after %d packets into a full queue", st, sent)
	}
	if got := readAll(t, b, 20*time.Millisecond); uint64(len(got)) != st.PacketsDelivered {
		t.Errorf("read %d packets, %d delivered", len(got), st.PacketsDelivered)
	}
}

func TestNetworkCloseStopsEverything(t *testing.T) {
	testkit.NoLeaks(t)
	n := New(1)
	a, _ := n.ListenPacket("a:1")
	b, _ := n.ListenPacket("b:1")
	n.SetFaults("a", "b", Faults{Delay: time.Hour}) // one packet pending forever
	a.WriteTo([]byte("x"), b.LocalAddr())
	errc := make(chan error)
	go func() {
		_, _, err := b.ReadFrom(make([]byte, 10))
		errc <- err
	}()
	n.Close()
	if err := <-errc; !errors.Is(err, net.ErrClosed) {
		t.Errorf("reader after Network.Close: %v", err)
	}
	if err := n.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := n.ListenPacket("c:1"); !errors.Is(err, net.ErrClosed) {
		t.Errorf("ListenPacket after Close: %v", err)
	}
}

func TestSetFaultsPanicsOnNonsense(t *testing.T) {
	n := newNet(t, 1)
	for _, f := range []Faults{{Loss: 1.5}, {Duplicate: -1}, {Delay: -time.Second}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("SetFaults(%+v) did not panic", f)
				}
			}()
			n.SetFaults("a", "b", f)
		}()
	}
}
