package client_test

import (
	"testing"

	"github.com/countermesh/countermesh/tests/testkit"
)

func TestMain(m *testing.M) { testkit.VerifyNoLeaks(m) }
