package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/countermesh/countermesh/persist"
)

const backupUsage = `Usage:
  countermesh backup --data DIR --out FILE [--force]
  countermesh restore --in FILE --data DIR

backup writes a consistent snapshot of a stopped peer's data directory to FILE.
FILE is written whole or not at all, and an existing FILE is kept unless --force
is given.

restore loads a backup into DIR, which must be empty or absent, as a NEW replica
with a fresh replica id: the peer whose backup it is may have written after the
backup, and the mesh holds those writes under its id. The restored peer keeps
the backup's counters, reactions and idempotency keys, and receives what the
mesh wrote since from its peers.

Examples:
  countermesh backup --data /var/lib/countermesh --out eu-west-1.backup
  countermesh restore --in eu-west-1.backup --data /var/lib/countermesh-new
`

// runBackup runs "countermesh backup --data DIR --out FILE [--force]".
func runBackup(args []string, stdout, stderr io.Writer) error {
	flags := flag.NewFlagSet("backup", flag.ContinueOnError)
	data := flags.String("data", "", "data directory of a stopped peer (required)")
	out := flags.String("out", "", "file to write the backup to (required)")
	force := flags.Bool("force", false, "overwrite FILE if it exists")
	if err := parseBackupFlags(flags, args, stdout); err != nil {
		return err
	}
	if *data == "" || *out == "" {
		return fmt.Errorf("%w: backup: --data and --out are required", errUsage)
	}
	if !*force {
		if err := refuseExisting(*out); err != nil {
			return fmt.Errorf("backup: %w", err)
		}
	}
	switch ok, err := persist.HasStore(*data); {
	case err != nil:
		return fmt.Errorf("backup: %w", err)
	case !ok:
		return fmt.Errorf("backup: no store in %s: want a peer's data directory", *data)
	}
	s, err := persist.Open(cliStoreOptions(*data, stderr))
	if err != nil {
		return fmt.Errorf("backup: open %s (a running peer holds it: stop the peer first): %w", *data, err)
	}
	n, err := writeBackup(s, *out, *force)
	if cerr := s.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	fmt.Fprintf(stdout, "backed up replica %s from %s to %s (%s)\n", s.Replica(), *data, *out, humanBytes(uint64(n)))
	return nil
}

// writeBackup writes s's backup to a temporary file beside out, makes it
// durable, then moves it to out, replacing an existing file only if force.
func writeBackup(s *persist.Store, out string, force bool) (int64, error) {
	f, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".tmp-*")
	if err != nil {
		return 0, err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // fails harmlessly once moved
	bw := bufio.NewWriterSize(f, 1<<20)
	err = s.Backup(bw)
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		err = f.Sync()
	}
	var size int64
	if st, serr := f.Stat(); err == nil && serr == nil {
		size = st.Size()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, fmt.Errorf("write %s: %w", out, err)
	}
	if force {
		err = os.Rename(tmp, out)
	} else if err = os.Link(tmp, out); errors.Is(err, fs.ErrExist) {
		err = fmt.Errorf("%s appeared meanwhile; use --force to overwrite it", out)
	}
	return size, err
}

// refuseExisting fails if path exists.
func refuseExisting(path string) error {
	_, err := os.Lstat(path)
	switch {
	case err == nil:
		return fmt.Errorf("%s exists; use --force to overwrite it", path)
	case errors.Is(err, fs.ErrNotExist):
		return nil
	}
	return err
}

// runRestore runs "countermesh restore --in FILE --data DIR".
func runRestore(args []string, stdout, stderr io.Writer) error {
	flags := flag.NewFlagSet("restore", flag.ContinueOnError)
	in := flags.String("in", "", "backup file to restore (required)")
	data := flags.String("data", "", "data directory to restore into, empty or absent (required)")
	if err := parseBackupFlags(flags, args, stdout); err != nil {
		return err
	}
	if *in == "" || *data == "" {
		return fmt.Errorf("%w: restore: --in and --data are required", errUsage)
	}
	f, err := os.Open(*in)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	defer f.Close()
	opts := cliStoreOptions(*data, stderr)
	if err := persist.Restore(bufio.NewReaderSize(f, 1<<20), opts); err != nil {
		return fmt.Errorf("restore %s: %w", *in, err)
	}
	s, err := persist.Open(opts)
	if err != nil {
		return fmt.Errorf("restore: reopen: %w", err)
	}
	replica := s.Replica()
	if err := s.Close(); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	fmt.Fprintf(stdout, "restored %s into %s as a NEW replica %s.\n", *in, *data, replica)
	fmt.Fprintln(stdout, "It does not reuse the replica id of the backed-up peer, which may have written after "+
		"the backup: its counters, reactions and idempotency keys are kept, and the mesh sends it what was written since.")
	return nil
}

// parseBackupFlags parses the flags of backup or restore, allowing no
// positional arguments.
func parseBackupFlags(flags *flag.FlagSet, args []string, stdout io.Writer) error {
	if err := parseFlags(flags, backupUsage, args, stdout); err != nil {
		return err
	}
	if flags.NArg() > 0 {
		return fmt.Errorf("%w: %s: unexpected argument %q", errUsage, flags.Name(), flags.Arg(0))
	}
	return nil
}

// cliStoreOptions are the store options of a short-lived command on dir: little
// memory, compressed tables as a serving peer writes them, warnings to stderr.
func cliStoreOptions(dir string, stderr io.Writer) persist.Options {
	o := persist.SmallOptions(dir)
	o.Compression = true
	o.BlockCacheSize = 16 << 20
	o.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	return o
}

// humanBytes renders n in B, KiB, MiB, GiB or TiB.
func humanBytes(n uint64) string {
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	v, units := float64(n)/1024, []string{"KiB", "MiB", "GiB", "TiB"}
	i := 0
	for ; v >= 1024 && i < len(units)-1; i++ {
		v /= 1024
	}
	return fmt.Sprintf("%.1f %s", v, units[i])
}
