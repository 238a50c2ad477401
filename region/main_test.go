package region_test

import (
	"os"
	"testing"
)

func TestMain(m *testing.M) {
	// Fault-network sockets are not *net.UDPConn; quic-go would warn on each.
	os.Setenv("QUIC_GO_DISABLE_RECEIVE_BUFFER_WARNING", "true")
	os.Exit(m.Run())
}
