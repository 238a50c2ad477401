package topology

import (
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// field is one key: value pair of a YAML mapping.
type field struct {
	key, val *yaml.Node
}

// mapping is a YAML mapping's fields, by key, with the line of the mapping.
type mapping struct {
	line   int
	fields map[string]field
}

// maxMappings bounds the mappings read from one file (each region, peer and
// token is one), so that aliases repeating a large list many times cannot make
// reading a file take forever.
const maxMappings = 10000

// maxAliasDepth bounds alias chains: an alias of an alias of ... .
const maxAliasDepth = 32

// deref follows aliases to the node they stand for.
func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && n.Alias != nil && i < maxAliasDepth; i++ {
		n = n.Alias
	}
	return n
}

// describe names a node's type for messages: "a mapping", "an integer", ...
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.DocumentNode:
		return "a document"
	}
	switch n.ShortTag() {
	case "!!str":
		return "a string"
	case "!!int":
		return "an integer"
	case "!!float":
		return "a number"
	case "!!bool":
		return "a boolean"
	case "!!null":
		return "nothing"
	case "!!timestamp":
		return "a timestamp"
	case "!!binary":
		return "binary data"
	}
	return "a value of type " + n.ShortTag()
}

// isNull reports whether a node is an empty value (`key:` or `key: null`).
func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// asMapping reads a mapping node of a thing named what, reporting a node of
// another type, keys that are not strings, keys repeated and keys not in known.
func (ps *problems) asMapping(n *yaml.Node, what string, known []string) (mapping, bool) {
	n = deref(n)
	m := mapping{line: n.Line, fields: map[string]field{}}
	if ps.mappings++; ps.mappings > maxMappings {
		if ps.mappings == maxMappings+1 {
			ps.addf(n.Line, "too many regions, peers and tokens (over %d): stopped reading here", maxMappings)
		}
		return m, false
	}
	if n.Kind != yaml.MappingNode {
		ps.addf(n.Line, "%s: want a mapping, got %s", what, describe(n))
		return m, false
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := deref(n.Content[i]), n.Content[i+1]
		if k.Kind != yaml.ScalarNode || k.ShortTag() != "!!str" {
			ps.addf(k.Line, "%s: field names must be strings, got %s", what, describe(k))
			continue
		}
		if prev, dup := m.fields[k.Value]; dup {
			ps.addf(k.Line, "field %q repeated (first at line %d)", k.Value, prev.key.Line)
			continue
		}
		if !slices.Contains(known, k.Value) {
			ps.addf(k.Line, "unknown field %q in %s (want %s)", k.Value, what, strings.Join(known, ", "))
			continue
		}
		m.fields[k.Value] = field{key: k, val: v}
	}
	return m, true
}

// str reads the string field key of m. A field missing is reported when
// required; a field of another type, or empty, always.
func (ps *problems) str(m mapping, key, owner string, required bool) (string, int, bool) {
	f, ok := m.fields[key]
	if !ok {
		if required {
			ps.addf(m.line, "%s: missing field %q", owner, key)
		}
		return "", m.line, false
	}
	v := deref(f.val)
	switch {
	case isNull(v) || v.Kind == yaml.ScalarNode && v.ShortTag() == "!!str" && v.Value == "":
		ps.addf(f.key.Line, "%s: %s is empty", owner, key)
		return "", f.key.Line, false
	case v.Kind != yaml.ScalarNode || v.ShortTag() != "!!str":
		ps.addf(v.Line, "%s: %s: want a string, got %s", owner, key, describe(v))
		return "", v.Line, false
	}
	return v.Value, v.Line, true
}

// seq reads the sequence field key of m and returns its items (aliases
// followed). A field missing is reported when required; a field of another
// type always. An empty value (`key:`) gives no items.
func (ps *problems) seq(m mapping, key, owner string, required bool) ([]*yaml.Node, int, bool) {
	f, ok := m.fields[key]
	if !ok {
		if required {
			ps.addf(m.line, "%s: missing field %q", owner, key)
		}
		return nil, m.line, false
	}
	v := deref(f.val)
	if isNull(v) {
		return nil, f.key.Line, true
	}
	if v.Kind != yaml.SequenceNode {
		ps.addf(v.Line, "%s: %s: want a list, got %s", owner, key, describe(v))
		return nil, v.Line, false
	}
	items := make([]*yaml.Node, len(v.Content))
	for i, it := range v.Content {
		items[i] = deref(it)
	}
	return items, f.key.Line, true
}
