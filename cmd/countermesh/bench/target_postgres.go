package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/countermesh/countermesh/persist"
)

// postgresSystem is a local PostgreSQL with synchronous_commit on (every commit
// waits for its WAL fsync) in the common design: a row per item with its
// counters, a row per (item, user) reaction, and a reaction's row and its
// item's counters changed in one transaction.
type postgresSystem struct {
	proc   *process
	pool   *pgxpool.Pool
	ownDir string // a directory of its own to remove at close, if it made one
}

// postgresSchema: react() runs one reaction as one statement — one round trip,
// one transaction. It locks the item's row first, so concurrent reactions of one
// user cannot both miss the other's row and count twice.
const postgresSchema = `
CREATE TABLE items (
	item     text PRIMARY KEY,
	likes    bigint NOT NULL DEFAULT 0,
	dislikes bigint NOT NULL DEFAULT 0,
	claps    bigint NOT NULL DEFAULT 0
);
CREATE TABLE reactions (
	item    text NOT NULL,
	user_id text NOT NULL,
	kind    text NOT NULL,
	PRIMARY KEY (item, user_id)
);
CREATE FUNCTION react(p_item text, p_user text, p_kind text) RETURNS void AS $$
DECLARE old text;
BEGIN
	INSERT INTO items (item) VALUES (p_item) ON CONFLICT (item) DO NOTHING;
	PERFORM 1 FROM items WHERE item = p_item FOR UPDATE;
	SELECT kind INTO old FROM reactions WHERE item = p_item AND user_id = p_user;
	IF coalesce(old, '') = p_kind THEN RETURN; END IF;
	IF p_kind = '' THEN
		DELETE FROM reactions WHERE item = p_item AND user_id = p_user;
	ELSE
		INSERT INTO reactions (item, user_id, kind) VALUES (p_item, p_user, p_kind)
			ON CONFLICT (item, user_id) DO UPDATE SET kind = EXCLUDED.kind;
	END IF;
	UPDATE items SET
		likes = likes + (p_kind = 'like')::int - (coalesce(old, '') = 'like')::int,
		dislikes = dislikes + (p_kind = 'dislike')::int - (coalesce(old, '') = 'dislike')::int
	WHERE item = p_item;
END $$ LANGUAGE plpgsql;
`

const (
	pgClap = `INSERT INTO items (item, claps) VALUES ($1, $2)
		ON CONFLICT (item) DO UPDATE SET claps = items.claps + EXCLUDED.claps`
	pgReact = `SELECT react($1, $2, $3)`
	pgPage  = `SELECT q.item, coalesce(i.likes, 0), coalesce(i.dislikes, 0), coalesce(i.claps, 0), r.kind
		FROM unnest($1::text[]) AS q(item)
		LEFT JOIN items i ON i.item = q.item
		LEFT JOIN reactions r ON r.item = q.item AND r.user_id = $2`
)

// findPostgres returns the directory of the initdb and postgres binaries and
// the version.
func findPostgres() (binDir, version string, err error) {
	bin, err := findBinary("postgres", "/usr/lib/postgresql/*/bin/postgres")
	if err != nil {
		return "", "", err
	}
	if real, err := filepath.EvalSymlinks(bin); err == nil {
		bin = real
	}
	binDir = filepath.Dir(bin)
	if _, err := os.Stat(filepath.Join(binDir, "initdb")); err != nil {
		return "", "", fmt.Errorf("postgres found at %s but no initdb beside it", bin)
	}
	out, _ := exec.Command(bin, "--version").Output()
	return binDir, strings.TrimSpace(string(out)), nil
}

