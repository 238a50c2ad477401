package httpapi

import (
	"encoding/base64"
	"encoding/binary"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/countermesh/countermesh/crdt"
)

// keysOf returns the key ring of keys, failing the test if they are invalid.
func keysOf(t testing.TB, keys ...TokenKey) *tokenKeys {
	t.Helper()
	k, err := newTokenKeys(keys)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestTokenRoundTrip(t *testing.T) {
	keys := keysOf(t, testTokenKeys...)
	var tok causalToken
	tok.observe(crdt.Timestamp{Wall: 1_700_000_000_123, Logical: 7})
	tok.see(0xaa, 42)
	tok.see(0x01, 1)
	tok.see(0xffffffffffffffff, 1<<40)
	s := keys.mint(tok)
	got, err := keys.parse(s)
	if err != nil {
		t.Fatal(err)
	}
	if got.ts != tok.ts || len(got.seqs) != 3 || got.seqs[0xaa] != 42 || got.seqs[1] != 1 || got.seqs[0xffffffffffffffff] != 1<<40 {
		t.Fatalf("round trip: %+v, want %+v", got, tok)
	}
	if len(s) > 96 {
		t.Errorf("token of 3 replicas is %d characters; want it compact", len(s))
	}
	var empty causalToken
	if got, err := keys.parse(keys.mint(empty)); err != nil || !got.ts.IsZero() || len(got.seqs) != 0 {
		t.Fatalf("empty token: %+v, %v", got, err)
	}
}

func TestTokenMergeKeepsTheMaximum(t *testing.T) {
	var a, b causalToken
	a.see(1, 10)
	a.see(2, 5)
	a.observe(crdt.Timestamp{Wall: 100})
	b.see(2, 7)
	b.see(3, 1)
	b.observe(crdt.Timestamp{Wall: 99, Logical: 5})
	a.merge(b)
	if a.seqs[1] != 10 || a.seqs[2] != 7 || a.seqs[3] != 1 || a.ts != (crdt.Timestamp{Wall: 100}) {
		t.Fatalf("merged: %+v", a)
	}
}

func rawToken(b ...byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// signed returns a token of the test mesh with body as its body: what a peer
// would mint, or a peer with a bug.
func signed(body []byte) string {
	key := testTokenKeys[0]
	b := append([]byte{tokenVersion, byte(len(key.ID))}, key.ID...)
	b = append(b, body...)
	return rawToken(newMACPool(key.Secret).appendMAC(b, b)...)
}

func TestBadTokens(t *testing.T) {
	keys := keysOf(t, testTokenKeys...)
	replica := func(r uint64) []byte { return binary.BigEndian.AppendUint64(nil, r) }
	join := func(parts ...[]byte) []byte {
		var b []byte
		for _, p := range parts {
			b = append(b, p...)
		}
		return b
	}
	genuine := keys.mint(causalToken{ts: crdt.Timestamp{Wall: 1_700_000_000_000}})
	raw, _ := base64.RawURLEncoding.DecodeString(genuine)
	flip := func(i int) string {
		b := append([]byte(nil), raw...)
		b[i] ^= 1
		return rawToken(b...)
	}
	cases := []struct{ name, token, want string }{
		{"empty", "", "empty"},
		{"not base64url", "a+b/", "not unpadded base64url"},
		{"padded", genuine + "==", "not unpadded base64url"},
		{"too long", strings.Repeat("A", maxTokenLen+1), "longer than any token"},
		{"unauthenticated version 1", rawToken(1, 0, 0, 0), "version 1, which carries no MAC and is no longer accepted"},
		{"unknown version", rawToken(9, 0, 0, 0), "version 9; this peer reads version 2"},
		{"no key id", rawToken(2), "truncated: no key id"},
		{"empty key id", rawToken(2, 0, 0, 0, 0), "key id of 0 bytes"},
		{"key id too long", rawToken(2, 64), "key id of 64 bytes"},
		{"no MAC", rawToken(append([]byte{2, 6}, "test-1"...)...), "too short for a key id of 6 bytes and a MAC"},
		{"unknown key", rawToken(append(append([]byte{2, 6}, "test-9"...), make([]byte, 20)...)...),
			`signed with key "test-9", which this peer does not hold`},
		{"zero MAC", rawToken(append(raw[:len(raw)-tokenMACLen:len(raw)-tokenMACLen], make([]byte, tokenMACLen)...)...),
			`its MAC does not verify under key "test-1"`},
		{"altered timestamp", flip(2 + len("test-1")), "its MAC does not verify"},
		{"altered MAC", flip(len(raw) - 1), "its MAC does not verify"},
		{"truncated timestamp", signed([]byte{0x80}), "truncated or malformed wall time"},
		{"no replica count", signed([]byte{0, 0}), "truncated or malformed replica count"},
		{"logical out of range", signed(join([]byte{0}, binary.AppendUvarint(nil, 1<<33), []byte{0})), "out of range"},
		{"too many replicas", signed([]byte{0, 0, 65}), "65 replicas, more than the 64"},
		{"truncated replica", signed(join([]byte{0, 0, 1}, replica(5)[:4])), "truncated replica id"},
		{"missing sequence", signed(join([]byte{0, 0, 1}, replica(5))), "truncated or malformed sequence"},
		{"zero replica", signed(join([]byte{0, 0, 1}, replica(0), []byte{1})), "replica 0 is zero"},
		{"zero sequence", signed(join([]byte{0, 0, 1}, replica(5), []byte{0})), "sequence zero"},
		{"replicas out of order", signed(join([]byte{0, 0, 2}, replica(5), []byte{1}, replica(4), []byte{1})),
			"replica 1 (0000000000000004) is not after replica 0"},
		{"duplicate replica", signed(join([]byte{0, 0, 2}, replica(5), []byte{1}, replica(5), []byte{1})), "is not after"},
		{"trailing bytes", signed([]byte{0, 0, 0, 7}), "1 unexpected bytes after the last replica"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := keys.parse(c.token)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
		})
	}
}

func TestCausalWaitSingleReplica(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.CausalWait = 300 * time.Millisecond })
	const other crdt.ReplicaID = 0xbeef
	var tok causalToken
	tok.see(other, 5)
	header := []string{HeaderCausalToken, e.mint(tok)}

	// The other replica's changes arrive while the request waits.
	go func() {
		time.Sleep(50 * time.Millisecond) // a replication delay, not a wait for a condition
		e.b.SetApplied(other, 5)
	}()
	r := e.do("GET", "/v1/items/a", "", header...)
	r.item(t)
	if r.header.Get(HeaderCausalStale) != "" {
		t.Fatal("answered stale although the replica caught up within CausalWait")
	}
	if got := e.parseToken(t, r.header.Get(HeaderCausalToken)); got.seqs[other] != 5 {
		t.Fatalf("answer token %+v lost the presented replica", got)
	}

	// It never arrives: the answer says it is stale.
	tok.see(other, 6)
	start := time.Now()
	r = e.do("GET", "/v1/items/a", "", HeaderCausalToken, e.mint(tok))
	r.item(t)
	if r.header.Get(HeaderCausalStale) != "true" {
		t.Fatal("no X-Causal-Stale although the replica never caught up")
	}
	if took := time.Since(start); took < 300*time.Millisecond {
		t.Fatalf("answered after %s, before CausalWait ran out", took)
	}
	m := e.do("GET", "/metrics", "")
	for _, want := range []string{"countermesh_api_causal_waits_total 2", "countermesh_api_causal_stale_total 1"} {
		if !strings.Contains(string(m.body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}

	// A token of this peer's own writes never waits.
	w := e.do("POST", "/v1/items/a/counters/claps", `{"by":1}`)
	r = e.do("GET", "/v1/items/a", "", HeaderCausalToken, w.header.Get(HeaderCausalToken))
	if r.item(t).Counters["claps"] != 1 || r.header.Get(HeaderCausalStale) != "" {
		t.Fatalf("read with own token: %s %v", r.body, r.header)
	}
}

// TestTokenMayNotPushTheClock: a token whose timestamp is further ahead of
// this peer's wall clock than MaxTokenAhead — minted by a peer whose clock runs
// ahead, or with a leaked secret — is refused for a reaction, moves no clock and
// writes nothing. Reads and increments, which do not order by the clock, go on.
// Raised beyond the max drift, the bound gives way to the max drift.
func TestTokenMayNotPushTheClock(t *testing.T) {
	e := newEnv(t, nil)
	var tok causalToken
	tok.observe(crdt.Timestamp{Wall: time.Now().Add(5 * time.Second).UnixMilli()})
	h := []string{HeaderCausalToken, e.mint(tok)}
	before := e.b.LastTimestamp()
	for _, req := range []struct{ method, path, body string }{
		{"PUT", "/v1/items/a/reactions/u1", `{"reaction":"like"}`},
		{"DELETE", "/v1/items/a/reactions/u1", ""},
		{"POST", "/v1/ops", `{"ops":[{"op":"react","item":"a","user":"u1","reaction":"like"}]}`},
	} {
		p := e.do(req.method, req.path, req.body, h...).problem(t, http.StatusConflict)
		if !strings.Contains(p.Detail, "ahead of this peer's wall clock; a token may move this peer's clock at most 1s past it") {
			t.Fatalf("%s %s: detail %q", req.method, req.path, p.Detail)
		}
	}
	if after := e.b.LastTimestamp(); after != before {
		t.Fatalf("the refused token moved the clock from %s to %s", before, after)
	}
	if e.b.LastSeq() != 0 {
		t.Fatal("a refused reaction was written")
	}
	e.do("GET", "/v1/items/a", "", h...).item(t)
	e.do("POST", "/v1/items/a/counters/claps", `{"by":1}`, h...).item(t)

	// Past the max drift the clock refuses whatever the bound.
	e.restart(func(c *Config) { c.MaxTokenAhead = time.Hour })
	tok.observe(crdt.Timestamp{Wall: time.Now().Add(5 * time.Minute).UnixMilli()})
	p := e.do("PUT", "/v1/items/a/reactions/u1", `{"reaction":"like"}`, HeaderCausalToken, e.mint(tok)).
		problem(t, http.StatusConflict)
	if !strings.Contains(p.Detail, "ahead of this peer's wall clock, beyond the max drift of 1m0s") {
		t.Fatalf("detail %q", p.Detail)
	}
	if e.b.LastTimestamp().Wall > time.Now().Add(time.Minute).UnixMilli() {
		t.Fatal("the refused timestamp moved the clock")
	}
}

// TestTokenOrdersALaterReaction: in a mesh whose clocks disagree by 30 s, and
// which allows tokens that far ahead, a reaction written with a token minted by
// the peer ahead orders after it.
func TestTokenOrdersALaterReaction(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.MaxTokenAhead = 45 * time.Second })
	ahead := crdt.Timestamp{Wall: time.Now().Add(30 * time.Second).UnixMilli(), Logical: 3}
	var tok causalToken
	tok.observe(ahead)
	r := e.do("PUT", "/v1/items/a/reactions/u1", `{"reaction":"like"}`, HeaderCausalToken, e.mint(tok))
	r.item(t)
	reg := e.b.Register("a", "u1")
	if !ahead.Before(reg.TS) {
		t.Fatalf("register written at %s, not after the token's %s", reg.TS, ahead)
	}
	if got := e.parseToken(t, r.header.Get(HeaderCausalToken)); got.ts.Before(reg.TS) {
		t.Fatalf("answer token %+v is before the written register %s", got, reg.TS)
	}
}
