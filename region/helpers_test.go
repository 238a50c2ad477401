package region_test

import (
	"os"

	"github.com/countermesh/countermesh/sync/transport/faultnet"
)

func faultDown() faultnet.Faults { return faultnet.Faults{Down: true} }

func writeFile(path, content string) error { return os.WriteFile(path, []byte(content), 0o644) }
