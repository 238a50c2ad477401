package persist_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/countermesh/countermesh/crdt"
	"github.com/countermesh/countermesh/persist"
)

var (
	crashCycles = flag.Int("crash.cycles", 20, "TestCrashRecovery: number of kill -9 / restart cycles")
	crashSeed   = flag.Uint64("crash.seed", 20260101, "TestCrashRecovery: seed of the kill schedule, clock jumps and workload")
	crashEarly  = flag.Bool("crash.early", true, "TestCrashRecovery: also kill about one child in four while it opens the store")
)

// The parent hands the child its work through the environment.
const (
	crashEnvDir    = "COUNTERMESH_CRASH_CHILD"  // data directory; set only in the child
	crashEnvOffset = "COUNTERMESH_CRASH_OFFSET" // wall clock offset, a time.Duration
	crashEnvSeed   = "COUNTERMESH_CRASH_SEED"   // workload seed
	crashEnvCycle  = "COUNTERMESH_CRASH_CYCLE"  // cycle number, makes idempotency keys unique
)

// The child's workload. Every writer goroutine owns its counters and its users, so
// the parent knows every key's exact state up to the one write per goroutine that
// may be in flight when the child is killed. Users of all writers react to the same
// shared items, so those items' tallies move under every writer.
const (
	crashWriters        = 16
	crashItemsPerWriter = 3 // each with counters claps (+), score (±) and views (AddOnce)
	crashUsersPerWriter = 4
	crashSharedItems    = 4
	crashReplayChunk    = 500 // AddOnce replays per Write during verification
)

var crashKinds = []string{"like", "dislike", crdt.None}

// crashOp is one op of a child's write, as it reports it.
type crashOp struct {
	Add     bool   `json:"add,omitempty"`
	Item    string `json:"item"`
	Counter string `json:"counter,omitempty"`
	By      int64  `json:"by,omitempty"`
	Key     string `json:"key,omitempty"`   // idempotency key
	Retry   bool   `json:"retry,omitempty"` // repeats the acknowledged write under Key
	User    string `json:"user,omitempty"`
	Kind    string `json:"kind,omitempty"`
}

func (o crashOp) op() persist.Op {
	if o.Add {
		return persist.AddOnce(o.Item, o.Counter, o.By, o.Key)
	}
	return persist.React(o.Item, o.User, o.Kind)
}

// crashLine is one line the child prints on stdout: ready once the store is open,
// begin before each Write, ack after it returned nil, fatal on any error.
type crashLine struct {
	T       string           `json:"t"`
	G       int              `json:"g,omitempty"`
	N       int              `json:"n,omitempty"`
	Ops     []crashOp        `json:"ops,omitempty"`
	Results []persist.Result `json:"results,omitempty"`
	Replica crdt.ReplicaID   `json:"replica,omitempty"`
	LastSeq uint64           `json:"last_seq,omitempty"`
	HLC     crdt.Timestamp   `json:"hlc,omitzero"`
	Wall    int64            `json:"wall,omitempty"` // the child's (shifted) wall clock at ready, ms
	Msg     string           `json:"msg,omitempty"`
}

