// Package topology reads, validates and compares topology files: the YAML file
// that names a countermesh mesh, its regions, their peers and addresses, and the
// mesh's security material.
//
// # Schema
//
//	mesh: demo                       # mesh name (required)
//	reaction_kinds: [like, dislike]  # reaction kinds (required, non-empty, unique)
//	security:                        # required
//	  ca: certs/ca.crt               # PEM certificate of the mesh's CA (required)
//	  gossip_key: certs/gossip.key   # base64 of the 32-byte gossip key, or a list of such files (required)
//	  api_tokens:                    # bearer tokens of the HTTP API (optional)
//	    - name: frontend             # who uses it (required, unique)
//	      file: certs/frontend.token # file holding the token (required)
//	      scope: write               # write (everything) or read (reads, live streams); default write
//	      rate_limit:                # operations per token (optional; default 250000/s, burst 500000)
//	        ops_per_second: 250000   # sustained (required in rate_limit, 1 to 1e9)
//	        burst: 500000            # at once above it (default twice ops_per_second)
//	  cors_origins:                  # browser origins that may call the read routes (optional)
//	    - https://www.example.com    # scheme://host[:port], exactly as browsers send it
//	  token_secrets:                 # secrets causal tokens are signed with (serve needs one)
//	    - id: k1                     # names it in tokens (required, unique)
//	      file: certs/k1.secret      # base64 of a 32-byte secret (required)
//	regions:                         # required, non-empty
//	  - name: eu-west                # region name (required, unique)
//	    peers:                       # required, non-empty
//	      - name: eu-west-1          # peer name (required, unique across the mesh)
//	        gossip: 127.0.0.1:7101   # memberlist address, UDP and TCP (required)
//	        sync: 127.0.0.1:7201     # replication address, QUIC over UDP (required)
//	        api: 127.0.0.1:7301      # HTTP API address (required)
//	        cert: certs/eu-west-1.crt  # PEM certificate issued by the CA (its own host needs it)
//	        key: certs/eu-west-1.key   # PEM private key of cert (its own host needs it)
//	        memory: 2GiB               # memory budget of its store (optional; serve --memory overrides; default about 700 MiB)
//
// Rules:
//
//   - Mesh, region and peer names are DNS labels: 1-63 lowercase letters, digits
//     or hyphens, not starting or ending with a hyphen. They appear in the
//     peers' certificates.
//   - Reaction kinds are 1-32 lowercase letters, digits, '_' or '-'; api token
//     names and token secret ids 1-63 of the same.
//   - The first token secret signs causal tokens, every one listed verifies
//     them: a secret is rotated by listing the new one after the old on every
//     peer, then first, then dropping the old one. Every peer must list the
//     same secrets. token_secrets is optional in the file, so that topologies
//     written before it still load, but serve refuses to start without it.
//   - A token of scope read may only read items, GET /v1/mesh and open live
//     streams: it is safe to hand to browsers, on the cors_origins listed. A
//     read token's rate limit applies per client address, a write token's
//     to the token as a whole. Scopes, rate limits and origins apply live on
//     reload, as do tokens added, removed or rewritten in their files.
//   - gossip_key may list several files while a key is rotated: the first
//     encrypts what a peer sends, every one listed decrypts. Rotate by listing
//     the new key after the old on every peer, then first, then dropping the
//     old one; a reload puts each step in force.
//   - A peer's cert and key are needed on that peer's host only. Another
//     peer's entry may leave them out, or name files this host does not have.
//   - Addresses are host:port, the host an IP address or a DNS name that other
//     peers can dial (not 0.0.0.0 or ::), the port 1-65535. No two addresses of
//     the mesh are equal, whichever of gossip, sync and api they are.
//   - Paths are relative to the topology file's directory, or absolute.
//   - Fields not in the schema are errors, so that a misspelt one is not
//     silently ignored. YAML anchors and aliases may be used.
//
// [Parse] checks the structure and the rules above without touching the file
// system. [Load], as on the operator's machine, also checks that every file
// named that this host holds can be read and holds what it should: the peers'
// certificates must be signed by the CA for exactly that mesh, region and
// peer; the peers' files it does not find it lists in [Topology.Unchecked].
// [LoadPeer], as on a peer's host, checks and returns the [Material] of that
// peer alone — its certificate and key, the CA, the gossip keys, the token
// secrets, the API tokens — and never opens another peer's files: the peer
// takes them from there and reads none of them again. All report every problem
// found at once, each as "file:line: what is wrong" in an [*Error].
//
// [Diff] compares two topologies, as a peer does when it reloads its file;
// [RestartReasons] says what of a change a running peer cannot take live.
package topology
