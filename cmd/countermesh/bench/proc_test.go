package bench

import (
	"fmt"
	"net"
	"testing"
)

// The ports freePorts finds are distinct, and free for both TCP and UDP once
// it returns: a peer's gossip (TCP and UDP) and sync (UDP) ports never clash.
func TestFreePortsAreDistinctAndFree(t *testing.T) {
	ports, err := freePorts(20)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, port := range ports {
		if seen[port] {
			t.Fatalf("port %d found twice in %v", port, ports)
		}
		seen[port] = true
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("port %d not free for TCP: %v", port, err)
		}
		u, err := net.ListenPacket("udp", addr)
		if err != nil {
			ln.Close()
			t.Fatalf("port %d not free for UDP: %v", port, err)
		}
		ln.Close()
		u.Close()
	}
}
