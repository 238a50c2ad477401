package pki

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
)

// GossipKeySize is the size of the gossip encryption key (AES-256-GCM).
const GossipKeySize = 32

// ErrBadGossipKey is returned by [ParseGossipKey] for data that is not a base64
// encoded key of [GossipKeySize] bytes.
var ErrBadGossipKey = errors.New("pki: bad gossip key")

// NewGossipKey returns a new random gossip encryption key of [GossipKeySize]
// bytes. Store it with [EncodeGossipKey].
func NewGossipKey() []byte {
	k := make([]byte, GossipKeySize)
	_, _ = rand.Read(k) // never fails
	return k
}

// EncodeGossipKey returns a gossip key as stored in its file: standard base64
// and a newline.
func EncodeGossipKey(key []byte) []byte {
	return []byte(base64.StdEncoding.EncodeToString(key) + "\n")
}

// ParseGossipKey reads a gossip key file's content: standard base64 of
// [GossipKeySize] bytes, surrounding white space ignored.
func ParseGossipKey(data []byte) ([]byte, error) {
	return parseSecret(data, GossipKeySize, ErrBadGossipKey)
}

// TokenSecretSize is the size of a causal token secret (an HMAC-SHA256 key).
const TokenSecretSize = 32

// ErrBadTokenSecret is returned by [ParseTokenSecret] for data that is not a
// base64 encoded secret of [TokenSecretSize] bytes.
var ErrBadTokenSecret = errors.New("pki: bad token secret")

// NewTokenSecret returns a new random secret of [TokenSecretSize] bytes for
// the MACs of causal tokens. Store it with [EncodeTokenSecret].
func NewTokenSecret() []byte { return NewGossipKey() }

// EncodeTokenSecret returns a token secret as stored in its file: standard
// base64 and a newline.
func EncodeTokenSecret(secret []byte) []byte { return EncodeGossipKey(secret) }

// ParseTokenSecret reads a token secret file's content: standard base64 of
// [TokenSecretSize] bytes, surrounding white space ignored.
func ParseTokenSecret(data []byte) ([]byte, error) {
	return parseSecret(data, TokenSecretSize, ErrBadTokenSecret)
}

// parseSecret reads standard base64 of size bytes, surrounding white space
// ignored; its errors wrap bad.
func parseSecret(data []byte, size int, bad error) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(string(bytes.TrimSpace(data)))
	if err != nil {
		return nil, fmt.Errorf("%w: not base64: %w", bad, err)
	}
	if len(key) != size {
		return nil, fmt.Errorf("%w: %d bytes, want %d", bad, len(key), size)
	}
	return key, nil
}

// NewToken returns a new random bearer token for the HTTP API: 32 random bytes,
// base64url without padding (43 characters).
func NewToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails
	return base64.RawURLEncoding.EncodeToString(b)
}
