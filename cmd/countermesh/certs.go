package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/countermesh/countermesh/topology"
	"github.com/countermesh/countermesh/topology/pki"
)

const certsUsage = `Usage:
  countermesh certs init --topology FILE [--out DIR] [--ca-key FILE] [--force]
  countermesh certs issue --topology FILE --ca-key FILE --peer NAME --out DIR [--force]

init makes the security material of the mesh a topology file describes, in DIR
(by default the directory the topology names for its CA certificate): a new CA certificate (ca.crt), a certificate and key per peer for the hosts of its
addresses, the gossip key, one file per api_tokens entry and one secret per
token_secrets entry (token.secret when the topology lists none). Files the topology
names under DIR are written where it names them; others get a default name in
DIR. The CA key goes apart from all of them, to --ca-key (default ca-key/ca.key
beside DIR): no peer needs it, only certs issue does. Keep it offline. Nothing is
written if any of the files exists, unless --force is given.

issue makes a new certificate and key for one peer of the topology (a peer being
added, or one whose key is to be replaced) with the mesh's existing CA: the CA
certificate the topology names and its key, --ca-key. They go where the topology
names them under DIR, or to DIR/NAME.crt and DIR/NAME.key. Only that peer's host
needs them.

Examples:
  countermesh certs init --topology topology.yaml --out certs
  countermesh certs issue --topology topology.yaml --ca-key ca-key/ca.key --peer sa-east-1 --out certs
`

// certsConfig is what the flags of "certs init" and "certs issue" set.
type certsConfig struct {
	topology string
	out      string
	caKey    string // init: where to write the CA key; issue: where to read it
	peer     string // issue: the peer to issue for
	force    bool
}

// runCerts runs "countermesh certs SUBCOMMAND ...".
func runCerts(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, certsUsage)
		return fmt.Errorf("%w: certs: want a subcommand: init or issue", errUsage)
	}
	switch args[0] {
	case "init", "issue":
		c, err := parseCerts(args[0], args[1:], stdout)
		if err != nil {
			return err
		}
		if args[0] == "issue" {
			return certsIssue(c, stdout, stderr)
		}
		return certsInit(c, stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, certsUsage)
		return nil
	}
	fmt.Fprint(stderr, certsUsage)
	return fmt.Errorf("%w: certs: unknown subcommand %q", errUsage, args[0])
}

// parseCerts parses the flags of "certs init" or "certs issue" (sub).
func parseCerts(sub string, args []string, stdout io.Writer) (certsConfig, error) {
	var c certsConfig
	name := "certs " + sub
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.StringVar(&c.topology, "topology", "", "topology file (required)")
	fs.StringVar(&c.out, "out", "", "directory to write the files to (init: default the directory of the topology's CA certificate)")
	fs.BoolVar(&c.force, "force", false, "overwrite files that exist")
	required := "--topology is required"
	if sub == "issue" {
		fs.StringVar(&c.caKey, "ca-key", "", "the mesh's CA key, as certs init wrote it (required)")
		fs.StringVar(&c.peer, "peer", "", "the peer to issue a certificate and key for (required)")
		required = "--topology, --ca-key, --peer and --out are required"
	} else {
		fs.StringVar(&c.caKey, "ca-key", "", "where to write the CA key (default ca-key/ca.key beside --out)")
	}
	if err := parseFlags(fs, certsUsage, args, stdout); err != nil {
		return c, err
	}
	switch {
	case fs.NArg() > 0:
		return c, fmt.Errorf("%w: %s: unexpected argument %q", errUsage, name, fs.Arg(0))
	case c.topology == "" || sub == "issue" && (c.out == "" || c.caKey == "" || c.peer == ""):
		return c, fmt.Errorf("%w: %s: %s", errUsage, name, required)
	}
	return c, nil
}

// output is one file certs init writes.
type output struct {
	path  string      // absolute
	what  string      // what it is, for humans
	mode  fs.FileMode // 0600 for secrets
	named bool        // the topology names this path
	// wanted is the path the topology names, when it is not under the output
	// directory and the file goes to path instead.
	wanted string
	// content makes the file's content; ca is the mesh's new CA.
	content func(ca *pki.CA) ([]byte, error)
	data    []byte // filled by generate
}

// place returns the file of what to write in the directory out: where the
// topology names it (named) when that is under out, else def in out.
func place(out, named, def, what string, mode fs.FileMode, content func(*pki.CA) ([]byte, error)) *output {
	o := &output{path: filepath.Join(out, def), what: what, mode: mode, content: content}
	if named != "" {
		abs, err := filepath.Abs(named)
		if err == nil && under(out, abs) {
			o.path, o.named = abs, true
		} else {
			o.wanted = named
		}
	}
	return o
}

