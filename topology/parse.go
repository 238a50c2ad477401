package topology

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/countermesh/countermesh/topology/pki"
)

// Fields of each mapping of the schema, in the order the package doc lists them.
var (
	topologyFields = []string{"mesh", "reaction_kinds", "security", "regions"}
	securityFields = []string{"ca", "gossip_key", "api_tokens", "token_secrets", "cors_origins"}
	tokenFields    = []string{"name", "file", "scope", "rate_limit"}
	rateFields     = []string{"ops_per_second", "burst"}
	secretFields   = []string{"id", "file"}
	regionFields   = []string{"name", "peers"}
	peerFields     = []string{"name", "gossip", "sync", "api", "cert", "key", "memory"}
)

// Name rules.
var (
	reactionKindRE = regexp.MustCompile(`^[a-z0-9_-]{1,32}$`)
	tokenNameRE    = regexp.MustCompile(`^[a-z0-9_-]{1,63}$`)
)

const (
	nameRule         = "want 1-63 lowercase letters, digits or hyphens, not starting or ending with a hyphen"
	reactionKindRule = "want 1-32 lowercase letters, digits, '_' or '-'"
	tokenNameRule    = "want 1-63 lowercase letters, digits, '_' or '-'"
)

// Parse parses and validates a topology file's content. file names it in
// problems and relative paths are resolved against its directory; Parse does
// not touch the file system. It returns an *Error listing every problem found.
func Parse(file string, data []byte) (*Topology, error) {
	t, ps := parse(file, filepath.Dir(file), data)
	if err := ps.err(); err != nil {
		return nil, err
	}
	return t, nil
}

// parse parses what it can of data, resolving paths against dir, and returns it
// with the problems found.
func parse(file, dir string, data []byte) (*Topology, *problems) {
	ps := &problems{file: file}
	t := &Topology{File: file, Dir: dir}
	root, err := decodeDocument(data)
	if err != nil {
		ps.addYAMLError(err)
		return t, ps
	}
	if root == nil {
		ps.addf(0, "empty topology")
		return t, ps
	}
	m, ok := ps.asMapping(root, "topology", topologyFields)
	if !ok {
		return t, ps
	}
	if mesh, line, ok := ps.str(m, "mesh", "topology", true); ok {
		if !pki.ValidName(mesh) {
			ps.addf(line, "bad mesh name %q: %s", mesh, nameRule)
		}
		t.Mesh = mesh
	}
	t.ReactionKinds = ps.reactionKinds(m)
	if f, ok := m.fields["security"]; ok {
		t.Security = ps.security(t, f.val)
	} else {
		ps.addf(m.line, "topology: missing field %q", "security")
	}
	var addrs []addrUse
	t.Regions, addrs = ps.regions(t, m)
	ps.checkDuplicateAddresses(addrs)
	return t, ps
}

