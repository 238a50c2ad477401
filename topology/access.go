package topology

import (
	"net/url"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// maxOpsPerSecond bounds a token's rate limit and burst: far above what any
// peer serves, low enough that a typo of many zeros is caught.
const maxOpsPerSecond = 1_000_000_000

// scope reads the optional scope of an api token: ScopeWrite when absent.
func (ps *problems) scope(m mapping, owner string) string {
	s, line, ok := ps.str(m, "scope", owner, false)
	switch {
	case !ok:
		if _, present := m.fields["scope"]; present {
			return "" // reported
		}
		return ScopeWrite
	case s != ScopeWrite && s != ScopeRead:
		ps.addf(line, "%s: unknown scope %q: want %s (frontends: everything) or %s (browsers: reads and live streams)",
			owner, s, ScopeWrite, ScopeRead)
		return ""
	}
	return s
}

// rateLimit reads the optional rate_limit of an api token: a mapping of
// ops_per_second (required) and burst (default twice ops_per_second).
func (ps *problems) rateLimit(m mapping, owner string) RateLimit {
	f, ok := m.fields["rate_limit"]
	if !ok {
		return RateLimit{}
	}
	owner += ": rate_limit"
	rm, ok := ps.asMapping(f.val, owner, rateFields)
	if !ok {
		return RateLimit{}
	}
	var r RateLimit
	if _, ok := rm.fields["ops_per_second"]; !ok {
		ps.addf(rm.line, "%s: missing field %q", owner, "ops_per_second")
	}
	r.OpsPerSecond = ps.count(rm, "ops_per_second", owner)
	r.Burst = ps.count(rm, "burst", owner)
	if r.Burst == 0 {
		r.Burst = 2 * r.OpsPerSecond
	}
	return r
}

// count reads the optional field key of m, a whole number of operations from
// 1 to maxOpsPerSecond; 0 when absent or bad (reported).
func (ps *problems) count(m mapping, key, owner string) int {
	f, ok := m.fields[key]
	if !ok {
		return 0
	}
	v := deref(f.val)
	if v.Kind != yaml.ScalarNode || v.ShortTag() != "!!int" {
		ps.addf(v.Line, "%s: %s: want a whole number of operations, got %s", owner, key, describe(v))
		return 0
	}
	n, err := strconv.ParseInt(strings.ReplaceAll(v.Value, "_", ""), 0, 64)
	if err != nil || n < 1 || n > maxOpsPerSecond {
		ps.addf(v.Line, "%s: %s is %s: want 1 to %d", owner, key, v.Value, maxOpsPerSecond)
		return 0
	}
	return int(n)
}

// corsOrigins reads the optional cors_origins of the security section: unique
// origins, each written exactly as browsers send it in the Origin header.
func (ps *problems) corsOrigins(m mapping) []string {
	items, _, _ := ps.seq(m, "cors_origins", "security", false)
	return ps.uniqueStrings(items, "cors origin", originProblem)
}

// originProblem says what keeps o from being an origin as browsers send it
// (scheme://host[:port], lowercase, no default port, no path), or "".
func originProblem(o string) string {
	const want = "want scheme://host[:port] as browsers send it, e.g. https://www.example.com"
	if o == "*" {
		return "list each origin; a wildcard is not accepted"
	}
	u, err := url.Parse(o)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" {
		return want
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" || strings.ContainsAny(o, "?#") || (u.Path != "" && u.Path != "/") {
		return "an origin has no user, path, query or fragment: " + want
	}
	host := strings.ToLower(u.Hostname())
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port := u.Port(); port != "" && !(u.Scheme == "http" && port == "80" || u.Scheme == "https" && port == "443") {
		host += ":" + port
	}
	if canonical := strings.ToLower(u.Scheme) + "://" + host; canonical != o {
		return "browsers send it as " + strconv.Quote(canonical) + "; write that"
	}
	return ""
}
