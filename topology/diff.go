package topology

import (
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Changes is what differs between two topologies. Names are sorted.
type Changes struct {
	// OldMesh and NewMesh are the mesh names when they differ, else "".
	// A peer refuses a topology of another mesh.
	OldMesh, NewMesh string
	KindsAdded       []string // reaction kinds added
	KindsRemoved     []string // reaction kinds removed
	RegionsAdded     []string
	RegionsRemoved   []string
	PeersAdded       []string
	PeersRemoved     []string
	PeersChanged     []PeerChange // peers in both, with different fields
	// SecurityChanged lists the security fields that differ: "ca",
	// "gossip_key", "api_tokens", "token_secrets", "cors_origins". Only
	// paths, names, scopes, rate limits and order (for gossip_key and
	// token_secrets, the first is used to send) are compared, not the files'
	// content.
	SecurityChanged []string
}

// PeerChange is a peer in both topologies whose fields differ.
type PeerChange struct {
	Name   string
	Fields []string // schema names of the fields that differ: region, gossip, sync, api, cert, key
}

// Diff returns what changed from old to new. A nil topology is an empty one.
// File paths are compared relative to each topology's directory, so a
// topology moved together with its files has not changed.
func Diff(old, new *Topology) Changes {
	if old == nil {
		old = &Topology{}
	}
	if new == nil {
		new = &Topology{}
	}
	var c Changes
	if old.Mesh != new.Mesh {
		c.OldMesh, c.NewMesh = old.Mesh, new.Mesh
	}
	c.KindsAdded, c.KindsRemoved = setDiff(old.ReactionKinds, new.ReactionKinds)
	c.RegionsAdded, c.RegionsRemoved = setDiff(regionNames(old), regionNames(new))
	c.PeersAdded, c.PeersRemoved = setDiff(peerNames(old), peerNames(new))
	for _, np := range new.Peers() {
		op, ok := old.Peer(np.Name)
		if !ok {
			continue
		}
		if fields := peerFieldsChanged(old, op, new, np); len(fields) > 0 {
			c.PeersChanged = append(c.PeersChanged, PeerChange{Name: np.Name, Fields: fields})
		}
	}
	slices.SortFunc(c.PeersChanged, func(a, b PeerChange) int { return strings.Compare(a.Name, b.Name) })
	if old.rel(old.Security.CA) != new.rel(new.Security.CA) {
		c.SecurityChanged = append(c.SecurityChanged, "ca")
	}
	if !slices.Equal(gossipKeyFiles(old), gossipKeyFiles(new)) {
		c.SecurityChanged = append(c.SecurityChanged, "gossip_key")
	}
	if !slices.Equal(tokenKeys(old), tokenKeys(new)) {
		c.SecurityChanged = append(c.SecurityChanged, "api_tokens")
	}
	if !slices.Equal(secretKeys(old), secretKeys(new)) {
		c.SecurityChanged = append(c.SecurityChanged, "token_secrets")
	}
	if !slices.Equal(old.Security.CORSOrigins, new.Security.CORSOrigins) {
		c.SecurityChanged = append(c.SecurityChanged, "cors_origins")
	}
	return c
}

// Empty reports whether nothing changed.
func (c Changes) Empty() bool {
	return c.OldMesh == c.NewMesh && len(c.KindsAdded)+len(c.KindsRemoved)+len(c.RegionsAdded)+
		len(c.RegionsRemoved)+len(c.PeersAdded)+len(c.PeersRemoved)+len(c.PeersChanged)+len(c.SecurityChanged) == 0
}

// String describes the changes for humans, one per line, or "no changes".
func (c Changes) String() string {
	if c.Empty() {
		return "no changes"
	}
	var b strings.Builder
	if c.OldMesh != c.NewMesh {
		fmt.Fprintf(&b, "mesh renamed: %s -> %s (peers refuse a topology of another mesh)\n", c.OldMesh, c.NewMesh)
	}
	list := func(what string, names []string) {
		for _, n := range names {
			fmt.Fprintf(&b, "%s: %s\n", what, n)
		}
	}
	list("reaction kind added", c.KindsAdded)
	list("reaction kind removed", c.KindsRemoved)
	list("region added", c.RegionsAdded)
	list("region removed", c.RegionsRemoved)
	list("peer added", c.PeersAdded)
	list("peer removed", c.PeersRemoved)
	for _, p := range c.PeersChanged {
		fmt.Fprintf(&b, "peer changed: %s (%s)\n", p.Name, strings.Join(p.Fields, ", "))
	}
	list("security changed", c.SecurityChanged)
	return strings.TrimSuffix(b.String(), "\n")
}

// peerFieldsChanged lists the fields of a peer that differ between topologies.
func peerFieldsChanged(ot *Topology, op Peer, nt *Topology, np Peer) []string {
	var fields []string
	for _, f := range peerFieldValues(ot, op, nt, np) {
		if f.old != f.new {
			fields = append(fields, f.name)
		}
	}
	return fields
}

// peerField is a field of a peer as two topologies give it.
type peerField struct {
	name     string // schema name
	old, new string
}

// peerFieldValues returns every field of a peer as two topologies give it, file
// paths relative to each topology's directory.
func peerFieldValues(ot *Topology, op Peer, nt *Topology, np Peer) []peerField {
	return []peerField{
		{"region", op.Region, np.Region},
		{"gossip", op.Gossip, np.Gossip},
		{"sync", op.Sync, np.Sync},
		{"api", op.API, np.API},
		{"cert", ot.rel(op.Cert), nt.rel(np.Cert)},
		{"key", ot.rel(op.Key), nt.rel(np.Key)},
		{"memory", strconv.FormatInt(op.Memory, 10), strconv.FormatInt(np.Memory, 10)},
	}
}

// rel returns a path relative to the topology's directory when it is under it.
func (t *Topology) rel(path string) string {
	if path == "" || t.Dir == "" {
		return path
	}
	r, err := filepath.Rel(t.Dir, path)
	if err != nil || !filepath.IsLocal(r) {
		return path
	}
	return filepath.ToSlash(r)
}

// setDiff returns the sorted names in new but not old, and in old but not new.
func setDiff(old, new []string) (added, removed []string) {
	for _, n := range new {
		if !slices.Contains(old, n) {
			added = append(added, n)
		}
	}
	for _, o := range old {
		if !slices.Contains(new, o) {
			removed = append(removed, o)
		}
	}
	slices.Sort(added)
	slices.Sort(removed)
	return added, removed
}

func regionNames(t *Topology) []string {
	var names []string
	for _, r := range t.Regions {
		names = append(names, r.Name)
	}
	return names
}

func peerNames(t *Topology) []string {
	var names []string
	for _, p := range t.Peers() {
		names = append(names, p.Name)
	}
	return names
}

// gossipKeyFiles returns the gossip key files, in file order.
func gossipKeyFiles(t *Topology) []string {
	var files []string
	for _, f := range t.Security.GossipKeys {
		files = append(files, t.rel(f))
	}
	return files
}

// secretKeys returns the token secrets as "id=path" strings, in file order.
func secretKeys(t *Topology) []string {
	var keys []string
	for _, s := range t.Security.TokenSecrets {
		keys = append(keys, s.ID+"="+t.rel(s.File))
	}
	return keys
}

// tokenKeys returns the api tokens as sorted "name=path scope rate" strings.
func tokenKeys(t *Topology) []string {
	var keys []string
	for _, tok := range t.Security.APITokens {
		keys = append(keys, fmt.Sprintf("%s=%s %s %+v", tok.Name, t.rel(tok.File), tok.Scope, tok.RateLimit))
	}
	slices.Sort(keys)
	return keys
}
