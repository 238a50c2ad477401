package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/countermesh/countermesh/topology"
)

const topologyUsage = `Usage:
  countermesh topology check FILE     validate a topology file and the files it names
  countermesh topology diff OLD NEW   show what changed from one topology file to another

check prints every problem as "file:line: what is wrong" and exits 1 if there is any.
It checks every file the topology names that this host holds, and lists the peers'
certificates and keys it could not check because they are not here.

Examples:
  countermesh topology check topology.yaml
  countermesh topology diff topology.yaml topology.new.yaml
`

// runTopology runs "countermesh topology SUBCOMMAND ...".
func runTopology(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, topologyUsage)
		return fmt.Errorf("%w: topology: want a subcommand, check or diff", errUsage)
	}
	switch args[0] {
	case "check":
		return runTopologyCheck(args[1:], stdout, stderr)
	case "diff":
		return runTopologyDiff(args[1:], stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, topologyUsage)
		return nil
	}
	fmt.Fprint(stderr, topologyUsage)
	return fmt.Errorf("%w: topology: unknown subcommand %q", errUsage, args[0])
}

// parseArgs parses a subcommand without flags of its own and checks that it
// was given exactly the named positional arguments.
func parseArgs(name string, args []string, stdout io.Writer, names ...string) ([]string, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	if err := parseFlags(fs, topologyUsage, args, stdout); err != nil {
		return nil, err
	}
	if fs.NArg() != len(names) {
		return nil, fmt.Errorf("%w: %s: want %s, got %s", errUsage, name, strings.Join(names, " "), plural(fs.NArg(), "argument"))
	}
	return fs.Args(), nil
}

// runTopologyCheck runs "countermesh topology check FILE".
func runTopologyCheck(args []string, stdout, stderr io.Writer) error {
	files, err := parseArgs("topology check", args, stdout, "FILE")
	if err != nil {
		return err
	}
	t, err := topology.Load(files[0])
	if err != nil {
		return reportInvalid(files[0], err, stderr)
	}
	fmt.Fprintf(stdout, "%s: ok: %s\n", files[0], summary(t))
	if len(t.Unchecked) > 0 {
		fmt.Fprintf(stdout, "not checked, not on this host (a peer's host holds only its own certificate and key):\n")
		for _, p := range t.Unchecked {
			fmt.Fprintf(stdout, "  %s\n", p)
		}
	}
	return nil
}

// runTopologyDiff runs "countermesh topology diff OLD NEW". It compares the
// files alone, without reading the files they name.
func runTopologyDiff(args []string, stdout, stderr io.Writer) error {
	files, err := parseArgs("topology diff", args, stdout, "OLD", "NEW")
	if err != nil {
		return err
	}
	var ts [2]*topology.Topology
	for i, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("topology diff: %w", err)
		}
		if ts[i], err = topology.Parse(f, data); err != nil {
			return reportInvalid(f, err, stderr)
		}
	}
	fmt.Fprintln(stdout, topology.Diff(ts[0], ts[1]))
	return nil
}

// reportInvalid prints the problems of an invalid topology, one per line, and
// returns an error that counts them; other errors it returns as they are.
func reportInvalid(file string, err error, stderr io.Writer) error {
	var te *topology.Error
	if !errors.As(err, &te) {
		return err
	}
	for _, p := range te.Problems {
		fmt.Fprintln(stderr, p)
	}
	return fmt.Errorf("%s is invalid: %s", file, plural(len(te.Problems), "problem"))
}

// summary describes a topology in one line.
func summary(t *topology.Topology) string {
	s := fmt.Sprintf("mesh %q, %s, %s, %s", t.Mesh, plural(len(t.Regions), "region"),
		plural(len(t.Peers()), "peer"), plural(len(t.ReactionKinds), "reaction kind"))
	if n := len(t.Security.TokenSecrets); n > 0 {
		s += ", " + plural(n, "token secret")
	} else {
		s += ", no token_secrets (serve refuses to start)"
	}
	if n := len(t.Security.APITokens); n > 0 {
		return s + ", " + plural(n, "API token")
	}
	return s + ", HTTP API open (no api_tokens)"
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
