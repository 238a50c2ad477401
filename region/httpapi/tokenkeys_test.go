package httpapi

import (
	"encoding/base64"
	"encoding/binary"
	"maps"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/countermesh/countermesh/crdt"
	"github.com/countermesh/countermesh/region/httpapi/httpapitest"
)

// TestForgedTokensAreRefused: tokens a client makes up, alters, or got from
// another mesh are refused on writes and reads alike; they move no clock and
// write nothing.
func TestForgedTokensAreRefused(t *testing.T) {
	e := newEnv(t, nil)
	future := time.Now().Add(time.Minute).UnixMilli()
	body := binary.AppendUvarint(nil, uint64(future))
	body = append(body, 0, 0) // logical 0, no replicas

	// A genuine token of this mesh, from a read.
	genuine := e.do("GET", "/v1/items/a", "").header.Get(HeaderCausalToken)
	raw, err := base64.RawURLEncoding.DecodeString(genuine)
	if err != nil {
		t.Fatal(err)
	}
	idEnd := 2 + len(testTokenKeys[0].ID)
	bumped := append(append(append([]byte(nil), raw[:idEnd]...), body...), raw[len(raw)-tokenMACLen:]...)
	otherMesh := keysOf(t, TokenKey{ID: testTokenKeys[0].ID, Secret: []byte("another mesh's causal token secret")})
	var tok causalToken
	tok.observe(crdt.Timestamp{Wall: future})
	guessed := append(append([]byte{tokenVersion, byte(len(testTokenKeys[0].ID))}, testTokenKeys[0].ID...), body...)

	cases := []struct{ name, token, want string }{
		// The forgery of the security finding: the unauthenticated version 1
		// with a timestamp a minute ahead.
		{"version 1 from the future", rawToken(append(append([]byte{1}, body[:len(body)-2]...), 0, 0)...),
			"version 1, which carries no MAC"},
		{"made-up MAC", rawToken(append(guessed, make([]byte, tokenMACLen)...)...), "its MAC does not verify"},
		{"genuine token with its timestamp moved", rawToken(bumped...), "its MAC does not verify"},
		{"token of another mesh", otherMesh.mint(tok), "its MAC does not verify"},
		{"unknown key", keysOf(t, TokenKey{ID: "stolen", Secret: []byte("a secret of somebody else")}).mint(tok),
			`signed with key "stolen", which this peer does not hold`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			clock := e.b.LastTimestamp()
			for _, req := range []struct{ method, path, body string }{
				{"PUT", "/v1/items/a/reactions/u1", `{"reaction":"like"}`},
				{"POST", "/v1/ops", `{"ops":[{"op":"react","item":"a","user":"u1","reaction":"like"}]}`},
				{"POST", "/v1/items/a/counters/claps", `{"by":1}`},
				{"GET", "/v1/items/a?user=u1", ""},
			} {
				p := e.do(req.method, req.path, req.body, HeaderCausalToken, c.token).problem(t, http.StatusBadRequest)
				if p.Type != problemTypePrefix+"invalid-causal-token" || !strings.Contains(p.Detail, c.want) {
					t.Fatalf("%s %s: %s %q, want invalid-causal-token containing %q", req.method, req.path, p.Type, p.Detail, c.want)
				}
			}
			if got := e.b.LastTimestamp(); got != clock {
				t.Fatalf("the forged token moved the clock from %s to %s", clock, got)
			}
			if e.b.LastSeq() != 0 {
				t.Fatal("a request with a forged token wrote")
			}
		})
	}
}

