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

func TestTokenRoundTrip(t *testing.T) {
	var tok causalToken
	tok.observe(crdt.Timestamp{Wall: 1_700_000_000_123, Logical: 7})
	tok.see(0xaa, 42)
	tok.see(0x01, 1)
	tok.see(0xffffffffffffffff, 1<<40)
	s := tok.encode()
	got, err := parseToken(s)
	if err != nil {
		t.Fatal(err)
	}
	if got.ts != tok.ts || len(got.seqs) != 3 || got.seqs[0xaa] != 42 || got.seqs[1] != 1 || got.seqs[0xffffffffffffffff] != 1<<40 {
		t.Fatalf("round trip: %+v, want %+v", got, tok)
	}
	if len(s) > 64 {
		t.Errorf("token of 3 replicas is %d characters; want it compact", len(s))
	}
	var empty causalToken
	if got, err := parseToken(empty.encode()); err != nil || !got.ts.IsZero() || len(got.seqs) != 0 {
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

func TestBadTokens(t *testing.T) {
	replica := func(r uint64) []byte { return binary.BigEndian.AppendUint64(nil, r) }
	join := func(parts ...[]byte) string {
		var b []byte
		for _, p := range parts {
			b = append(b, p...)
		}
		return rawToken(b...)
	}
	cases := []struct{ name, token, want string }{
		{"empty", "", "empty"},
		{"not base64url", "a+b/", "not unpadded base64url"},
		{"padded", rawToken(1, 0, 0, 0) + "==", "not unpadded base64url"},
		{"no bytes", "", "empty"},
		{"wrong version", rawToken(9, 0, 0, 0), "version 9; this peer reads version 1"},
		{"truncated timestamp", rawToken(1, 0x80), "truncated or malformed wall time"},
		{"no replica count", rawToken(1, 0, 0), "truncated or malformed replica count"},
		{"logical out of range", join([]byte{1, 0}, binary.AppendUvarint(nil, 1<<33), []byte{0}), "out of range"},
		{"too many replicas", rawToken(1, 0, 0, 65), "65 replicas, more than the 64"},
		{"truncated replica", join([]byte{1, 0, 0, 1}, replica(5)[:4]), "truncated replica id"},
		{"missing sequence", join([]byte{1, 0, 0, 1}, replica(5)), "truncated or malformed sequence"},
		{"zero replica", join([]byte{1, 0, 0, 1}, replica(0), []byte{1}), "replica 0 is zero"},
		{"zero sequence", join([]byte{1, 0, 0, 1}, replica(5), []byte{0}), "sequence zero"},
		{"replicas out of order", join([]byte{1, 0, 0, 2}, replica(5), []byte{1}, replica(4), []byte{1}), "replica 1 (0000000000000004) is not after replica 0"},
		{"duplicate replica", join([]byte{1, 0, 0, 2}, replica(5), []byte{1}, replica(5), []byte{1}), "is not after"},
		{"trailing bytes", rawToken(1, 0, 0, 0, 7), "1 unexpected bytes after the last replica"},
		{"too long", strings.Repeat("A", maxTokenLen+1), "longer than any token"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := parseToken(c.token)
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
	header := []string{HeaderCausalToken, tok.encode()}

	// The other replica's changes arrive while the request waits.
	go func() {
		time.Sleep(50 * time.Millisecond) // a replication delay, not a wait for a condition
		e.b.setApplied(other, 5)
	}()
	r := e.do("GET", "/v1/items/a", "", header...)
	r.item(t)
	if r.header.Get(HeaderCausalStale) != "" {
		t.Fatal("answered stale although the replica caught up within CausalWait")
	}
	got, err := parseToken(r.header.Get(HeaderCausalToken))
	if err != nil || got.seqs[other] != 5 {
		t.Fatalf("answer token %+v (%v) lost the presented replica", got, err)
	}

	// It never arrives: the answer says it is stale.
	tok.see(other, 6)
	start := time.Now()
	r = e.do("GET", "/v1/items/a", "", HeaderCausalToken, tok.encode())
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

func TestTokenBeyondMaxDriftIsRefusedForReactions(t *testing.T) {
	e := newEnv(t, nil)
	var tok causalToken
	tok.observe(crdt.Timestamp{Wall: time.Now().Add(5 * time.Minute).UnixMilli()})
	h := []string{HeaderCausalToken, tok.encode()}
	p := e.do("PUT", "/v1/items/a/reactions/u1", `{"reaction":"like"}`, h...).problem(t, http.StatusConflict)
	if !strings.Contains(p.Detail, "ahead of this peer's wall clock, beyond the max drift of 1m0s") {
		t.Fatalf("detail %q", p.Detail)
	}
	if e.b.store.Clock().Last().Wall > time.Now().Add(time.Minute).UnixMilli() {
		t.Fatal("the refused timestamp moved the clock")
	}
	if e.b.store.LastSeq() != 0 {
		t.Fatal("the refused reaction was written")
	}
	// Reads and increments do not order by the clock: they go on.
	e.do("GET", "/v1/items/a", "", h...).item(t)
	e.do("POST", "/v1/items/a/counters/claps", `{"by":1}`, h...).item(t)
}

func TestTokenOrdersALaterReaction(t *testing.T) {
	e := newEnv(t, nil)
	// A token from a peer whose clock is 30 s ahead: the reaction written with it
	// must carry a later timestamp than the token's.
	ahead := crdt.Timestamp{Wall: time.Now().Add(30 * time.Second).UnixMilli(), Logical: 3}
	var tok causalToken
	tok.observe(ahead)
	r := e.do("PUT", "/v1/items/a/reactions/u1", `{"reaction":"like"}`, HeaderCausalToken, tok.encode())
	r.item(t)
	reg, err := e.b.store.Register("a", "u1")
	if err != nil {
		t.Fatal(err)
	}
	if !ahead.Before(reg.TS) {
		t.Fatalf("register written at %s, not after the token's %s", reg.TS, ahead)
	}
	got, err := parseToken(r.header.Get(HeaderCausalToken))
	if err != nil || got.ts.Before(reg.TS) {
		t.Fatalf("answer token %+v (%v) is before the written register %s", got, err, reg.TS)
	}
}
