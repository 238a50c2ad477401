package topology

import (
	"path/filepath"

	"go.yaml.in/yaml/v3"
)

// gossipKeys reads gossip_key: one file, or a list of files of which the
// first encrypts and every one decrypts (a key being rotated in or out).
func (ps *problems) gossipKeys(t *Topology, m mapping) []string {
	const key = "gossip_key"
	f, ok := m.fields[key]
	if !ok {
		ps.addf(m.line, "security: missing field %q", key)
		return nil
	}
	if v := deref(f.val); v.Kind != yaml.SequenceNode {
		if file := ps.path(t, m, key, "security", refGossipKey, ""); file != "" {
			return []string{file}
		}
		return nil
	}
	items, line, _ := ps.seq(m, key, "security", true)
	if len(items) == 0 {
		ps.addf(line, "gossip_key is empty: list at least one key file")
		return nil
	}
	var files []string
	first := map[string]int{}
	for _, n := range items {
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" || n.Value == "" {
			ps.addf(n.Line, "gossip_key: want a file name, got %s", describe(n))
			continue
		}
		if prev, dup := first[n.Value]; dup {
			ps.addf(n.Line, "gossip_key: %q listed twice (first at line %d)", n.Value, prev)
			continue
		}
		first[n.Value] = n.Line
		files = append(files, t.addRef(fileRef{kind: refGossipKey, field: key, written: n.Value, line: n.Line}))
	}
	return files
}

// optionalPath reads a file path field that may be absent: "" then.
func (ps *problems) optionalPath(t *Topology, m mapping, key, owner string, kind refKind, subject string) string {
	if _, ok := m.fields[key]; !ok {
		// Recorded without a path, for the line of messages about it.
		t.refs = append(t.refs, fileRef{kind: kind, field: key, subject: subject, line: m.line})
		return ""
	}
	return ps.path(t, m, key, owner, kind, subject)
}

// addRef resolves r's path as written against t.Dir, records r for Load's
// checks, and returns the resolved path.
func (t *Topology) addRef(r fileRef) string {
	r.path = r.written
	if !filepath.IsAbs(r.written) {
		r.path = filepath.Join(t.Dir, r.written)
	}
	t.refs = append(t.refs, r)
	return r.path
}