// TestCrashRecovery kills a writing store with SIGKILL at random moments, restarts
// it with a wall clock jumped (mostly backwards), and checks after every restart
// that nothing acknowledged was lost and nothing half-applied: exact counter
// values, exact registers, exact tallies, a clock that never repeats or goes back,
// replaying idempotency keys and a stable replica id. Flags: -crash.cycles,
// -crash.seed, and -crash.early to also kill children while they open the store.
func TestCrashRecovery(t *testing.T) {
	if dir := os.Getenv(crashEnvDir); dir != "" {
		crashChild(dir) // never returns: writes until killed
		return
	}
	if testing.Short() {
		t.Skip("kills and restarts a child process many times")
	}
	seed := *crashSeed
	t.Logf("seed %d (rerun with -crash.seed=%d), %d cycles", seed, seed, *crashCycles)
	rng := rand.New(rand.NewPCG(seed, 0))

	budget := 3 * time.Minute
	if d, ok := t.Deadline(); ok {
		budget = min(budget, time.Until(d)-5*time.Second)
	}
	ctx, cancel := context.WithTimeout(t.Context(), budget)
	defer cancel()

	dir := t.TempDir()
	m := newCrashModel()
	start := time.Now()
	for cycle := range *crashCycles {
		offset := crashOffset(rng, cycle)
		k := crashKill{after: 30*time.Millisecond + time.Duration(rng.Int64N(int64(370*time.Millisecond)))}
		early := crashKill{early: true, after: time.Duration(rng.Int64N(int64(40 * time.Millisecond)))}
		if rng.IntN(4) == 0 && *crashEarly && cycle > 0 {
			// Kill the child while it may still be opening the store. Badger
			// v4.9 creates a memtable and a value-log file at every open; a kill
			// between creating one and sizing it leaves it empty, and the next
			// open fails on it (dgraph-io/badger#2207).
			k = early
		}
		st, err := crashRunChild(ctx, dir, seed, cycle, offset, k, m)
		if err != nil {
			t.Fatalf("cycle %d (wall clock %+v, %v): %v", cycle, offset, k, err)
		}
		applied, err := m.verify(ctx, dir, offset)
		if err != nil {
			t.Fatalf("cycle %d (wall clock %+v, %v), after restart: %v\nchild stderr:\n%s",
				cycle, offset, k, err, st.stderr)
		}
		t.Logf("cycle %2d: wall clock %+10v, %-28v: %4d writes acknowledged, %2d in flight (%2d applied), hlc at start %v",
			cycle, offset.Round(time.Second), k, st.acked, st.inFlight, applied, st.hlc)
	}
	t.Logf("%d cycles in %v: %d writes acknowledged, %d idempotency keys replayed after restarts",
		*crashCycles, time.Since(start).Round(time.Millisecond), m.totalAcked, m.replayed)
}

// crashOffset picks the child's wall clock offset for a cycle: none at first, then
// mostly backwards by minutes to hours, sometimes a little, sometimes forward.
func crashOffset(rng *rand.Rand, cycle int) time.Duration {
	if cycle == 0 {
		return 0
	}
	switch p := rng.IntN(10); {
	case p < 6:
		return -time.Minute - time.Duration(rng.Int64N(int64(4*time.Hour)))
	case p < 8:
		return -time.Duration(rng.Int64N(int64(time.Minute)))
	default:
		return time.Duration(rng.Int64N(int64(10 * time.Minute)))
	}
}

// crashKill says when the parent kills a child: after it printed ready, or early,
// counted from its start.
type crashKill struct {
	early bool
	after time.Duration
}

func (k crashKill) String() string {
	if k.early {
		return fmt.Sprintf("killed %v after start", k.after.Round(time.Millisecond))
	}
	return fmt.Sprintf("killed %v after ready", k.after.Round(time.Millisecond))
}

// crashStats describes one child run.
type crashStats struct {
	acked, inFlight int
	hlc             crdt.Timestamp // the child's clock at ready
	stderr          string
}

// crashRunChild runs one child on dir, feeds its lines to m, SIGKILLs it as k says
// and waits for it.
func crashRunChild(ctx context.Context, dir string, seed uint64, cycle int, offset time.Duration, k crashKill, m *crashModel) (crashStats, error) {
	var st crashStats
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashRecovery$", "-test.count=1")
	cmd.Env = append(os.Environ(),
		crashEnvDir+"="+dir,
		crashEnvOffset+"="+offset.String(),
		crashEnvSeed+"="+strconv.FormatUint(seed, 10),
		crashEnvCycle+"="+strconv.Itoa(cycle),
	)
	var stderr bytes.Buffer // written by exec's copier, read after Wait
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return st, err
	}
	if err := cmd.Start(); err != nil {
		return st, fmt.Errorf("start child: %w", err)
	}

	lines := make(chan string, 256)
	var readErr error
	var reader sync.WaitGroup
	reader.Go(func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
		for sc.Scan() {
			lines <- sc.Text()
		}
		readErr = sc.Err()
	})

	var (
		firstErr error
		killed   bool
		timer    *time.Timer
		fire     <-chan time.Time
		noise    []string
	)
	kill := func() {
		if !killed {
			killed = true
			cmd.Process.Kill() // SIGKILL
		}
	}
	if k.early {
		timer = time.NewTimer(k.after)
		fire = timer.C
	}
	m.beginCycle()
