package bench

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/countermesh/countermesh/persist"
)

// redisSystem is a local redis-server with an append-only file fsynced on every
// write (appendfsync always): Redis as durable as countermesh. Claps are
// INCRBY; a reaction is a Lua script keeping, per item, a hash of each user's
// reaction and a set of likers and of dislikers, updated atomically.
type redisSystem struct {
	proc   *process
	client *redis.Client
	react  *redis.Script
}

// reactScript sets user ARGV[1]'s reaction to ARGV[2] ("" clears it). KEYS: the
// item's user→reaction hash, its likers set, its dislikers set.
const reactScript = `
local old = redis.call('HGET', KEYS[1], ARGV[1]) or ''
if old == ARGV[2] then return 0 end
if old == 'like' then redis.call('SREM', KEYS[2], ARGV[1]) elseif old == 'dislike' then redis.call('SREM', KEYS[3], ARGV[1]) end
if ARGV[2] == 'like' then redis.call('SADD', KEYS[2], ARGV[1]) elseif ARGV[2] == 'dislike' then redis.call('SADD', KEYS[3], ARGV[1]) end
if ARGV[2] == '' then redis.call('HDEL', KEYS[1], ARGV[1]) else redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
return 1`

func redisKeys(item string) []string {
	return []string{"r:" + item, "like:" + item, "dislike:" + item}
}

// findRedis returns the redis-server binary and its version.
func findRedis() (bin, version string, err error) {
	if bin, err = findBinary("redis-server"); err != nil {
		return "", "", err
	}
	out, _ := exec.Command(bin, "--version").Output()
	return bin, strings.TrimSpace(string(out)), nil
}

// startRedis starts redis-server on a free loopback port with its data in dir.
func startRedis(bin, dir string, clients int) (*redisSystem, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	args := []string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir,
		"--appendonly", "yes", "--appendfsync", "always", "--save", "", "--daemonize", "no",
		"--protected-mode", "no", "--maxclients", "10000"}
	p, err := startProcess(bin, args, nil, filepath.Join(dir, "redis.log"), nil)
	if err != nil {
		return nil, err
	}
	s := &redisSystem{proc: p, react: redis.NewScript(reactScript)}
	s.client = redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", port), PoolSize: clients + 4,
		ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second})
	ctx := context.Background()
	err = waitFor(p, 15*time.Second, func() error { return s.client.Ping(ctx).Err() })
	if err == nil {
		err = s.react.Load(ctx, s.client).Err()
	}
	if fsync := s.client.ConfigGet(ctx, "appendfsync").Val()["appendfsync"]; err == nil && fsync != "always" {
		err = fmt.Errorf("redis runs with appendfsync %q, not always", fsync)
	}
	if err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

func (s *redisSystem) name() string { return sysRedis }

func (s *redisSystem) queue(ctx context.Context, c redis.Cmdable, op persist.Op) {
	if op.Kind == persist.OpAdd {
		c.IncrBy(ctx, "c:"+op.Item, op.By)
		return
	}
	s.react.EvalSha(ctx, c, redisKeys(op.Item), op.User, op.Reaction)
}

func (s *redisSystem) write(ctx context.Context, op persist.Op) error {
	if op.Kind == persist.OpAdd {
		return s.client.IncrBy(ctx, "c:"+op.Item, op.By).Err()
	}
	return s.react.EvalSha(ctx, s.client, redisKeys(op.Item), op.User, op.Reaction).Err()
}

// writeBatch runs the ops in one MULTI/EXEC transaction: all or nothing, like
// POST /v1/ops.
func (s *redisSystem) writeBatch(ctx context.Context, ops []persist.Op) error {
	_, err := s.client.TxPipelined(ctx, func(p redis.Pipeliner) error {
		for _, op := range ops {
			s.queue(ctx, p, op)
		}
		return nil
	})
	return err
}

// readPage reads every item's like and dislike counts, claps and the user's
// reaction in one pipeline.
func (s *redisSystem) readPage(ctx context.Context, items []string, user string) error {
	p := s.client.Pipeline()
	for _, it := range items {
		k := redisKeys(it)
		p.SCard(ctx, k[1])
		p.SCard(ctx, k[2])
		p.Get(ctx, "c:"+it)
		p.HGet(ctx, k[0], user)
	}
	cmds, err := p.Exec(ctx)
	if errors.Is(err, redis.Nil) { // a missing key or field: zero, no reaction
		err = nil
		for _, c := range cmds {
			if e := c.Err(); e != nil && !errors.Is(e, redis.Nil) {
				err = e
			}
		}
	}
	return err
}

func (s *redisSystem) close() error {
	s.client.Close()
	s.proc.stop(syscall.SIGTERM)
	return nil
}