// startPostgres creates a cluster in dir, starts it on a free loopback port and
// creates the schema. As root, it runs postgres as an unprivileged user, in a
// directory of its own under the system's temporary directory (one the user
// can reach, whatever dir's parents allow).
func startPostgres(binDir, dir string, clients int) (_ *postgresSystem, err error) {
	cred, err := unprivileged()
	if err != nil {
		return nil, err
	}
	s := &postgresSystem{}
	if cred != nil {
		if dir, err = os.MkdirTemp("", "countermesh-bench-postgres-"); err != nil {
			return nil, err
		}
		s.ownDir = dir
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			s.close()
			return nil, err
		}
	}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	data := filepath.Join(dir, "data")
	initdb, err := startProcess(filepath.Join(binDir, "initdb"),
		[]string{"-D", data, "-U", "bench", "-A", "trust", "-E", "UTF8", "--no-sync"}, nil,
		filepath.Join(dir, "initdb.log"), cred)
	if err != nil {
		return nil, err
	}
	select {
	case <-initdb.done:
	case <-time.After(2 * time.Minute):
		initdb.stop(syscall.SIGKILL)
	}
	if initdb.err != nil {
		return nil, fmt.Errorf("initdb: %v: %s", initdb.err, tail(initdb.log, 600))
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	args := []string{"-D", data, "-p", strconv.Itoa(port), "-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories=" + dir, "-c", "synchronous_commit=on", "-c", "fsync=on",
		"-c", "max_connections=" + strconv.Itoa(clients+20)}
	p, err := startProcess(filepath.Join(binDir, "postgres"), args, nil, filepath.Join(dir, "postgres.log"), cred)
	if err != nil {
		return nil, err
	}
	s.proc = p
	cfg, err := pgxpool.ParseConfig(fmt.Sprintf("host=127.0.0.1 port=%d user=bench dbname=postgres sslmode=disable", port))
	if err != nil {
		return nil, err
	}
	cfg.MaxConns = int32(clients + 4)
	ctx := context.Background()
	err = waitFor(p, 30*time.Second, func() error {
		pool, err := pgxpool.NewWithConfig(ctx, cfg)
		if err == nil {
			if err = pool.Ping(ctx); err != nil {
				pool.Close()
			} else {
				s.pool = pool
			}
		}
		return err
	})
	if err == nil {
		_, err = s.pool.Exec(ctx, postgresSchema)
	}
	if err != nil {
		return nil, err
	}
	return s, nil
}

func (s *postgresSystem) name() string { return sysPostgres }

func (s *postgresSystem) write(ctx context.Context, op persist.Op) error {
	if op.Kind == persist.OpAdd {
		_, err := s.pool.Exec(ctx, pgClap, op.Item, op.By)
		return err
	}
	_, err := s.pool.Exec(ctx, pgReact, op.Item, op.User, op.Reaction)
	return err
}

// writeBatch runs the ops in one transaction, sent in one round trip. The ops
// go in item order, so concurrent batches lock items in one order and never
// deadlock.
func (s *postgresSystem) writeBatch(ctx context.Context, ops []persist.Op) error {
	ops = slices.Clone(ops)
	slices.SortStableFunc(ops, func(a, b persist.Op) int { return strings.Compare(a.Item, b.Item) })
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var b pgx.Batch
		for _, op := range ops {
			if op.Kind == persist.OpAdd {
				b.Queue(pgClap, op.Item, op.By)
			} else {
				b.Queue(pgReact, op.Item, op.User, op.Reaction)
			}
		}
		return tx.SendBatch(ctx, &b).Close()
	})
}

func (s *postgresSystem) readPage(ctx context.Context, items []string, user string) error {
	rows, err := s.pool.Query(ctx, pgPage, items, user)
	if err != nil {
		return err
	}
	n := 0
	for rows.Next() {
		var (
			item                   string
			likes, dislikes, claps int64
			kind                   *string
		)
		if err := rows.Scan(&item, &likes, &dislikes, &claps, &kind); err != nil {
			rows.Close()
			return err
		}
		n++
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if n != len(items) {
		return fmt.Errorf("asked for %d items, got %d", len(items), n)
	}
	return nil
}

func (s *postgresSystem) close() error {
	if s.pool != nil {
		s.pool.Close()
	}
	if s.proc != nil {
		s.proc.stop(syscall.SIGINT) // fast shutdown
	}
	if s.ownDir != "" {
		return os.RemoveAll(s.ownDir)
	}
	return nil
}