loop:
	for {
		select {
		case raw, ok := <-lines:
			if !ok {
				break loop
			}
			if firstErr != nil {
				continue // draining
			}
			var l crashLine
			if err := json.Unmarshal([]byte(raw), &l); err != nil {
				noise = append(noise, raw)
				continue
			}
			if err := m.line(l); err != nil {
				firstErr = err
				kill()
				continue
			}
			switch l.T {
			case "ready":
				st.hlc = l.HLC
				if !k.early {
					timer = time.NewTimer(k.after)
					fire = timer.C
				}
			case "ack":
				st.acked++
			}
		case <-fire:
			fire = nil
			kill()
		case <-ctx.Done():
			if firstErr == nil {
				firstErr = fmt.Errorf("test budget: %w", ctx.Err())
			}
			kill()
		}
	}
	if timer != nil {
		timer.Stop()
	}
	reader.Wait()
	waitErr := cmd.Wait()
	st.stderr = stderr.String()
	if len(noise) > 0 {
		st.stderr += "\n--- other stdout ---\n" + strings.Join(noise, "\n")
	}
	st.inFlight = len(m.pending)
	switch {
	case firstErr != nil:
	case readErr != nil:
		firstErr = fmt.Errorf("read child stdout: %w", readErr)
	case !killed:
		firstErr = fmt.Errorf("child exited on its own: %v", waitErr)
	case !crashKilled(waitErr):
		firstErr = fmt.Errorf("child did not die of SIGKILL: %v", waitErr)
	case strings.Contains(st.stderr, "DATA RACE"):
		firstErr = errors.New("data race in the child")
	}
	if firstErr != nil {
		return st, fmt.Errorf("%w\nchild stderr:\n%s", firstErr, st.stderr)
	}
	m.totalAcked += st.acked
	return st, nil
}

