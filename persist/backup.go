package persist

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/dgraph-io/badger/v4"

	"github.com/countermesh/countermesh/crdt"
)

// A backup is a framed Badger backup stream:
//
//	header   "CMBACKUP" | version (1 byte)
//	chunk*   length (4, BE, 1..maxBackupChunk) | data | running CRC-32C (4, BE)
//	end      0 (4) | total data bytes (8, BE) | running CRC-32C (4, BE)
//
// The running CRC covers every data byte so far, so a corrupt, dropped or
// reordered chunk is caught where it is read, and the end record proves that the
// stream is whole: Badger's own stream has no end, and one cut between two of
// its records would otherwise load as a smaller, silently partial store.
const (
	backupMagic    = "CMBACKUP"
	backupVersion  = 1
	maxBackupChunk = 1 << 20
)

var backupCRC = crc32.MakeTable(crc32.Castagnoli)

var (
	// ErrBadBackup is matched by the error of a Restore whose input is not a whole
	// backup written by this version: truncated, corrupt or of another format.
	ErrBadBackup = errors.New("persist: not a whole backup")
	// ErrRestoreTarget is matched by the error of a Restore into a data directory
	// that is not empty. Nothing in it was changed.
	ErrRestoreTarget = errors.New("persist: restore needs an empty or absent data directory")
)

// Backup writes a consistent snapshot of the whole store to w: everything
// acknowledged before Backup was called, and no write half. It runs while the
// store serves reads and writes; Close waits for a Backup in progress. Restore
// loads the result into a new data directory as a new replica.
func (s *Store) Backup(w io.Writer) error {
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	if s.closeMu.closed {
		return ErrClosed
	}
	fw, err := newFrameWriter(w)
	if err != nil {
		return fmt.Errorf("persist: backup: %w", err)
	}
	stream := s.db.NewStream()
	// Each of a stream's goroutines reads in its own transaction; one goroutine
	// reads the whole store from one snapshot.
	stream.NumGo = 1
	stream.LogPrefix = "persist.Backup"
	if _, err := stream.Backup(fw, 0); err != nil {
		return fmt.Errorf("persist: backup: %w", translate(err))
	}
	if err := fw.close(); err != nil {
		return fmt.Errorf("persist: backup: %w", err)
	}
	return nil
}

// HasStore reports whether dir holds a store (of any replica).
func HasStore(dir string) (bool, error) {
	_, err := os.Stat(filepath.Join(dir, badger.ManifestFilename))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	}
	return false, fmt.Errorf("persist: %w", err)
}

// Restore loads a backup written by Store.Backup into opts.Dir, which must be
// empty or absent, and makes it a NEW replica (DESIGN.md §2): the replica whose
// backup it is may have written after the backup, and peers hold those writes;
// under its id the restored counters would restart below them and be masked by
// the max-join. So Restore gives the store a fresh random replica id and drops
// what belonged to the old replica as a sender: its change log, last sequence,
// trim mark and the acknowledgement marks of remote peers. Counters (the old
// replica's entries included), registers, tallies, records of keyed increments
// and the clock's high-water mark are kept. A keyed increment that the old
// replica applied and that turns out, after the backup, to have been applied
// first elsewhere is not compensated: the new replica compensates only its own
// applications. Restore then opens the
// result to check it, and closes it. On failure it removes what it wrote.
func Restore(r io.Reader, opts Options) (err error) {
	opts, err = opts.withDefaults()
	if err != nil {
		return err
	}
	cleanup, err := prepareRestoreDir(opts.Dir)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			cleanup()
		}
	}()
	if err := readBackupHeader(r); err != nil {
		return err // it says what is wrong with the backup, prefix included
	}
	db, err := badger.Open(badgerOptions(opts))
	if err != nil {
		return fmt.Errorf("persist: restore: open %s: %w", opts.Dir, translate(err))
	}
	old, replica, err := loadAsNewReplica(db, r)
	if cerr := db.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("persist: restore: close: %w", cerr)
	}
	if err != nil {
		return err
	}
	if err := verifyRestored(opts, replica); err != nil {
		return err
	}
	opts.Logger.Info("persist: restored a backup as a new replica",
		"replica", replica, "backup_of", old, "dir", opts.Dir)
	return nil
}

