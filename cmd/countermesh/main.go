// Command countermesh runs and operates a countermesh peer mesh.
//
// Usage:
//
//	countermesh dev [flags]       run a demo mesh of several regions on this machine
//	countermesh serve --topology FILE --peer NAME --data DIR
//	                              run one peer (SIGTERM drains and exits 0, SIGHUP reloads)
//	countermesh topology check FILE
//	                              validate a topology file and the files it names
//	countermesh topology diff OLD NEW
//	                              show what changed from one topology file to another
//	countermesh certs init --topology FILE [--out DIR] [--ca-key FILE] [--force]
//	                              make a mesh's CA, certificates, gossip key and tokens
//	countermesh certs issue --topology FILE --ca-key FILE --peer NAME --out DIR [--force]
//	                              issue one peer's certificate and key from the mesh's CA
//	countermesh status --peer URL [--token T] [--json]
//	                              show the mesh as one peer sees it: membership, links, lag
//	countermesh backup --data DIR --out FILE [--force]
//	                              write a backup of a stopped peer's data directory
//	countermesh restore --in FILE --data DIR
//	                              restore a backup into an empty directory, as a new replica
//	countermesh bench [--quick] [--scenarios LIST] [--json FILE]
//	                              measure peers beside Redis and PostgreSQL, against the targets
//	countermesh monitoring rules|dashboard
//	                              print Prometheus alerting rules or a Grafana dashboard
//	countermesh version           print the version and the VCS revision (also --version)
//
// Exit codes: 0 success, 1 failure, 2 bad usage.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// errUsage marks errors caused by bad command-line usage (exit code 2).
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// run executes one command line and returns the process exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	var err error
	switch args[0] {
	case "serve":
		err = runServe(ctx, args[1:], stdout, stderr)
	case "dev":
		err = runDev(ctx, args[1:], stdout, stderr)
	case "topology":
		err = runTopology(args[1:], stdout, stderr)
	case "certs":
		err = runCerts(args[1:], stdout, stderr)
	case "status":
		err = runStatus(ctx, args[1:], stdout, stderr)
	case "backup":
		err = runBackup(args[1:], stdout, stderr)
	case "restore":
		err = runRestore(args[1:], stdout, stderr)
	case "bench":
		err = runBench(ctx, args[1:], stdout, stderr)
	case "monitoring":
		err = runMonitoring(args[1:], stdout, stderr)
	case "version", "--version", "-version":
		if len(args) > 1 && !wantsHelp(args[1:]) {
			err = fmt.Errorf("%w: version takes no arguments, got %q", errUsage, args[1:])
			break
		}
		fmt.Fprintln(stdout, versionString())
	case "help", "-h", "-help", "--help":
		usage(stdout)
	default:
		fmt.Fprintf(stderr, "countermesh: unknown command %q\n", args[0])
		usage(stderr)
		return 2
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintln(stderr, "countermesh:", err)
		return 2
	default:
		fmt.Fprintln(stderr, "countermesh:", err)
		return 1
	}
}

func usage(w io.Writer) {
	fmt.Fprint(w, `countermesh — a multi-region, active-active counter mesh

Usage:
  countermesh dev [flags]   run a demo mesh of several regions on this machine
  countermesh serve --topology FILE --peer NAME --data DIR
                            run one peer (SIGTERM drains and exits 0, SIGHUP reloads)
  countermesh topology check FILE
                            validate a topology file and the files it names
  countermesh topology diff OLD NEW
                            show what changed from one topology file to another
  countermesh certs init --topology FILE [--out DIR] [--ca-key FILE] [--force]
                            make a mesh's CA, certificates, gossip key and tokens
  countermesh certs issue --topology FILE --ca-key FILE --peer NAME --out DIR [--force]
                            issue one peer's certificate and key from the mesh's CA
  countermesh status --peer URL [--token T] [--json]
                            show the mesh as one peer sees it: membership, links, lag
  countermesh backup --data DIR --out FILE [--force]
                            write a backup of a stopped peer's data directory
  countermesh restore --in FILE --data DIR
                            restore a backup into an empty directory, as a new replica
  countermesh bench [--quick] [--scenarios LIST] [--json FILE]
                            measure peers beside Redis and PostgreSQL, against the targets
  countermesh monitoring rules|dashboard
                            print Prometheus alerting rules or a Grafana dashboard
  countermesh version       print the version and the VCS revision (also --version)

Every command answers -h with its flags and an example ("countermesh serve -h").
Exit codes: 0 success, 1 failure, 2 bad usage.
`)
}