func crashKilled(waitErr error) bool {
	var ee *exec.ExitError
	if !errors.As(waitErr, &ee) {
		return false
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
}

// crashModel is the parent's knowledge of what the store must hold.
type crashModel struct {
	replica   crdt.ReplicaID
	counters  map[crdt.CounterKey]int64
	registers map[crdt.RegisterKey]crdt.Register
	keys      map[string]crashKeyRecord // acknowledged (or found applied) idempotency keys
	seqs      map[uint64]bool           // sequence numbers handed out to acknowledged ops
	stamps    map[crdt.Timestamp]bool   // register timestamps ever made durable
	maxSeq    uint64
	pending   map[int]crashLine // per writer: the write begun and not acknowledged

	readySeq uint64         // this cycle's LastSeq at ready
	readyHLC crdt.Timestamp // this cycle's clock at ready

	totalAcked, replayed int
}

type crashKeyRecord struct {
	item, counter string
	by            int64
}

func newCrashModel() *crashModel {
	return &crashModel{
		counters:  map[crdt.CounterKey]int64{},
		registers: map[crdt.RegisterKey]crdt.Register{},
		keys:      map[string]crashKeyRecord{},
		seqs:      map[uint64]bool{},
		stamps:    map[crdt.Timestamp]bool{},
		pending:   map[int]crashLine{},
	}
}

func (m *crashModel) beginCycle() {
	m.readySeq, m.readyHLC = 0, crdt.Timestamp{}
}

// maxTS is the newest durable register timestamp.
func (m *crashModel) maxTS() crdt.Timestamp {
	var ts crdt.Timestamp
	for _, r := range m.registers {
		if ts.Before(r.TS) {
			ts = r.TS
		}
	}
	return ts
}

// line checks and records one line of the child.
func (m *crashModel) line(l crashLine) error {
	switch l.T {
	case "fatal":
		return fmt.Errorf("child: %s", l.Msg)
	case "ready":
		if m.replica == 0 {
			m.replica = l.Replica
		}
		if l.Replica != m.replica {
			return fmt.Errorf("replica id changed across restart: %v, was %v", l.Replica, m.replica)
		}
		if l.LastSeq < m.maxSeq {
			return fmt.Errorf("restarted at sequence %d, below acknowledged sequence %d", l.LastSeq, m.maxSeq)
		}
		if newest := m.maxTS(); l.HLC.Before(newest) {
			return fmt.Errorf("restarted clock %v (wall %d) is behind durable register timestamp %v", l.HLC, l.Wall, newest)
		}
		m.readySeq, m.readyHLC = l.LastSeq, l.HLC
		return nil
	case "begin":
		if p, ok := m.pending[l.G]; ok {
			return fmt.Errorf("writer %d began write %d before write %d was acknowledged", l.G, l.N, p.N)
		}
		m.pending[l.G] = l
		return nil
	case "ack":
		p, ok := m.pending[l.G]
		if !ok || p.N != l.N {
			return fmt.Errorf("writer %d: ack of write %d that was not begun", l.G, l.N)
		}
		delete(m.pending, l.G)
		if len(l.Results) != len(p.Ops) {
			return fmt.Errorf("writer %d write %d: %d results for %d ops", l.G, l.N, len(l.Results), len(p.Ops))
		}
		for i, op := range p.Ops {
			if err := m.ack(op, l.Results[i]); err != nil {
				return fmt.Errorf("writer %d write %d op %d %+v: %w", l.G, l.N, i, op, err)
			}
		}
		return nil
	}
	return fmt.Errorf("unknown line type %q", l.T)
}

// ack checks one acknowledged op against the model and records it.
func (m *crashModel) ack(op crashOp, r persist.Result) error {
	if op.Retry {
		rec, ok := m.keys[op.Key]
		switch {
		case !ok:
			return errors.New("retry of an unknown key")
		case !r.Replayed:
			return fmt.Errorf("retry of acknowledged key not replayed: %+v", r)
		case r.Seq != 0:
			return fmt.Errorf("replay returned seq %d, want 0 (nothing was logged)", r.Seq)
		case r.Value != m.counters[crdt.CounterKey{Item: rec.item, Name: rec.counter}]:
			return fmt.Errorf("replay returned value %d, counter is %d", r.Value, m.counters[crdt.CounterKey{Item: rec.item, Name: rec.counter}])
		}
		return nil
	}
	if r.Replayed {
		return fmt.Errorf("fresh op reported as replayed: %+v", r)
	}
	if r.Seq <= m.readySeq || m.seqs[r.Seq] {
		return fmt.Errorf("sequence %d reused (restarted at %d)", r.Seq, m.readySeq)
	}
	m.seqs[r.Seq] = true
	m.maxSeq = max(m.maxSeq, r.Seq)
	if op.Add {
		k := crdt.CounterKey{Item: op.Item, Name: op.Counter}
		want := m.counters[k] + op.By
		if r.Value != want {
			return fmt.Errorf("acknowledged value %d, want %d", r.Value, want)
		}
		m.counters[k] = want
		if op.Key != "" {
			if _, dup := m.keys[op.Key]; dup {
				return fmt.Errorf("idempotency key %q applied twice", op.Key)
			}
			m.keys[op.Key] = crashKeyRecord{item: op.Item, counter: op.Counter, by: op.By}
		}
		return nil
	}
	k := crdt.RegisterKey{Item: op.Item, User: op.User}
	prev, reg := m.registers[k], r.Register
	switch {
	case reg.Kind != op.Kind || reg.Replica != m.replica:
		return fmt.Errorf("register written as %+v", reg)
	case !prev.TS.Before(reg.TS):
		return fmt.Errorf("timestamp %v not after the user's previous %v", reg.TS, prev.TS)
	case !m.readyHLC.Before(reg.TS):
		return fmt.Errorf("timestamp %v not after the clock at restart %v", reg.TS, m.readyHLC)
	case m.stamps[reg.TS]:
		return fmt.Errorf("timestamp %v handed out twice", reg.TS)
	}
	m.stamps[reg.TS] = true
	m.registers[k] = reg
	return nil
}

// verify opens the store the child was killed on, decides for each write in flight
// at the kill whether it was applied (all of it or none), compares the store with
// the model key by key, and replays every known idempotency key. It returns how
// many in-flight writes were applied.
func (m *crashModel) verify(ctx context.Context, dir string, offset time.Duration) (int, error) {
	opts := persist.SmallOptions(dir)
	opts.WallClock = func() time.Time { return time.Now().Add(offset) }
	opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	s, err := persist.Open(opts)
	if err != nil {
		return 0, fmt.Errorf("open: %w", err)
	}
	defer s.Close()

	if m.replica == 0 { // the first child was killed before it was ready
		m.replica = s.Replica()
	}
	if s.Replica() != m.replica {
		return 0, fmt.Errorf("replica id %v, child had %v", s.Replica(), m.replica)
	}
	stored, err := crashSnapshot(s)
	if err != nil {
		return 0, err
	}
	applied, err := m.resolve(stored)
	if err != nil {
		return 0, err
	}
	if err := m.compare(stored); err != nil {
		return 0, err
	}
	if err := s.CheckTallies(); err != nil {
		return 0, err
	}
	if err := m.checkTallies(s); err != nil {
		return 0, err
	}
	if newest := m.maxTS(); s.Clock().Last().Before(newest) {
		return 0, fmt.Errorf("restored clock %v behind durable register timestamp %v", s.Clock().Last(), newest)
	}
	if s.LastSeq() < m.maxSeq {
		return 0, fmt.Errorf("restored sequence %d below acknowledged %d", s.LastSeq(), m.maxSeq)
	}
	if err := m.replay(ctx, s); err != nil {
		return 0, err
	}
	if stored, err = crashSnapshot(s); err != nil {
		return 0, err
	}
	if err := m.compare(stored); err != nil {
		return 0, fmt.Errorf("after replaying idempotency keys: %w", err)
	}
	return applied, s.Close()
}

func crashSnapshot(s *persist.Store) (crdt.Delta, error) {
	var all crdt.Delta
	err := s.Snapshot(1000, func(d crdt.Delta) error { all.Join(d); return nil })
	return all, err
}

// resolve decides each in-flight write from the stored state: applied if its keys
// moved, not if they did not. A write whose ops disagree was applied in part.
func (m *crashModel) resolve(stored crdt.Delta) (applied int, err error) {
	for _, g := range slices.Sorted(maps.Keys(m.pending)) {
		p := m.pending[g]
		decided, in := false, false
		for _, op := range p.Ops {
			if op.Retry {
				continue // a replay changes nothing either way
			}
			var got bool
			if op.Add {
				k := crdt.CounterKey{Item: op.Item, Name: op.Counter}
				switch v := stored.Counters[k].Value(); v {
				case m.counters[k]:
				case m.counters[k] + op.By:
					got = true
				default:
					return applied, fmt.Errorf("writer %d in-flight write %d: %s/%s = %d, want %d or %d",
						g, p.N, op.Item, op.Counter, v, m.counters[k], m.counters[k]+op.By)
				}
			} else {
				k := crdt.RegisterKey{Item: op.Item, User: op.User}
				prev, reg := m.registers[k], stored.Registers[k]
				switch {
				case reg == prev:
				case reg.Kind == op.Kind && reg.Replica == m.replica && prev.TS.Before(reg.TS):
					got = true
				default:
					return applied, fmt.Errorf("writer %d in-flight write %d: register %s/%s = %+v, want %+v or a newer %q",
						g, p.N, op.Item, op.User, reg, prev, op.Kind)
				}
			}
			if decided && got != in {
				return applied, fmt.Errorf("writer %d in-flight write %d %+v applied in part", g, p.N, p.Ops)
			}
			decided, in = true, got
		}
		if !in {
			continue
		}
		applied++
		for _, op := range p.Ops {
			switch {
			case op.Retry:
			case op.Add:
				k := crdt.CounterKey{Item: op.Item, Name: op.Counter}
				m.counters[k] += op.By
				if op.Key != "" {
					m.keys[op.Key] = crashKeyRecord{item: op.Item, counter: op.Counter, by: op.By}
				}
			default:
				k := crdt.RegisterKey{Item: op.Item, User: op.User}
				reg := stored.Registers[k]
				if m.stamps[reg.TS] {
					return applied, fmt.Errorf("in-flight register %s/%s reuses timestamp %v", op.Item, op.User, reg.TS)
				}
				m.stamps[reg.TS] = true
				m.registers[k] = reg
			}
		}
	}
	clear(m.pending)
	return applied, nil
}

// compare checks that the store holds exactly the model's keys and states.
func (m *crashModel) compare(stored crdt.Delta) error {
	var bad []string
	for k, want := range m.counters {
		c, ok := stored.Counters[k]
		switch {
		case !ok && want != 0:
			bad = append(bad, fmt.Sprintf("counter %s/%s missing, want %d", k.Item, k.Name, want))
		case c.Value() != want:
			bad = append(bad, fmt.Sprintf("counter %s/%s = %d, want %d", k.Item, k.Name, c.Value(), want))
		case ok && !slices.Equal(c.Replicas(), []crdt.ReplicaID{m.replica}):
			bad = append(bad, fmt.Sprintf("counter %s/%s has entries of replicas %v", k.Item, k.Name, c.Replicas()))
		}
	}
	for k := range stored.Counters {
		if _, ok := m.counters[k]; !ok {
			bad = append(bad, fmt.Sprintf("counter %s/%s never written", k.Item, k.Name))
		}
	}
	for k, want := range m.registers {
		if got := stored.Registers[k]; got != want {
			bad = append(bad, fmt.Sprintf("register %s/%s = %+v, want %+v", k.Item, k.User, got, want))
		}
	}
	for k := range stored.Registers {
		if _, ok := m.registers[k]; !ok {
			bad = append(bad, fmt.Sprintf("register %s/%s never written", k.Item, k.User))
		}
	}
	if len(bad) > 0 {
		slices.Sort(bad)
		return fmt.Errorf("%d keys differ from acknowledged writes: %s", len(bad), strings.Join(bad[:min(len(bad), 10)], "; "))
	}
	return nil
}

// checkTallies compares each shared item's tallies with the model's registers.
func (m *crashModel) checkTallies(s *persist.Store) error {
	want := map[string]crdt.Tallies{}
	for k, r := range m.registers {
		if want[k.Item] == nil {
			want[k.Item] = crdt.Tallies{}
		}
		want[k.Item].Apply(crdt.TallyAdjust{To: r.Kind})
	}
	for i := range crashSharedItems {
		item := crashSharedItem(i)
		v, err := s.ReadItem(item, "")
		if err != nil {
			return err
		}
		if !v.Tallies.Equal(want[item]) {
			return fmt.Errorf("%s: tallies %v, registers say %v", item, v.Tallies, want[item])
		}
	}
	return nil
}

// replay repeats every known idempotency key: each must come back replayed with
// the counter's value and change nothing.
func (m *crashModel) replay(ctx context.Context, s *persist.Store) error {
	keys := slices.Sorted(maps.Keys(m.keys))
	for chunk := range slices.Chunk(keys, crashReplayChunk) {
		ops := make([]persist.Op, len(chunk))
		for i, key := range chunk {
			rec := m.keys[key]
			ops[i] = persist.AddOnce(rec.item, rec.counter, rec.by, key)
		}
		res, err := s.Write(ctx, ops...)
		if err != nil {
			return fmt.Errorf("replay idempotency keys: %w", err)
		}
		for i, key := range chunk {
			rec, r := m.keys[key], res[i]
			want := m.counters[crdt.CounterKey{Item: rec.item, Name: rec.counter}]
			if !r.Replayed || r.Value != want || r.Seq != 0 {
				return fmt.Errorf("key %q after restart: %+v, want replayed value %d seq 0", key, r, want)
			}
		}
		m.replayed += len(chunk)
	}
	return nil
}

func crashSharedItem(i int) string { return fmt.Sprintf("shared:%d", i) }

// The child.

// crashOut prints the child's lines, one Write each, in the order they are made.
type crashOut struct {
	mu  sync.Mutex
	enc *json.Encoder
}

func (o *crashOut) emit(l crashLine) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if err := o.enc.Encode(l); err != nil {
		os.Exit(3) // the parent is gone
	}
}

