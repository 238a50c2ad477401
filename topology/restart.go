package topology

import "fmt"

// RestartReasons returns what a running peer named self cannot take from a
// reload of its topology old to new, one reason per line of a refusal: the
// mesh renamed, the peer dropped or moved to another region, any of its own
// addresses changed (it listens on them), its certificate, key or the CA
// named by other files (they are read when it starts). Nil when new can be
// put in force live: everything else — regions and peers added or removed,
// other peers' addresses, keys and secrets rotated — can.
func RestartReasons(old, new *Topology, self string) []string {
	var reasons []string
	if old.Mesh != new.Mesh {
		reasons = append(reasons, fmt.Sprintf("it renames the mesh %q to %q", old.Mesh, new.Mesh))
	}
	op, _ := old.Peer(self)
	np, ok := new.Peer(self)
	if !ok {
		return append(reasons, fmt.Sprintf("it drops this peer (%s)", self))
	}
	for _, f := range peerFieldValues(old, op, new, np) {
		switch {
		case f.old == f.new:
		case f.name == "region":
			reasons = append(reasons, fmt.Sprintf("it moves this peer from region %q to %q", f.old, f.new))
		case f.name == "cert" || f.name == "key":
			reasons = append(reasons, fmt.Sprintf("it changes this peer's %s from %s to %s", f.name, orNone(f.old), orNone(f.new)))
		default:
			reasons = append(reasons, fmt.Sprintf("it changes this peer's %s address from %s to %s", f.name, f.old, f.new))
		}
	}
	if o, n := old.rel(old.Security.CA), new.rel(new.Security.CA); o != n {
		reasons = append(reasons, fmt.Sprintf("it changes the ca from %s to %s", o, n))
	}
	return reasons
}

// orNone returns s, or "none" when it is empty.
func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
