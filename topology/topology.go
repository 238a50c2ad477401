package topology

// Topology is a parsed, valid topology file: the mesh, its regions and peers,
// and its security material. It is not changed after Parse or Load returns it
// and is safe for concurrent reads.
type Topology struct {
	Mesh          string   // mesh name
	ReactionKinds []string // reaction kinds, in file order
	Security      Security
	Regions       []Region // in file order
	// File is the topology file: as named to Parse, absolute after Load.
	File string
	// Dir is the directory relative paths of the file are resolved against:
	// File's directory.
	Dir string
	// Unchecked lists, after Load, what Load could not check because it is not
	// on this host: a peer's certificate or key file that does not exist, or a
	// peer that names none. A peer's host holds only its own; the operator's
	// machine usually holds them all. Empty after Parse and LoadPeer.
	Unchecked []Problem

	refs []fileRef // every file the topology names, for Load's checks
}

// Security is the security material of a mesh. Paths are resolved against the
// topology file's directory (absolute after Load).
type Security struct {
	CA string // PEM certificate of the mesh's CA
	// GossipKeys are the files holding the base64 gossip encryption keys, in
	// file order: the first encrypts what a peer sends, every one decrypts
	// what it receives. Never empty in a valid topology.
	GossipKeys []string
	APITokens  []APIToken // bearer tokens of the HTTP API, in file order
	// TokenSecrets are the secrets causal tokens are signed with, in file
	// order: the first signs, every one verifies. Empty in a topology written
	// before they existed; serve refuses to start without one.
	TokenSecrets []TokenSecret
	// CORSOrigins are the browser origins (scheme://host[:port], as browsers
	// send them) allowed to call the API's read routes, in file order.
	CORSOrigins []string
}

// TokenSecret names a secret the peers sign and verify causal tokens with.
type TokenSecret struct {
	ID   string // names the secret in the tokens it signs
	File string // file holding the base64 secret of 32 bytes
}

// APIToken names a bearer token accepted by the HTTP API.
type APIToken struct {
	Name  string // who uses it, for logs and metrics
	File  string // file holding the token
	Scope string // ScopeWrite (the default) or ScopeRead
	// RateLimit is the token's rate limit; zero fields take the API's default.
	RateLimit RateLimit
}

// Scopes of an API token.
const (
	ScopeWrite = "write" // every route: frontends
	ScopeRead  = "read"  // reads and live streams only: safe to hand to browsers
)

// RateLimit is a token's rate limit, counted in operations.
type RateLimit struct {
	OpsPerSecond int // sustained operations per second; 0: the API's default
	Burst        int // operations at once above it; 0: twice OpsPerSecond
}

// Region is a region of the mesh and its peers.
type Region struct {
	Name  string
	Peers []Peer // in file order; never empty
}

// Peer is one peer of the mesh.
type Peer struct {
	Name   string // unique across the mesh
	Region string // the region it belongs to
	Gossip string // host:port for memberlist (UDP and TCP)
	Sync   string // host:port for replication over QUIC (UDP)
	API    string // host:port for the HTTP API (TCP)
	// Cert is the PEM certificate issued to the peer by the mesh's CA, and Key
	// its PEM private key: resolved paths, or "" when the file names none.
	// Only the peer's own host needs them (see LoadPeer).
	Cert, Key string
	// Memory is the peer's memory budget in bytes, which sizes its store (see
	// persist.Options.WithMemoryBudget); 0 when the file names none.
	Memory int64
}

// Peer returns the peer of that name.
func (t *Topology) Peer(name string) (Peer, bool) {
	for _, r := range t.Regions {
		for _, p := range r.Peers {
			if p.Name == name {
				return p, true
			}
		}
	}
	return Peer{}, false
}

// Peers returns every peer of the mesh, region by region in file order.
func (t *Topology) Peers() []Peer {
	var all []Peer
	for _, r := range t.Regions {
		all = append(all, r.Peers...)
	}
	return all
}

// Region returns the region of that name.
func (t *Topology) Region(name string) (Region, bool) {
	for _, r := range t.Regions {
		if r.Name == name {
			return r, true
		}
	}
	return Region{}, false
}

// RegionOf returns the region of the named peer.
func (t *Topology) RegionOf(peer string) (string, bool) {
	p, ok := t.Peer(peer)
	return p.Region, ok
}