func (o *crashOut) fatal(err error) {
	o.emit(crashLine{T: "fatal", Msg: err.Error()})
	os.Exit(2)
}

// crashChild opens the store in dir and writes from crashWriters goroutines until
// it is killed.
func crashChild(dir string) {
	out := &crashOut{enc: json.NewEncoder(os.Stdout)}
	offset, err := time.ParseDuration(os.Getenv(crashEnvOffset))
	if err != nil {
		out.fatal(err)
	}
	seed, err := strconv.ParseUint(os.Getenv(crashEnvSeed), 10, 64)
	if err != nil {
		out.fatal(err)
	}
	cycle, err := strconv.Atoi(os.Getenv(crashEnvCycle))
	if err != nil {
		out.fatal(err)
	}
	opts := persist.SmallOptions(dir)
	opts.WallClock = func() time.Time { return time.Now().Add(offset) }
	opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	s, err := persist.Open(opts)
	if err != nil {
		out.fatal(err)
	}
	out.emit(crashLine{T: "ready", Replica: s.Replica(), LastSeq: s.LastSeq(), HLC: s.Clock().Last(),
		Wall: s.Clock().WallMillis()})
	var wg sync.WaitGroup
	for g := range crashWriters {
		w := &crashWriter{g: g, cycle: cycle, rng: rand.New(rand.NewPCG(seed^uint64(cycle)<<32, uint64(g)))}
		wg.Go(func() {
			if err := w.run(s, out); err != nil {
				out.fatal(fmt.Errorf("writer %d: %w", g, err))
			}
		})
	}
	wg.Wait() // the writers stop only when the process is killed
}