// prepareRestoreDir makes sure dir exists and is empty, and returns what undoes
// a failed restore: removing dir if Restore made it, else emptying it again.
func prepareRestoreDir(dir string) (cleanup func(), err error) {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("persist: restore: %w", err)
		}
		return func() { os.RemoveAll(dir) }, nil
	case err != nil:
		return nil, fmt.Errorf("persist: restore: %w", err)
	case len(entries) > 0:
		return nil, fmt.Errorf("%w: %s holds %d entries (%s, ...)", ErrRestoreTarget, dir, len(entries), entries[0].Name())
	}
	return func() {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			os.RemoveAll(filepath.Join(dir, e.Name()))
		}
	}, nil
}

// loadAsNewReplica loads the backup's records into db and gives it a new
// replica identity. It returns the backup's replica id and the new one.
func loadAsNewReplica(db *badger.DB, r io.Reader) (old, replica crdt.ReplicaID, err error) {
	fr := &frameReader{r: r}
	if err := db.Load(fr, 16); err != nil {
		if errors.Is(err, ErrBadBackup) {
			return 0, 0, err
		}
		return 0, 0, fmt.Errorf("persist: restore: load: %w", err)
	}
	if !fr.done {
		return 0, 0, fmt.Errorf("%w: stream not read to its end", ErrBadBackup)
	}
	err = db.View(func(txn *badger.Txn) error {
		format, err := getUint(txn, keyFormat)
		switch {
		case err != nil:
			return err
		case format == 0:
			return fmt.Errorf("%w: no store in it", ErrBadBackup)
		case format > formatVersion:
			return fmt.Errorf("%w: %d (this build reads %d)", ErrNewerFormat, format, formatVersion)
		}
		err = getValue(txn, keyReplica, func(v []byte) error {
			if len(v) == 8 {
				old = crdt.ReplicaID(binary.BigEndian.Uint64(v))
			}
			return nil
		})
		if err != nil {
			return err
		}
		replica = newReplicaID(old)
		return renewIdentity(db, txn, replica)
	})
	if err != nil {
		return 0, 0, fmt.Errorf("persist: restore: %w", translate(err))
	}
	return old, replica, nil
}

// newReplicaID returns a random non-zero replica id other than old.
func newReplicaID(old crdt.ReplicaID) crdt.ReplicaID {
	var b [8]byte
	for {
		rand.Read(b[:])
		if id := crdt.ReplicaID(binary.BigEndian.Uint64(b[:])); id != 0 && id != old {
			return id
		}
	}
}

// renewIdentity writes, in one batch over the snapshot txn, the new replica id
// and the removal of everything of the old replica as a sender.
func renewIdentity(db *badger.DB, txn *badger.Txn, replica crdt.ReplicaID) error {
	wb := db.NewWriteBatch()
	defer wb.Cancel()
	for _, k := range [][]byte{keySeq, keyTrimmed, keyDigest} {
		if err := wb.Delete(k); err != nil {
			return err
		}
	}
	if err := wb.Set(keyReplica, binary.BigEndian.AppendUint64(nil, uint64(replica))); err != nil {
		return err
	}
	for _, p := range []byte{prefixLog, prefixAck} {
		err := eachKey(txn, p, func(item *badger.Item) error { return wb.Delete(item.KeyCopy(nil)) })
		if err != nil {
			return err
		}
	}
	return wb.Flush()
}

// eachKey calls fn with every live item under the one-byte prefix p.
func eachKey(txn *badger.Txn, p byte, fn func(*badger.Item) error) error {
	opts := badger.DefaultIteratorOptions
	opts.Prefix = []byte{p}
	opts.PrefetchValues = false
	it := txn.NewIterator(opts)
	defer it.Close()
	for it.Rewind(); it.ValidForPrefix(opts.Prefix); it.Next() {
		if err := fn(it.Item()); err != nil {
			return err
		}
	}
	return nil
}

// verifyRestored opens the restored store, which recomputes its digest, and
// checks its identity and tallies.
func verifyRestored(opts Options, replica crdt.ReplicaID) error {
	s, err := Open(opts)
	if err != nil {
		return fmt.Errorf("persist: restore: reopen: %w", err)
	}
	err = s.CheckTallies()
	switch {
	case err != nil:
		err = fmt.Errorf("persist: restore: %w", err)
	case s.Replica() != replica || s.LastSeq() != 0:
		err = fmt.Errorf("persist: restore: reopened as replica %v at sequence %d, want %v at 0",
			s.Replica(), s.LastSeq(), replica)
	}
	if cerr := s.Close(); err == nil {
		err = cerr
	}
	return err
}

// frameWriter frames the bytes written to it as backup chunks.
type frameWriter struct {
	w     io.Writer
	buf   []byte
	crc   uint32
	total uint64
}

