// Package servecfg configures a peer's HTTP API as countermesh serve does, from
// the topology and the files it names. serve uses it, and so do the meshes
// countermesh dev and countermesh bench start, so that they run what users run.
package servecfg

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/countermesh/countermesh/region/httpapi"
	"github.com/countermesh/countermesh/topology"
)

// DefaultMaxTokenAhead is serve's default for how far past a peer's wall clock
// a causal token may move its clock (--max-token-ahead).
const DefaultMaxTokenAhead = time.Second

// APIConfig configures a peer's HTTP API with the topology's API tokens (their
// scopes and rate limits; the API's default limit for a token that sets none),
// CORS origins and token secrets, as mat holds them. Every other setting is the
// API's default.
func APIConfig(topo *topology.Topology, mat *topology.Material, logger *slog.Logger, tokenAhead time.Duration) (httpapi.Config, error) {
	keys, err := TokenKeys(topo, mat)
	if err != nil {
		return httpapi.Config{}, err
	}
	return httpapi.Config{APITokens: APITokens(topo, mat), CORSOrigins: topo.Security.CORSOrigins,
		TokenKeys: keys, MaxTokenAhead: tokenAhead, Logger: logger}, nil
}

// TokenKeys returns the token secrets of t, as mat holds them. A topology
// without any is refused: every peer of the mesh must verify the causal tokens
// the others mint.
func TokenKeys(t *topology.Topology, mat *topology.Material) ([]httpapi.TokenKey, error) {
	if len(mat.TokenSecrets) == 0 {
		return nil, fmt.Errorf("topology %s lists no security.token_secrets: every peer must verify the causal tokens "+
			"the others mint, with the same secret; make one with countermesh certs init and list it, "+
			"e.g. token_secrets: [{id: k1, file: certs/token.secret}]", t.File)
	}
	keys := make([]httpapi.TokenKey, 0, len(mat.TokenSecrets))
	for _, ts := range mat.TokenSecrets {
		keys = append(keys, httpapi.TokenKey{ID: ts.ID, Secret: ts.Secret})
	}
	return keys, nil
}

// APITokens returns the API tokens of t, with their scopes and rate limits,
// as mat holds them.
func APITokens(t *topology.Topology, mat *topology.Material) []httpapi.APIToken {
	tokens := make([]httpapi.APIToken, 0, len(t.Security.APITokens))
	for _, tok := range t.Security.APITokens {
		tokens = append(tokens, httpapi.APIToken{Name: tok.Name, Token: mat.APITokens[tok.Name],
			Scope: httpapi.Scope(tok.Scope), RateLimit: float64(tok.RateLimit.OpsPerSecond), Burst: tok.RateLimit.Burst})
	}
	return tokens
}