// crashWriter is one goroutine of the child and the keys it owns.
type crashWriter struct {
	g, cycle, n int
	rng         *rand.Rand
}

func (w *crashWriter) run(s *persist.Store, out *crashOut) error {
	ctx := context.Background()
	for {
		ops := w.pick()
		if err := w.write(ctx, s, out, ops); err != nil {
			return err
		}
		// Sometimes retry an acknowledged AddOnce: it must be replayed.
		if len(ops) == 1 && ops[0].Key != "" && w.rng.IntN(4) == 0 {
			retry := ops[0]
			retry.Retry = true
			if err := w.write(ctx, s, out, []crashOp{retry}); err != nil {
				return err
			}
		}
	}
}

func (w *crashWriter) write(ctx context.Context, s *persist.Store, out *crashOut, ops []crashOp) error {
	w.n++
	out.emit(crashLine{T: "begin", G: w.g, N: w.n, Ops: ops})
	pops := make([]persist.Op, len(ops))
	for i, op := range ops {
		pops[i] = op.op()
	}
	res, err := s.Write(ctx, pops...)
	if err != nil {
		return fmt.Errorf("write %d %+v: %w", w.n, ops, err)
	}
	out.emit(crashLine{T: "ack", G: w.g, N: w.n, Results: res})
	return nil
}