func newFrameWriter(w io.Writer) (*frameWriter, error) {
	if _, err := w.Write(append([]byte(backupMagic), backupVersion)); err != nil {
		return nil, err
	}
	return &frameWriter{w: w, buf: make([]byte, 4, 4+maxBackupChunk+4)}, nil
}

// Write buffers p, writing every full chunk.
func (f *frameWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		k := min(len(p), 4+maxBackupChunk-len(f.buf))
		f.buf = append(f.buf, p[:k]...)
		p = p[k:]
		if len(f.buf) == 4+maxBackupChunk {
			if err := f.flush(); err != nil {
				return n - len(p), err
			}
		}
	}
	return n, nil
}

// flush writes the buffered data as one chunk.
func (f *frameWriter) flush() error {
	data := f.buf[4:]
	if len(data) == 0 {
		return nil
	}
	f.crc = crc32.Update(f.crc, backupCRC, data)
	f.total += uint64(len(data))
	binary.BigEndian.PutUint32(f.buf, uint32(len(data)))
	f.buf = binary.BigEndian.AppendUint32(f.buf, f.crc)
	_, err := f.w.Write(f.buf)
	f.buf = f.buf[:4]
	return err
}

// close writes the last chunk and the end record.
func (f *frameWriter) close() error {
	if err := f.flush(); err != nil {
		return err
	}
	end := binary.BigEndian.AppendUint32(nil, 0)
	end = binary.BigEndian.AppendUint64(end, f.total)
	end = binary.BigEndian.AppendUint32(end, f.crc)
	_, err := f.w.Write(end)
	return err
}

// readBackupHeader reads and checks the header of a backup.
func readBackupHeader(r io.Reader) error {
	var h [len(backupMagic) + 1]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return badBackupRead("header", err)
	}
	switch {
	case string(h[:len(backupMagic)]) != backupMagic:
		return fmt.Errorf("%w: no backup header", ErrBadBackup)
	case h[len(backupMagic)] != backupVersion:
		return fmt.Errorf("%w: version %d (this build reads %d)", ErrBadBackup, h[len(backupMagic)], backupVersion)
	}
	return nil
}

// frameReader returns the data of backup chunks, checked, and io.EOF only after
// a valid end record.
type frameReader struct {
	r     io.Reader
	buf   []byte
	cur   []byte
	crc   uint32
	total uint64
	done  bool
}

// Read reads checked data.
func (f *frameReader) Read(p []byte) (int, error) {
	for len(f.cur) == 0 {
		if f.done {
			return 0, io.EOF
		}
		if err := f.next(); err != nil {
			return 0, err
		}
	}
	n := copy(p, f.cur)
	f.cur = f.cur[n:]
	return n, nil
}

// next reads one chunk or the end record.
func (f *frameReader) next() error {
	var h [4]byte
	if _, err := io.ReadFull(f.r, h[:]); err != nil {
		return badBackupRead("chunk header", err)
	}
	n := binary.BigEndian.Uint32(h[:])
	if n == 0 {
		return f.end()
	}
	if n > maxBackupChunk {
		return fmt.Errorf("%w: chunk of %d bytes", ErrBadBackup, n)
	}
	if cap(f.buf) < int(n)+4 {
		f.buf = make([]byte, int(n)+4)
	}
	b := f.buf[:n+4]
	if _, err := io.ReadFull(f.r, b); err != nil {
		return badBackupRead("chunk", err)
	}
	f.crc = crc32.Update(f.crc, backupCRC, b[:n])
	f.total += uint64(n)
	if binary.BigEndian.Uint32(b[n:]) != f.crc {
		return fmt.Errorf("%w: checksum mismatch after %d bytes", ErrBadBackup, f.total)
	}
	f.cur = b[:n]
	return nil
}

// end checks the end record and that nothing follows it.
func (f *frameReader) end() error {
	var e [12]byte
	if _, err := io.ReadFull(f.r, e[:]); err != nil {
		return badBackupRead("end record", err)
	}
	if binary.BigEndian.Uint64(e[:8]) != f.total || binary.BigEndian.Uint32(e[8:]) != f.crc {
		return fmt.Errorf("%w: end record does not match the %d bytes read", ErrBadBackup, f.total)
	}
	var one [1]byte
	if _, err := io.ReadFull(f.r, one[:]); err == nil {
		return fmt.Errorf("%w: data after the end record", ErrBadBackup)
	}
	f.done = true
	return nil
}

// badBackupRead describes a failed read of part of a backup: an early end is
// a truncated backup, anything else a read error.
func badBackupRead(part string, err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: truncated in the %s", ErrBadBackup, part)
	}
	return fmt.Errorf("read backup %s: %w", part, err)
}