// decodeDocument decodes the one YAML document of data; nil if there is none.
func decodeDocument(data []byte) (root *yaml.Node, err error) {
	defer func() {
		// The YAML library is not known to panic, but a bad file must never
		// crash a running peer on reload.
		if r := recover(); r != nil {
			root, err = nil, fmt.Errorf("yaml: %v", r)
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	var next yaml.Node
	if err := dec.Decode(&next); err == nil {
		return nil, fmt.Errorf("yaml: line %d: more than one document", next.Line)
	} else if !errors.Is(err, io.EOF) {
		return nil, err
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil, nil
	}
	return doc.Content[0], nil
}

// yamlErrRE matches the YAML library's errors that carry a line.
var yamlErrRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parserProblems are the messages of the YAML library's parser (as opposed to
// its scanner). It reports them at a 0-based line: one before the line meant.
var parserProblems = []string{
	"did not find expected ',' or ']'",
	"did not find expected ',' or '}'",
	"did not find expected '-' indicator",
	"did not find expected <document start>",
	"did not find expected <stream-start>",
	"did not find expected key",
	"did not find expected node content",
	"found duplicate %TAG directive",
	"found duplicate %YAML directive",
	"found incompatible YAML document",
	"found undefined tag handle",
}

// addYAMLError reports a syntax error of the YAML library at its line.
func (ps *problems) addYAMLError(err error) {
	msg := err.Error()
	if sm := yamlErrRE.FindStringSubmatch(msg); sm != nil {
		line, _ := strconv.Atoi(sm[1])
		if slices.Contains(parserProblems, sm[2]) {
			line++
		}
		ps.addf(line, "bad YAML: %s", sm[2])
		return
	}
	ps.addf(0, "bad YAML: %s", strings.TrimPrefix(msg, "yaml: "))
}

// reactionKinds reads reaction_kinds: a non-empty list of unique kinds.
func (ps *problems) reactionKinds(m mapping) []string {
	items, line, ok := ps.seq(m, "reaction_kinds", "topology", true)
	if !ok {
		return nil
	}
	if len(items) == 0 {
		ps.addf(line, "reaction_kinds is empty: list at least one reaction kind")
		return nil
	}
	return ps.uniqueStrings(items, "reaction kind", func(kind string) string {
		if !reactionKindRE.MatchString(kind) {
			return reactionKindRule
		}
		return ""
	})
}

// uniqueStrings reads a list of unique strings, each a what: check says what
// is wrong with one, or "". It returns the valid ones, in file order.
func (ps *problems) uniqueStrings(items []*yaml.Node, what string, check func(string) string) []string {
	var valid []string
	first := map[string]int{}
	for _, n := range items {
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
			ps.addf(n.Line, "%s: want a string, got %s", what, describe(n))
			continue
		}
		if msg := check(n.Value); msg != "" {
			ps.addf(n.Line, "bad %s %q: %s", what, n.Value, msg)
			continue
		}
		if prev, dup := first[n.Value]; dup {
			ps.addf(n.Line, "%s %q listed twice (first at line %d)", what, n.Value, prev)
			continue
		}
		first[n.Value] = n.Line
		valid = append(valid, n.Value)
	}
	return valid
}

// security reads the security section.
func (ps *problems) security(t *Topology, n *yaml.Node) Security {
	var s Security
	m, ok := ps.asMapping(n, "security", securityFields)
	if !ok {
		return s
	}
	s.CA = ps.path(t, m, "ca", "security", refCA, "")
	s.GossipKeys = ps.gossipKeys(t, m)
	ps.namedFiles(t, m, "api_tokens", "api token", "name", tokenFields, refToken, func(name, file string, tm mapping) {
		owner := fmt.Sprintf("api token %q", name)
		s.APITokens = append(s.APITokens, APIToken{Name: name, File: file, Scope: ps.scope(tm, owner),
			RateLimit: ps.rateLimit(tm, owner)})
	})
	ps.namedFiles(t, m, "token_secrets", "token secret", "id", secretFields, refTokenSecret, func(id, file string, _ mapping) {
		s.TokenSecrets = append(s.TokenSecrets, TokenSecret{ID: id, File: file})
	})
	s.CORSOrigins = ps.corsOrigins(m)
	return s
}

// namedFiles reads the optional list key of m: mappings of fields, each a
// unique name (its field nameField) and a file; add gets each valid one with
// its mapping.
func (ps *problems) namedFiles(t *Topology, m mapping, key, what, nameField string, fields []string, kind refKind,
	add func(name, file string, m mapping)) {
	items, _, _ := ps.seq(m, key, "security", false)
	first := map[string]int{}
	for _, it := range items {
		tm, ok := ps.asMapping(it, what, fields)
		if !ok {
			continue
		}
		name, line, ok := ps.str(tm, nameField, what, true)
		owner := what
		if ok {
			owner = fmt.Sprintf("%s %q", what, name)
		}
		file := ps.path(t, tm, "file", owner, kind, name)
		switch prev, dup := first[name]; {
		case !ok:
		case !tokenNameRE.MatchString(name):
			ps.addf(line, "bad %s %s %q: %s", what, nameField, name, tokenNameRule)
		case dup:
			ps.addf(line, "%s %q defined twice (first at line %d)", what, name, prev)
		default:
			first[name] = line
			add(name, file, tm)
		}
	}
}

// path reads a required file path field, resolves it against t.Dir and
// records it for Load's checks.
func (ps *problems) path(t *Topology, m mapping, key, owner string, kind refKind, subject string) string {
	p, line, ok := ps.str(m, key, owner, true)
	if !ok {
		return ""
	}
	return t.addRef(fileRef{kind: kind, field: key, subject: subject, written: p, line: line})
}