// pick returns the ops of the next write: one op, or now and then a few on
// distinct keys.
func (w *crashWriter) pick() []crashOp {
	if w.rng.IntN(100) >= 8 {
		return []crashOp{w.one()}
	}
	n := 2 + w.rng.IntN(3)
	ops := make([]crashOp, 0, n)
	seen := map[string]bool{}
	for len(ops) < n {
		op := w.one()
		id := op.Item + "\x00" + op.Counter + "\x00" + op.User
		if !seen[id] {
			seen[id] = true
			ops = append(ops, op)
		}
	}
	return ops
}

func (w *crashWriter) one() crashOp {
	item := fmt.Sprintf("g%02d:i%d", w.g, w.rng.IntN(crashItemsPerWriter))
	by := 1 + w.rng.Int64N(5)
	switch p := w.rng.IntN(100); {
	case p < 25:
		return crashOp{Add: true, Item: item, Counter: "claps", By: by}
	case p < 40:
		if w.rng.IntN(2) == 0 {
			by = -by
		}
		return crashOp{Add: true, Item: item, Counter: "score", By: by}
	case p < 65:
		w.n++ // keys stay unique even within one write
		key := fmt.Sprintf("c%d-g%d-n%d", w.cycle, w.g, w.n)
		return crashOp{Add: true, Item: item, Counter: "views", By: by, Key: key}
	default:
		return crashOp{
			Item: crashSharedItem(w.rng.IntN(crashSharedItems)),
			User: fmt.Sprintf("u%02d-%d", w.g, w.rng.IntN(crashUsersPerWriter)),
			Kind: crashKinds[w.rng.IntN(len(crashKinds))],
		}
	}
}
