package inprocess

import (
	"testing"

	"github.com/countermesh/countermesh/tests/testkit"
)

// TestMain fails the package's run if its tests leave goroutines behind.
func TestMain(m *testing.M) { testkit.VerifyNoLeaks(m) }
