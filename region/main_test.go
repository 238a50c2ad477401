package region_test

import (
	"os"
	"testing"

	"github.com/countermesh/countermesh/tests/testkit"
)

// TestMain fails the package's run if its tests leave goroutines behind.
func TestMain(m *testing.M) {
	// Fault-network sockets are not *net.UDPConn; quic-go would warn on each.
	os.Setenv("QUIC_GO_DISABLE_RECEIVE_BUFFER_WARNING", "true")
	testkit.VerifyNoLeaks(m)
}
