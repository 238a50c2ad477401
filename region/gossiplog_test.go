package region

import (
	"log/slog"
	"testing"

	"github.com/countermesh/countermesh/sync/transport/edgelog/edgelogtest"
)

// What memberlist says in normal operation — a clean stop, a node the topology
// does not list yet, which admission already reported — is not an ERROR: an
// operator has nothing to do about it.
func TestMemberlistLinesOfNormalOperationAreNotErrors(t *testing.T) {
	rec := edgelogtest.NewRecorder(slog.LevelInfo)
	w := &memberlistLog{l: slog.New(rec), edge: &gossipEdge{}}
	for _, line := range []string{
		"2026/12/07 03:00:00 [ERR] memberlist: Error accepting TCP connection: accept tcp 127.0.0.1:7101: use of closed network connection",
		"2026/12/07 03:00:00 [ERR] memberlist: Failed push/pull merge: node us-east-9 is not a peer of the topology",
		"2026/12/07 03:00:00 [WARN] memberlist: ignoring alive message for 'us-east-9': node us-east-9 is not a peer of the topology",
	} {
		if _, err := w.Write([]byte(line + "\n")); err != nil {
			t.Fatal(err)
		}
	}
	if lines := rec.Lines(); len(lines) != 0 {
		t.Errorf("normal operation logged %q at info or above", lines)
	}
	if _, err := w.Write([]byte("2026/12/07 03:00:00 [ERR] memberlist: Failed to send ping: write: no buffer space\n")); err != nil {
		t.Fatal(err)
	}
	if lines := rec.Lines("ERROR"); len(lines) != 1 {
		t.Errorf("a real error logged %q, want one ERROR line", rec.Lines())
	}
}
