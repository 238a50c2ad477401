package httpapi

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"hash"
	"regexp"
	"sync"
)

// TokenKey is a secret the peers of a mesh sign and verify causal tokens with.
// Every peer of a mesh must hold the same keys, or a token minted by one is
// refused by another.
type TokenKey struct {
	// ID names the key in the tokens it signs: 1 to 63 lowercase letters,
	// digits, '_' or '-'. It is not secret.
	ID string
	// Secret is the key's secret: at least MinTokenSecretLen random bytes
	// (countermesh certs init makes 32).
	Secret []byte
}

// keyIDRE is the rule of a TokenKey's ID.
var keyIDRE = regexp.MustCompile(`^[a-z0-9_-]{1,63}$`)

// tokenKeys mints causal tokens with its first key and reads tokens signed by
// any of its keys. It is not changed once made.
type tokenKeys struct {
	signer TokenKey
	signs  *macPool            // MACs under the signing key
	byID   map[string]*macPool // MACs under each key, by key id
}

// newTokenKeys checks keys and returns them as a key ring: the first signs,
// every one verifies.
func newTokenKeys(keys []TokenKey) (*tokenKeys, error) {
	if len(keys) == 0 {
		return nil, fmt.Errorf("no token keys")
	}
	k := &tokenKeys{signer: keys[0], byID: make(map[string]*macPool, len(keys))}
	for i, key := range keys {
		switch _, dup := k.byID[key.ID]; {
		case !keyIDRE.MatchString(key.ID):
			return nil, fmt.Errorf("token key %d: bad id %q: want 1-63 lowercase letters, digits, '_' or '-'", i, key.ID)
		case dup:
			return nil, fmt.Errorf("token key %d: id %q listed twice", i, key.ID)
		case len(key.Secret) < MinTokenSecretLen:
			return nil, fmt.Errorf("token key %q: secret of %d bytes, want at least %d", key.ID, len(key.Secret), MinTokenSecretLen)
		}
		k.byID[key.ID] = newMACPool(key.Secret)
	}
	k.signs = k.byID[k.signer.ID]
	return k, nil
}

// processTokenKey is the token key of a Server configured without one: random,
// made once per process and shared by every Server of the process, so that the
// peers of a mesh in one process (tests, benchmarks) accept each other's
// tokens. No other process accepts them.
var processTokenKey = sync.OnceValue(func() TokenKey {
	secret := make([]byte, 32)
	_, _ = rand.Read(secret) // never fails
	return TokenKey{ID: "process", Secret: secret}
})

// macPool makes the MACs of tokens under one secret with HMAC states it
// reuses: a new one costs several allocations and hashing the key, and every
// answer carries a token.
type macPool struct{ states sync.Pool }

func newMACPool(secret []byte) *macPool {
	secret = bytes.Clone(secret)
	p := &macPool{}
	p.states.New = func() any { return hmac.New(sha256.New, secret) }
	return p
}

// appendMAC appends the MAC of a token's bytes b to dst.
func (p *macPool) appendMAC(dst, b []byte) []byte {
	h := p.states.Get().(hash.Hash)
	defer p.states.Put(h)
	h.Reset()
	h.Write([]byte(tokenMACContext))
	h.Write(b)
	var sum [sha256.Size]byte
	return append(dst, h.Sum(sum[:0])[:tokenMACLen]...)
}

// mint returns the text of t, signed with the signing key.
func (k *tokenKeys) mint(t causalToken) string {
	id := k.signer.ID
	b := make([]byte, 0, 2+len(id)+3*10+len(t.seqs)*18+tokenMACLen)
	b = append(b, tokenVersion, byte(len(id)))
	b = append(b, id...)
	b = t.appendBody(b)
	b = k.signs.appendMAC(b, b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// parse reads the text of a token, refusing one no key of k signed, or says
// precisely what is wrong with it. Nothing but the version, the key id and the
// MAC is read before the MAC verifies.
func (k *tokenKeys) parse(s string) (causalToken, error) {
	switch {
	case s == "":
		return causalToken{}, fmt.Errorf("empty")
	case len(s) > maxTokenLen:
		return causalToken{}, fmt.Errorf("%d characters long, longer than any token (%d)", len(s), maxTokenLen)
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return causalToken{}, fmt.Errorf("not unpadded base64url: %w", err)
	}
	switch {
	case len(b) == 0:
		return causalToken{}, fmt.Errorf("truncated: no version byte")
	case b[0] == 1:
		return causalToken{}, fmt.Errorf("version 1, which carries no MAC and is no longer accepted; "+
			"send a token a peer of this mesh minted (version %d)", tokenVersion)
	case b[0] != tokenVersion:
		return causalToken{}, fmt.Errorf("version %d; this peer reads version %d", b[0], tokenVersion)
	case len(b) < 2:
		return causalToken{}, fmt.Errorf("truncated: no key id")
	}
	idLen := int(b[1])
	if idLen == 0 || idLen > maxKeyIDLen {
		return causalToken{}, fmt.Errorf("key id of %d bytes; want 1 to %d", idLen, maxKeyIDLen)
	}
	if len(b) < 2+idLen+tokenMACLen {
		return causalToken{}, fmt.Errorf("truncated: %d bytes, too short for a key id of %d bytes and a MAC", len(b), idLen)
	}
	id := string(b[2 : 2+idLen])
	macs, ok := k.byID[id]
	if !ok {
		return causalToken{}, fmt.Errorf("signed with key %q, which this peer does not hold: "+
			"the token was not minted by a peer of this mesh, or with a key retired since", id)
	}
	signed, mac := b[:len(b)-tokenMACLen], b[len(b)-tokenMACLen:]
	var want [tokenMACLen]byte
	if !hmac.Equal(mac, macs.appendMAC(want[:0], signed)) {
		return causalToken{}, fmt.Errorf("its MAC does not verify under key %q: the token was not minted by a peer of this mesh, "+
			"or was altered", id)
	}
	return parseBody(signed[2+idLen:])
}
