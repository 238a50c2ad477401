package httpapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"
)

// authenticator checks bearer tokens. It keeps only hashes of the tokens and
// compares a presented token with every one of them in constant time, so
// neither the comparison nor the number of tokens tried leaks a token.
type authenticator struct {
	tokens []namedToken // empty: the API is open
}

type namedToken struct {
	hash [sha256.Size]byte
	name string
}

func newAuthenticator(tokens map[string]string) authenticator {
	var a authenticator
	for token, name := range tokens {
		a.tokens = append(a.tokens, namedToken{sha256.Sum256([]byte(token)), name})
	}
	return a
}

// open reports whether the API runs without authentication.
func (a authenticator) open() bool { return len(a.tokens) == 0 }

// wwwAuthenticate is the challenge of a 401.
const wwwAuthenticate = `Bearer realm="countermesh"`

// authenticate returns the name of the request's bearer token, or a 401.
func (a authenticator) authenticate(r *http.Request) (string, *Problem) {
	values := r.Header.Values("Authorization")
	if len(values) == 0 {
		return "", unauthorized(wwwAuthenticate,
			`missing bearer token: send "Authorization: Bearer <token>"`)
	}
	scheme, token, ok := strings.Cut(values[0], " ")
	token = strings.TrimSpace(token)
	if len(values) > 1 || !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return "", unauthorized(wwwAuthenticate+`, error="invalid_request"`,
			`malformed Authorization header: want exactly one "Authorization: Bearer <token>"`)
	}
	h := sha256.Sum256([]byte(token))
	found := -1
	for i, t := range a.tokens {
		if subtle.ConstantTimeCompare(h[:], t.hash[:]) == 1 {
			found = i
		}
	}
	if found < 0 {
		return "", unauthorized(wwwAuthenticate+`, error="invalid_token"`, "unknown bearer token")
	}
	return a.tokens[found].name, nil
}

func unauthorized(challenge, detail string) *Problem {
	return newProblem("unauthorized", http.StatusUnauthorized, "Unauthorized", "%s", detail).
		withHeader("WWW-Authenticate", challenge)
}
