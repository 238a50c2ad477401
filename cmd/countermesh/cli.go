package main

import (
	"flag"
	"fmt"
	"io"
	"runtime/debug"
	"strings"
)

// The command-line conventions every command follows:
//
//   - -h, -help or --help (anywhere before "--") prints the command's help on
//     stdout — a synopsis, what it does, its flags with their defaults and an
//     example — and exits 0, doing nothing else;
//   - a usage error (an unknown flag, a missing or extra argument) is reported
//     on stderr before any work, and exits 2;
//   - any other failure exits 1.

// parseFlags parses args with fs, the flags of the command fs.Name(). A help
// flag prints help (then "Flags:" and every flag with its default) on stdout
// and returns flag.ErrHelp; a bad flag returns a usage error naming the
// command. The flag package itself prints nothing.
func parseFlags(fs *flag.FlagSet, help string, args []string, stdout io.Writer) error {
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	if wantsHelp(args) {
		printHelp(stdout, fs, help)
		return flag.ErrHelp
	}
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %s: %v (see countermesh %s -h)", errUsage, fs.Name(), err, fs.Name())
	}
	return nil
}

// wantsHelp reports whether args ask for help: -h, -help or --help before any
// "--".
func wantsHelp(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "-h", "-help", "--help":
			return true
		}
	}
	return false
}

// printHelp writes help, then the flags of fs with their defaults, to w.
func printHelp(w io.Writer, fs *flag.FlagSet, help string) {
	fmt.Fprint(w, strings.TrimRight(help, "\n")+"\n")
	var any bool
	fs.VisitAll(func(*flag.Flag) { any = true })
	if !any {
		return
	}
	fmt.Fprint(w, "\nFlags:\n")
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
}

// versionString is what "countermesh version" prints: the module version and
// the VCS revision the binary was built from, as Go recorded them, or the
// version set at link time when there is one.
func versionString() string {
	v, rev, modified := version, "", false
	if info, ok := debug.ReadBuildInfo(); ok {
		if v == "dev" && info.Main.Version != "" {
			v = info.Main.Version
		}
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	if v == "(devel)" {
		v = "devel" // built from a checkout, not from a module version
	}
	out := "countermesh " + v
	if rev == "" {
		return out + " (no VCS revision recorded in this build)"
	}
	if rev != "" {
		out += " (" + rev[:min(len(rev), 12)]
		if modified {
			out += ", modified"
		}
		out += ")"
	}
	return out
}