// planOutputs lists the files to write for t in the directory out: CA
// certificate, CA key (to caKey, apart), gossip keys, API tokens, token
// secrets, then each peer's certificate and key.
func planOutputs(t *topology.Topology, out, caKey string) ([]*output, error) {
	var plan []*output
	add := func(named, def, what string, mode fs.FileMode, content func(*pki.CA) ([]byte, error)) *output {
		o := place(out, named, def, what, mode, content)
		plan = append(plan, o)
		return o
	}
	add(t.Security.CA, "ca.crt", "CA certificate", 0o644,
		func(ca *pki.CA) ([]byte, error) { return ca.CertPEM(), nil })
	if under(out, caKey) {
		return nil, fmt.Errorf("the CA key would be %s, among the files peers get: give --ca-key a file outside %s", caKey, out)
	}
	plan = append(plan, &output{path: caKey, what: "CA key: keep it offline, only certs issue needs it", mode: 0o600,
		content: func(ca *pki.CA) ([]byte, error) { return ca.KeyPEM(), nil }})
	for i, key := range t.Security.GossipKeys {
		def := "gossip.key"
		if i > 0 {
			def = fmt.Sprintf("gossip-%d.key", i+1)
		}
		add(key, def, "gossip key", 0o600,
			func(*pki.CA) ([]byte, error) { return pki.EncodeGossipKey(pki.NewGossipKey()), nil })
	}
	for _, tok := range t.Security.APITokens {
		add(tok.File, tok.Name+".token", "API token "+tok.Name, 0o600,
			func(*pki.CA) ([]byte, error) { return []byte(pki.NewToken() + "\n"), nil })
	}
	newSecret := func(*pki.CA) ([]byte, error) { return pki.EncodeTokenSecret(pki.NewTokenSecret()), nil }
	for _, ts := range t.Security.TokenSecrets {
		add(ts.File, ts.ID+".secret", "token secret "+ts.ID, 0o600, newSecret)
	}
	if len(t.Security.TokenSecrets) == 0 {
		add("", defaultTokenSecret, "token secret, not yet in the topology", 0o600, newSecret)
	}
	for _, p := range t.Peers() {
		pair := &issued{id: pki.PeerIdentity{Mesh: t.Mesh, Region: p.Region, Name: p.Name, Hosts: peerHosts(p)}}
		add(p.Cert, p.Name+".crt", "certificate of peer "+p.Name, 0o644, pair.cert)
		add(p.Key, p.Name+".key", "key of peer "+p.Name, 0o600, pair.key)
	}
	topoFile, err := filepath.Abs(t.File)
	if err != nil {
		return nil, err
	}
	seen := map[string]string{topoFile: "topology file"}
	for _, o := range plan {
		if prev, dup := seen[o.path]; dup {
			return nil, fmt.Errorf("the %s and the %s would both be %s: give them different files in the topology", o.what, prev, o.path)
		}
		seen[o.path] = o.what
	}
	return plan, nil
}

// certsInit runs "countermesh certs init".
func certsInit(c certsConfig, stdout, stderr io.Writer) error {
	data, err := os.ReadFile(c.topology)
	if err != nil {
		return fmt.Errorf("certs init: %w", err)
	}
	t, err := topology.Parse(c.topology, data)
	if err != nil {
		return reportInvalid(c.topology, err, stderr)
	}
	if c.out == "" {
		// The files go where the topology names them: beside its CA certificate.
		c.out = filepath.Join(t.Dir, "certs")
		if t.Security.CA != "" {
			c.out = filepath.Dir(t.Security.CA)
		}
	}
	out, err := filepath.Abs(c.out)
	if err != nil {
		return fmt.Errorf("certs init: %w", err)
	}
	caKey := filepath.Join(filepath.Dir(out), "ca-key", "ca.key")
	if c.caKey != "" {
		if caKey, err = filepath.Abs(c.caKey); err != nil {
			return fmt.Errorf("certs init: %w", err)
		}
	}
	plan, err := planOutputs(t, out, caKey)
	if err != nil {
		return fmt.Errorf("certs init: %w", err)
	}
	if err := checkPlan("certs init", plan, c, stderr); err != nil {
		return err
	}
	if err := generate(t.Mesh, plan); err != nil {
		return fmt.Errorf("certs init: %w", err)
	}
	if err := writePlan(plan, c, out, stdout); err != nil {
		return fmt.Errorf("certs init: %w", err)
	}
	if len(t.Security.TokenSecrets) == 0 {
		fmt.Fprintf(stdout, "note: the topology lists no token_secrets, and serve needs one; add to its security section:\n"+
			"  token_secrets:\n    - id: k1\n      file: %s\n", topologyPath(t, filepath.Join(out, defaultTokenSecret)))
	}
	return nil
}