// TestTokensCrossPeersAndRotate: a token minted by one peer of the mesh is
// accepted by another; during a rotation, a peer listing the new key first and
// the old one after accepts tokens of peers still signing with the old one, and
// a peer that retired a key refuses tokens signed with it. Keys change live.
func TestTokensCrossPeersAndRotate(t *testing.T) {
	old := testTokenKeys[0]
	next := TokenKey{ID: "test-2", Secret: []byte("the test mesh's next token secret")}
	eu := newEnv(t, func(c *Config) { c.TokenKeys = []TokenKey{next, old} })
	us := newEnv(t, func(c *Config) { c.TokenKeys = []TokenKey{old} })

	w := us.do("PUT", "/v1/items/a/reactions/u1", `{"reaction":"like"}`)
	w.item(t)
	r := eu.do("PUT", "/v1/items/a/reactions/u1", `{"reaction":"dislike"}`, HeaderCausalToken, w.header.Get(HeaderCausalToken))
	if r.item(t).reactionOfUser() != "dislike" {
		t.Fatalf("write in eu with us's token: %s", r.body)
	}
	if got := eu.parseToken(t, r.header.Get(HeaderCausalToken)); got.seqs[us.b.Replica()] != 1 {
		t.Fatalf("eu's answer token %+v lost what us's token saw", got)
	}
	if r.header.Get(HeaderCausalStale) != "true" {
		t.Fatal("eu has not applied us's write, yet its answer is not marked stale")
	}

	// us does not hold eu's new key yet.
	euToken := r.header.Get(HeaderCausalToken)
	p := us.do("GET", "/v1/items/a", "", HeaderCausalToken, euToken).problem(t, http.StatusBadRequest)
	if !strings.Contains(p.Detail, `signed with key "test-2", which this peer does not hold`) {
		t.Fatalf("detail %q", p.Detail)
	}
	if err := us.s.SetTokenKeys([]TokenKey{next, {ID: "short", Secret: []byte("short")}}); err == nil {
		t.Fatal("a secret of 5 bytes was accepted")
	}
	if err := us.s.SetTokenKeys([]TokenKey{next, old}); err != nil {
		t.Fatal(err)
	}
	us.do("GET", "/v1/items/a", "", HeaderCausalToken, euToken).item(t)

	// The old key retires: tokens signed with it are refused.
	oldToken := us.do("GET", "/v1/items/a", "").header.Get(HeaderCausalToken) // signed with next now
	if err := eu.s.SetTokenKeys([]TokenKey{next}); err != nil {
		t.Fatal(err)
	}
	eu.do("GET", "/v1/items/a", "", HeaderCausalToken, oldToken).item(t)
	p = eu.do("GET", "/v1/items/a", "", HeaderCausalToken, w.header.Get(HeaderCausalToken)).problem(t, http.StatusBadRequest)
	if !strings.Contains(p.Detail, `signed with key "test-1", which this peer does not hold`) {
		t.Fatalf("detail %q", p.Detail)
	}
}

func TestBadTokenKeys(t *testing.T) {
	secret := []byte("a secret long enough")
	cases := []struct {
		name string
		keys []TokenKey
		want string
	}{
		{"bad id", []TokenKey{{ID: "Key 1", Secret: secret}}, `bad id "Key 1"`},
		{"empty id", []TokenKey{{Secret: secret}}, `bad id ""`},
		{"duplicate id", []TokenKey{{ID: "k", Secret: secret}, {ID: "k", Secret: secret}}, `id "k" listed twice`},
		{"short secret", []TokenKey{{ID: "k", Secret: secret[:15]}}, "secret of 15 bytes, want at least 16"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := New(Config{Backend: httpapitest.New(httpapitest.Config{}), TokenKeys: c.keys, Logger: quietLogger()})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("New: %v, want an error containing %q", err, c.want)
			}
		})
	}
}

// FuzzParseToken feeds the token reader arbitrary bytes, as sent and as the
// body of a token carrying a valid MAC (what a peer with a bug would mint). It
// must not panic, and whatever it accepts must mint back to the same token.
func FuzzParseToken(f *testing.F) {
	keys := keysOf(f, testTokenKeys...)
	var tok causalToken
	tok.observe(crdt.Timestamp{Wall: 1_700_000_000_123, Logical: 7})
	tok.see(0xaa, 42)
	tok.see(0xffffffffffffffff, 1<<40)
	for _, s := range []string{keys.mint(tok), keys.mint(causalToken{})} {
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(b[2+len(testTokenKeys[0].ID) : len(b)-tokenMACLen]) // the body alone
	}
	f.Add([]byte{1, 0, 0, 0}) // version 1
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, s := range []string{rawToken(b...), signed(b)} {
			got, err := keys.parse(s)
			if err != nil {
				continue
			}
			again, err := keys.parse(keys.mint(got))
			if err != nil {
				t.Fatalf("accepted %q, but its re-minted form is refused: %v", s, err)
			}
			if again.ts != got.ts || !maps.Equal(again.seqs, got.seqs) {
				t.Fatalf("accepted %q as %+v, re-minted it reads %+v", s, got, again)
			}
		}
	})
}
