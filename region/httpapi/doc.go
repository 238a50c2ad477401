// Package httpapi is the frontend API of a peer (DESIGN.md §6): JSON over
// HTTP/1.1 and cleartext HTTP/2, bearer-token authentication, causal tokens, live
// item streams (Server-Sent Events), health and Prometheus metrics.
//
// # Routes
//
//	PUT    /v1/items/{item}/reactions/{user}   {"reaction":"like"}            → Item
//	DELETE /v1/items/{item}/reactions/{user}                                  → Item
//	POST   /v1/items/{item}/counters/{name}    {"by":3}  [Idempotency-Key]    → Item
//	GET    /v1/items/{item}[?user=U]                                          → Item
//	GET    /v1/items?ids=a,b,c[&id=x][&user=U] (at most 100 ids)              → {"items":[Item,...]}
//	GET    /v1/items/{item}/events             text/event-stream of Item
//	POST   /v1/ops                             {"ops":[...]} (at most 1000)   → {"results":[...],"token":...}
//	GET    /v1/mesh                            the peer's view of the mesh
//	OPTIONS on each GET route above             CORS preflight (see Browsers on other origins)
//	GET    /healthz  /readyz  /metrics         unauthenticated
//
// Path segments are URL-decoded: an item id holding "/" is sent as %2F. The ids
// parameter is split at commas and may be repeated; an id holding a comma is
// read with the id parameter, one item per value, never split
// (?ids=a,b&id=x%2Cy reads a, b and "x,y", in that order: the ids first).
//
// An Item is
//
//	{"item":"video:abc","counters":{"claps":156},"reactions":{"like":10,"dislike":2},
//	 "user":{"id":"u1","reaction":"like"},"token":"AQ..."}
//
// "reactions" has every reaction kind in force, zeros included. "user" is present
// only when a user was asked for (the user parameter, or the path user of a
// reaction write); its "reaction" is JSON null when the user has none. After an
// increment, "counters" holds the incremented counter's value right after that
// increment — on a replay, its value now, which counts the first application
// once — and the other counters' current values.
//
// The ops of POST /v1/ops are
//
//	{"op":"react","item":"video:abc","user":"u1","reaction":"like"}    "reaction": null clears it
//	{"op":"add","item":"video:abc","counter":"claps","by":3,"idempotency_key":"k1"}
//
// and are applied in one atomic, durable write: all or none. Each result repeats
// its op; an add's result has the counter's "value" after it and "replayed".
//
// # Input rules
//
// Item ids, user ids, counter names and idempotency keys are non-empty, valid
// UTF-8, at most Config.MaxIDLen bytes (256) and free of control characters.
// "by" is a non-zero integer with |by| ≤ Config.MaxBy (1,000,000). Bodies are one
// JSON object of at most Config.MaxBodyBytes (1 MiB) with no unknown fields and
// nothing after it; their Content-Type is not checked. Bad input is answered 4xx
// and changes nothing.
//
// # Errors and status codes
//
// Every error is an RFC 9457 application/problem+json body with "type" (one of the
// URNs below), "title", "status" and a precise "detail".
//
//	400 urn:countermesh:problem:invalid-request       bad id, unknown reaction kind, by zero or out of
//	                                                   range, malformed JSON, unknown field, trailing data,
//	                                                   too many ids or ops, unknown op, bad query string
//	400 urn:countermesh:problem:invalid-causal-token  X-Causal-Token malformed, or not minted by a peer of
//	                                                   this mesh: bad MAC, unknown key, version 1 (the
//	                                                   detail says which)
//	401 urn:countermesh:problem:unauthorized          missing, malformed or unknown bearer token, or
//	                                                   access_token anywhere but on a live stream
//	                                                   (with WWW-Authenticate: Bearer realm="countermesh")
//	403 urn:countermesh:problem:forbidden             a write with a token of scope read; a write token
//	                                                   as access_token; a CORS preflight from an origin
//	                                                   not listed, or for a method other than GET
//	404 urn:countermesh:problem:not-found             no such route
//	405 urn:countermesh:problem:method-not-allowed    route served for other methods (with Allow)
//	408 urn:countermesh:problem:request-timeout       the body did not arrive within Config.ReadTimeout
//	409 urn:countermesh:problem:clock-drift           a reaction's causal token is more than
//	                                                   Config.MaxTokenAhead (1 s) ahead of this peer's wall
//	                                                   clock, or beyond its max drift (crdt.ErrClockDrift)
//	413 urn:countermesh:problem:too-large             body over MaxBodyBytes; persist.ErrTooLarge
//	422 urn:countermesh:problem:idempotency-conflict  idempotency key reused for a different increment
//	422 urn:countermesh:problem:counter-overflow      crdt.ErrOverflow
//	429 urn:countermesh:problem:rate-limited          per-token rate limit, counted in operations (with
//	                                                   Retry-After seconds); nothing changed
//	500 urn:countermesh:problem:internal              unexpected failure (logged; its text not sent)
//	503 urn:countermesh:problem:unavailable           with Retry-After: persist.ErrDiskFull (30 s),
//	                                                   persist.ErrCommitFailed (1 s), persist.ErrClosed
//	                                                   (5 s), too many writes in flight (1 s), a write not
//	                                                   durable within Config.WriteTimeout (outcome unknown),
//	                                                   too many live subscribers (5 s), too many
//	                                                   connections (1 s; see Serving), /readyz not ready,
//	                                                   a write to a peer whose clock is skewed (30 s)
//
// Reads never depend on writes succeeding: a full or failing disk refuses writes
// and keeps answering reads. /readyz answers 503 (Retry-After 30) while the data
// directory's free space is below the store's reserve (persist.Options.MinFreeBytes),
// so that a load balancer sends writes elsewhere. Writes are not refused while /readyz fails: a peer
// cut off from the mesh keeps taking writes, which is the point of a CRDT. The
// one exception is Backend.Writable: a peer whose clock is beyond the max drift
// from most of the mesh (region.ErrClockSkew) answers writes 503 with
// Retry-After 30 until its clock is fixed, and keeps answering reads.
//
// # Authentication, scopes and rate limits
//
// With tokens configured (Config.APITokens, Config.Tokens), every /v1 route
// needs "Authorization: Bearer <token>"; tokens are compared in constant time
// (as SHA-256 digests). A token has a scope:
//
//   - write (frontends): every route.
//   - read (safe to hand to browsers): GET /v1/items/{item}, GET /v1/items,
//     GET /v1/mesh and live streams. Every write route answers it 403
//     (forbidden) and changes nothing.
//
// Server.SetAPITokens replaces the tokens live: a token removed is refused from
// the next request on, a new one accepted, a changed scope or limit applies at
// once. A token rotated under the same name keeps its idempotency keys and its
// rate limit's budget. An empty set is refused while tokens are in force:
// it would open the API.
//
// The token's name scopes idempotency keys — two clients' equal keys never
// collide — and its rate limit, a token bucket of APIToken.RateLimit
// operations/s and APIToken.Burst (default Config.RateLimit, 250,000, and
// Config.Burst, 500,000: sized for a frontend's whole traffic, which comes
// through one token). Operations, not requests, are counted: an op of POST
// /v1/ops, a reaction write or an increment costs one, so a batch of 1,000 ops
// costs 1,000; a read costs one per request however many ids it reads (reads
// are served from memory, grow nothing on disk, and read at most 100 ids); a
// live stream costs one when it opens. A request over the limit is answered
// 429 with Retry-After and changes nothing; one costing more than the burst
// waits for a full bucket. A write token's budget is the token's, wherever it
// calls from; a read token is shared by every browser it is handed to, so its
// budget is per token and client address (behind a proxy, the proxy's). Without tokens the API is open: New
// logs a warning, /v1/mesh says "api_open": true, and the default limit
// applies per client address.
//
// # Browsers on other origins (CORS)
//
// The read routes answer CORS for the origins of Config.CORSOrigins (the
// topology's security.cors_origins; Server.SetCORSOrigins replaces them): an
// answer to a request whose Origin is listed — errors included — carries
// Access-Control-Allow-Origin and exposes X-Causal-Token, X-Causal-Stale,
// Retry-After and WWW-Authenticate; a preflight (OPTIONS) from a listed origin
// for GET is answered 204 allowing the Authorization, X-Causal-Token and
// Last-Event-ID headers, and any other preflight 403 with the reason. Write
// routes never answer CORS: a browser cannot write. Browsers' EventSource
// cannot send headers, so a live stream, and only a live stream, also takes
// its token as the access_token query parameter, and only a token of scope
// read:
//
//	const es = new EventSource("https://peer.example.com/v1/items/video:abc/events?access_token=" + readToken);
//	es.addEventListener("item", (e) => render(JSON.parse(e.data)));
//
// A URL ends up in logs and browser history: hand browsers read tokens only.
//
// # Idempotency
//
// An increment sent with Idempotency-Key (or an add op's idempotency_key) counts
// once in the converged mesh however often, and at however many peers of
// however many regions, it is retried, also across restarts, for the store's
// idempotency TTL (24 h by default; see package persist for how). A retry at a
// peer that knows the key, from anywhere, is answered with the item as it is now
// and header Idempotent-Replayed: true (a batch says "replayed" per op). Keys are
// scoped by the API token and the item. Reusing a key on an item for another
// counter or by is answered 422 by any peer that knows its record.
//
// # Causal tokens
//
// Every answer carries a causal token, in its body ("token") and in header
// X-Causal-Token. A client passes the latest one it got back as X-Causal-Token, to
// any peer. The token records, for the peers that answered it, how many of their
// own changes the answer reflected (replica id → sequence), and the newest
// hybrid-clock timestamp the answering peer had seen. A peer presented a token:
//
//   - on a read, waits, up to Config.CausalWait (2 s), until it has applied every
//     change the token counts (Backend.Applied), then answers — so a client reads
//     its own writes on any peer. If the wait runs out it answers anyway, with
//     header X-Causal-Stale: true: the answer may miss what the token saw. It
//     never answers older state as fresh.
//   - on a write, never waits: a peer cut off from the one that minted the token
//     keeps taking writes at local latency. It applies the write at once and
//     answers with X-Causal-Stale: true when it has not yet applied everything
//     the token counts.
//   - before a reaction write, advances its clock past the token's timestamp, so
//     the new reaction orders after every reaction the client saw, whatever the
//     wall clocks say (invariant 4) — also when the write is stale. It never
//     lets a token move its clock more than Config.MaxTokenAhead (1 s) past its
//     wall clock: a reaction whose token is further ahead (and ahead of every
//     timestamp the peer has seen) is answered 409 and changes nothing; the
//     client may retry at the peer that minted the token, or without the token.
//     In a mesh whose clocks disagree by more, invariant 4 across peers needs a
//     larger MaxTokenAhead; it never goes past the max drift.
//
// Tokens are minted only by the peers of a mesh: each carries a MAC
// (HMAC-SHA256, truncated to 128 bits) under a secret of the mesh, named by a
// key id (Config.TokenKeys, from the topology's token_secrets). A peer signs
// with the first key and accepts tokens signed with any of its keys, so a
// secret is rotated by listing the new one after the old on every peer, then
// first, then dropping the old one; Server.SetTokenKeys applies a change live.
// A token no key verifies — forged, altered, from another mesh, signed with a
// retired key, or of the unauthenticated version 1 — is answered 400 and moves
// no clock. Without TokenKeys, a Server signs with a random key of its process,
// and peers in other processes refuse its tokens.
//
// The answer's token merges the presented one with the answering peer's. Read
// your writes and monotonic reads hold for the changes of the peers that
// answered the client; changes the client saw that a peer had merged from a third
// peer are ordered by the timestamp, not waited for.
//
// Encoding (token.go): one version byte (2), the key id (a length byte and the
// id), then unsigned varints for the timestamp's wall milliseconds and logical
// counter, the number of replicas (at most 64), and per replica, in ascending
// order, its 8-byte big-endian id and the sequence; then the 16-byte MAC of all
// that; the whole as unpadded base64url. A malformed token is answered 400 with
// what is wrong with it.
//
// # Live streams
//
// GET /v1/items/{item}/events answers text/event-stream. Each event is
//
//	event: item
//	data: {Item as JSON, no "user"}
//
// — listen for "item" events (addEventListener("item", ...)). The first event is
// the item's current state; then the latest state, at most every
// Config.LiveInterval (100 ms) while the item changes (a slow client skips
// intermediate states), and a ": heartbeat" comment every Config.Heartbeat
// (15 s). A stream stays open however long it is idle, over HTTP/1.1 and h2c:
// a write to it must complete within 10 s (a client that stops reading is
// dropped), and no deadline is left running between writes. Every commit
// reaches the hub through the commit feed (Backend.Follow), the API's own
// writes and changes merged from other peers alike. Past
// Config.MaxSubscribers streams the answer is 503; past
// Config.MaxStreamsPerAddress (256) streams of one client address with a read
// token (or on an open API) it is 429, so that one holder of the token every
// browser shares cannot take them all. Streams end when Run's context ends.
//
// # Metrics
//
// /metrics serves Config.Registry in the Prometheus text format:
//
//	countermesh_api_requests_total{route,code}            answers by route pattern and status
//	countermesh_api_request_duration_seconds{route}       latency histogram by route pattern
//	countermesh_api_writes_total{kind,outcome}            react/add by ok, replayed, invalid, conflict,
//	                                                      unavailable, unknown, error
//	countermesh_api_rate_limited_total                    429s
//	countermesh_api_causal_waits_total                    reads that waited for a causal token
//	countermesh_api_causal_wait_seconds                   how long they waited
//	countermesh_api_causal_stale_total                    answers sent with X-Causal-Stale (reads and writes)
//	countermesh_api_live_subscribers                      open live streams
//	countermesh_api_connections                           open connections (LimitListener)
//	countermesh_api_connections_refused_total             connections refused past Config.MaxConns
//	countermesh_replication_lag_seqs{region,peer}         per remote peer, from Backend.Status
//	countermesh_replication_lag_seconds{region,peer}
//	countermesh_peer_linked{region,peer}                  1 while a sync link to the remote peer is up
//	countermesh_peer_alive{region,peer}                   1 while it is alive in this peer's membership
//	countermesh_clock_skewed                              1 while writes are refused for this peer's clock
//	countermesh_store_below_reserve                       1 while free disk space is below the store's
//	                                                      reserve (writes refused, /readyz not ready)
//	countermesh_sync_handshakes_refused_total{reason}     QUIC handshakes refused, from the Backend's
//	                                                      EdgeRefusals (region.Peer has it)
//	countermesh_gossip_dropped_total                      gossip from strangers, junk
//	countermesh_gossip_nodes_refused_total                memberlist nodes refused by admission
//	countermesh_store_bytes                               the store's size on disk, from Backend.DiskSize
//	countermesh_store_commit_seconds                      how long each batch's commit took, from
//	                                                      Backend.CommitStats
//	countermesh_store_committed_ops_total                 ops in the committed batches
//	countermesh_store_commits_failed_total                batches whose commit failed
//
// The default registry also holds the Go and process collectors, with
// go_sched_latencies_seconds: how long goroutines waited to run, the first sign
// of a peer short of CPU.
//
// # The peer
//
// The API reaches its peer only through Backend: the store operations it makes
// (write, read items, the last local sequence, the clock's observe and last
// reading, the commit notification a causal wait follows, the free-space check
// and the size on disk) and what it reports of the mesh. It never holds the
// store. *region.Peer is the Backend of a running peer; httpapitest.Backend is
// an in-memory one over crdt.State, on which the API's unit tests run without
// a disk.
//
// # Serving
//
// Handler serves every route for whatever protocols its http.Server speaks;
// HTTPServer returns an http.Server speaking HTTP/1.1 and HTTP/2 with prior
// knowledge over cleartext (h2c; the HTTP/1.1 Upgrade to h2c is not supported).
// Serve it on the listener LimitListener returns: it caps open connections at
// Config.MaxConns, by default the process's file limit less a reserve for the
// store and the mesh (a quarter, at least 512), and answers a connection past
// the cap 503 problem+json with Retry-After and closes it, while the
// connections already open are served as before. Live streams are capped below
// it (Config.MaxSubscribers). A request's head must arrive within
// Config.ReadHeaderTimeout (5 s) and the whole request within
// Config.ReadTimeout (15 s; a late body is answered 408). An HTTP/1.1 request
// answered before its body was read — a 401 without a token, a 429, a bad path
// — is answered at once and its connection closed, so announcing a body and
// never sending it holds nothing.
//
// Run runs the live hub; cancel its context before shutting the http.Server
// down, so that live streams end.
package httpapi