// writePlan writes the planned files, saying so on stdout, and lists those
// the topology names elsewhere than where they went.
func writePlan(plan []*output, c certsConfig, out string, stdout io.Writer) error {
	var moved []string
	for _, o := range plan {
		if err := writeFileAtomic(o.path, o.data, o.mode); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "wrote %s (%s)\n", display(c.out, out, o.path), o.what)
		if o.wanted != "" {
			moved = append(moved, fmt.Sprintf("  %s (topology: %s)", display(c.out, out, o.path), o.wanted))
		}
	}
	if len(moved) > 0 {
		fmt.Fprintf(stdout, "note: the topology names these files outside %s; update its paths or move the files:\n%s\n",
			c.out, strings.Join(moved, "\n"))
	}
	return nil
}

// defaultTokenSecret is the file certs init writes a token secret to when the
// topology lists none.
const defaultTokenSecret = "token.secret"

// topologyPath returns path as the topology t would name it: relative to its
// directory when it is under it.
func topologyPath(t *topology.Topology, path string) string {
	if dir, err := filepath.Abs(t.Dir); err == nil && under(dir, path) {
		rel, _ := filepath.Rel(dir, path)
		return rel
	}
	return path
}

// issued is a peer's certificate and key, issued once for both files.
type issued struct {
	id              pki.PeerIdentity
	certPEM, keyPEM []byte
}

func (i *issued) issue(ca *pki.CA) error {
	if i.certPEM != nil {
		return nil
	}
	var err error
	i.certPEM, i.keyPEM, err = ca.Issue(i.id)
	return err
}

func (i *issued) cert(ca *pki.CA) ([]byte, error) { err := i.issue(ca); return i.certPEM, err }
func (i *issued) key(ca *pki.CA) ([]byte, error)  { err := i.issue(ca); return i.keyPEM, err }

// checkPlan refuses, without --force, to overwrite files that exist, listing
// them all on stderr.
func checkPlan(cmd string, plan []*output, c certsConfig, stderr io.Writer) error {
	var existing []string
	for _, o := range plan {
		_, err := os.Lstat(o.path)
		switch {
		case err == nil:
			existing = append(existing, o.path)
		case !errors.Is(err, fs.ErrNotExist):
			return fmt.Errorf("%s: %w", cmd, err)
		}
	}
	if len(existing) == 0 || c.force {
		return nil
	}
	out, _ := filepath.Abs(c.out)
	fmt.Fprintf(stderr, "these files exist already:\n")
	for _, p := range existing {
		fmt.Fprintf(stderr, "  %s\n", display(c.out, out, p))
	}
	return fmt.Errorf("%s: %s exist already; wrote nothing (use --force to overwrite them)", cmd, plural(len(existing), "file"))
}

// generate fills in the content of every planned file, with a new CA for the
// mesh: its peers' keys and certificates, a new gossip key and new tokens.
func generate(mesh string, plan []*output) error {
	ca, err := pki.NewCA(mesh)
	if err != nil {
		return err
	}
	for _, o := range plan {
		if o.data, err = o.content(ca); err != nil {
			return err
		}
	}
	return nil
}

// peerHosts returns the hosts of a peer's addresses, without duplicates.
func peerHosts(p topology.Peer) []string {
	var hosts []string
	for _, addr := range []string{p.Gossip, p.Sync, p.API} {
		if h, _, err := net.SplitHostPort(addr); err == nil && !slices.Contains(hosts, h) {
			hosts = append(hosts, h)
		}
	}
	return hosts
}

// writeFileAtomic writes data to path with mode, through a temporary file
// renamed over it: a reader sees the old file or the new one, and an existing
// file gets the new mode.
func writeFileAtomic(path string, data []byte, mode fs.FileMode) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // fails harmlessly once renamed
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// under reports whether path is inside dir (both absolute).
func under(dir, path string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && filepath.IsLocal(rel)
}

// display shows a path under the output directory the way the user named the
// directory.
func display(outArg, out, path string) string {
	if rel, err := filepath.Rel(out, path); err == nil && filepath.IsLocal(rel) {
		return filepath.Join(outArg, rel)
	}
	return path
}
