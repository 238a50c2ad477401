package chaos

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"time"
)

// Evidence is everything the checker needs: the history and what the peers
// held once the run was over.
type Evidence struct {
	// Ops is the history of client calls.
	Ops []Op
	// Final is every peer's state of the items the history touched, read from
	// its store (registers included) after the mesh was healed.
	Final map[string]PeerState
	// Probes are the states of crashed peers read right after their restart.
	Probes []CrashProbe
}

// CrashProbe is a crashed peer's view of the touched items, read through its
// API right after it restarted on its data.
type CrashProbe struct {
	Peer   string
	Killed time.Time // when the peer was killed: writes it acked before are checked
	State  PeerState
}

// Status is a verdict on one invariant.
type Status int

const (
	// Pass: the invariant was checked and holds.
	Pass Status = iota
	// Fail: the invariant was broken.
	Fail
	// NotExercised: the run gave the invariant nothing to check (for example no
	// crash happened), so it proves nothing either way.
	NotExercised
)

func (s Status) String() string {
	return [...]string{"PASS", "FAIL", "NOT EXERCISED"}[s]
}

// Verdict is the checker's finding on one invariant.
type Verdict struct {
	Invariant string   // the invariant, as DESIGN.md §2 and the chaos issue name it
	Status    Status   // its verdict
	Checked   int      // how many facts were checked (items, counters, users, ...)
	Problems  []string // what broke it, at most maxProblems
}

const maxProblems = 10

func (v *Verdict) fail(format string, args ...any) {
	v.Status = Fail
	if len(v.Problems) < maxProblems {
		v.Problems = append(v.Problems, fmt.Sprintf(format, args...))
	}
}

func (v *Verdict) done() Verdict {
	if v.Status == Pass && v.Checked == 0 {
		v.Status = NotExercised
	}
	return *v
}

// The invariants, in the order the chaos issue lists them.
const (
	InvConvergence = "1 convergence: every peer returns the same view of every item"
	InvCounters    = "2 counters: between acknowledged and acknowledged+unknown increments"
	InvCausal      = "3 causal LWW: a session's last acknowledged reaction wins"
	InvTallies     = "4 tallies: equal the registers of each kind, on every peer"
	InvDurable     = "5 durability: acknowledged writes survive SIGKILL and restart"
)

// Check verifies the five invariants against the evidence.
func Check(e Evidence) []Verdict {
	return []Verdict{
		checkConvergence(e),
		checkCounters(e),
		checkCausal(e),
		checkTallies(e),
		checkDurable(e),
	}
}

func sortedPeers(final map[string]PeerState) []string {
	return slices.Sorted(maps.Keys(final))
}

// checkConvergence: every peer holds the same counters, tallies and registers
// of every touched item.
func checkConvergence(e Evidence) Verdict {
	v := Verdict{Invariant: InvConvergence}
	if len(e.Final) < 2 {
		v.fail("only %d peers reported a final state", len(e.Final))
		return v
	}
	items := Items(e.Ops)
	v.Checked = len(items) * len(e.Final)
	for _, d := range Differences(e.Final, items) {
		v.fail("%s", d)
	}
	return v.done()
}

type counterRef struct{ item, name string }

// increment is one logical increment: every op sent with its idempotency key
// (an op without a key stands alone), and every try of them. Retried at several
// peers, it still may count once only.
type increment struct {
	ref     counterRef
	by      int64
	first   int       // index of its first op, for messages
	outcome Outcome   // the fold of every try
	start   time.Time // of its first try
	// acked is, per peer that acknowledged it, when the first of those answers
	// arrived.
	acked map[string]time.Time
	// reached is, per peer a try may have been applied at (acknowledged or
	// unknown), when the first such try started: until the mesh converges, each
	// of those peers may count it once (a later applier compensates its own
	// application only once it learns of the earlier one).
	reached map[string]time.Time
}

// increments folds the increments of a history by idempotency key, in order of
// their first op, and lists keys the workload reused for another counter or
// amount: those cannot be told apart and break the check itself.
func increments(ops []Op) ([]*increment, []string) {
	var out []*increment
	var misuse []string
	byKey := map[string]*increment{}
	tries := map[*increment][]Try{}
	for _, op := range ops {
		if op.Kind != Increment {
			continue
		}
		ref := counterRef{op.Item, op.Counter}
		in := byKey[op.Key]
		switch {
		case in == nil:
			in = &increment{ref: ref, by: op.By, first: op.Index, start: op.Start,
				acked: map[string]time.Time{}, reached: map[string]time.Time{}}
			out = append(out, in)
			if op.Key != "" {
				byKey[op.Key] = in
			}
		case in.ref != ref || in.by != op.By:
			misuse = append(misuse, fmt.Sprintf("key %q sent for %s/%s by %d (op %d) and for %s/%s by %d (op %d)",
				op.Key, in.ref.item, in.ref.name, in.by, in.first, op.Item, op.Counter, op.By, op.Index))
			continue
		}
		for _, t := range op.Attempts() {
			tries[in] = append(tries[in], t)
			if t.Start.Before(in.start) {
				in.start = t.Start
			}
			if at, ok := in.acked[t.Peer]; t.Outcome == OK && (!ok || t.End.Before(at)) {
				in.acked[t.Peer] = t.End
			}
			if at, ok := in.reached[t.Peer]; t.Outcome != Failed && (!ok || t.Start.Before(at)) {
				in.reached[t.Peer] = t.Start
			}
		}
	}
	for _, in := range out {
		in.outcome = Fold(tries[in])
	}
	return out, misuse
}

// bounds is, per counter, the increments that may count: acknowledged ones and
// those of unknown outcome, once each in the converged mesh; and for reads during
// the run, once per peer a try reached, by the start of that try.
type bounds struct {
	acked, unknown int64
	starts         []time.Time // of every try that may have been applied at its peer, sorted
	prefix         []int64     // prefix[i] = sum of by of the first i of starts
}

// reach is one peer's first try of an increment that may have been applied.
type reach struct {
	start time.Time
	by    int64
}

func counterBounds(incs []*increment) map[counterRef]*bounds {
	all := map[counterRef][]reach{}
	b := map[counterRef]*bounds{}
	for _, in := range incs {
		if b[in.ref] == nil {
			b[in.ref] = &bounds{}
		}
		switch in.outcome {
		case OK:
			b[in.ref].acked += in.by
		case Unknown:
			b[in.ref].unknown += in.by
		default:
			continue
		}
		for _, start := range in.reached {
			all[in.ref] = append(all[in.ref], reach{start: start, by: in.by})
		}
	}
	for ref, reaches := range all {
		sort.Slice(reaches, func(i, j int) bool { return reaches[i].start.Before(reaches[j].start) })
		bb := b[ref]
		bb.prefix = []int64{0}
		for _, r := range reaches {
			bb.starts = append(bb.starts, r.start)
			bb.prefix = append(bb.prefix, bb.prefix[len(bb.prefix)-1]+r.by)
		}
	}
	return b
}

// startedBefore is the sum of the tries that started before t, once per peer
// each increment reached: the most a read that ended at t may see.
func (b *bounds) startedBefore(t time.Time) int64 {
	n := sort.Search(len(b.starts), func(i int) bool { return !b.starts[i].Before(t) })
	return b.prefix[n]
}

// checkCounters: every final counter lies between its acknowledged increments
// and those plus the unknown ones, each logical increment (one idempotency key,
// however many peers its tries reached) counted once; no read during the run
// saw more than had been sent by then, an increment counted at most once per
// peer its tries had reached (the mesh settles duplicates as it converges).
func checkCounters(e Evidence) Verdict {
	v := Verdict{Invariant: InvCounters}
	incs, misuse := increments(e.Ops)
	for _, m := range misuse {
		v.fail("%s: the workload must give each increment its own key", m)
	}
	b := counterBounds(incs)
	refs := slices.SortedFunc(maps.Keys(b), compareRefs)
	for _, p := range sortedPeers(e.Final) {
		for _, ref := range refs {
			bb := b[ref]
			got := e.Final[p][ref.item].Counters[ref.name]
			v.Checked++
			if got < bb.acked {
				v.fail("%s: %s/%s = %d, but %d was acknowledged: acknowledged increments lost", p, ref.item, ref.name, got, bb.acked)
			} else if got > bb.acked+bb.unknown {
				v.fail("%s: %s/%s = %d, above the %d acknowledged + %d unknown: counted twice", p, ref.item, ref.name, got, bb.acked, bb.unknown)
			}
		}
	}
	for _, op := range e.Ops {
		if op.Observed == nil || op.Outcome != OK {
			continue
		}
		for name, got := range op.Observed.Counters {
			bb := b[counterRef{op.Item, name}]
			if bb == nil {
				continue
			}
			v.Checked++
			if most := bb.startedBefore(op.End); got > most {
				v.fail("op %d (%s at %s): read %s/%s = %d, but only %d had been sent: counted twice", op.Index, op.Kind, op.Peer, op.Item, name, got, most)
			}
		}
	}
	return v.done()
}

func compareRefs(x, y counterRef) int {
	if x.item != y.item {
		return compareStrings(x.item, y.item)
	}
	return compareStrings(x.name, y.name)
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

type registerRef struct{ item, user string }

// checkCausal: for every user owned by one causal session, every peer's final
// register holds the session's last acknowledged reaction, or the reaction of
// one of its tries of unknown outcome (which no later write observed).
func checkCausal(e Evidence) Verdict {
	v := Verdict{Invariant: InvCausal}
	type owned struct {
		session  int
		sessions map[int]bool
		lastOK   *Op
		unknown  map[string]bool
	}
	users := map[registerRef]*owned{}
	for i := range e.Ops {
		op := &e.Ops[i]
		if op.Kind != React || !op.Causal {
			continue
		}
		ref := registerRef{op.Item, op.User}
		o := users[ref]
		if o == nil {
			o = &owned{session: op.Session, sessions: map[int]bool{}, unknown: map[string]bool{}}
			users[ref] = o
		}
		o.sessions[op.Session] = true
		if op.Outcome == OK {
			// Sessions are sequential: the op that completed last was issued last.
			if o.lastOK == nil || op.Start.After(o.lastOK.Start) {
				o.lastOK = op
			}
		}
		// A try of unknown outcome may have been applied with a timestamp the
		// session never saw — on a peer whose clock is ahead, later than the
		// acknowledged retry and than the writes that passed its token along.
		for _, t := range op.Attempts() {
			if t.Outcome == Unknown {
				o.unknown[op.Reaction] = true
			}
		}
	}
	refs := slices.SortedFunc(maps.Keys(users), func(x, y registerRef) int {
		if x.item != y.item {
			return compareStrings(x.item, y.item)
		}
		return compareStrings(x.user, y.user)
	})
	for _, ref := range refs {
		o := users[ref]
		if len(o.sessions) > 1 {
			v.fail("%s/%s: written by %d causal sessions; the workload must give each causal user one session", ref.item, ref.user, len(o.sessions))
			continue
		}
		want := ""
		if o.lastOK != nil {
			want = o.lastOK.Reaction
		}
		for _, p := range sortedPeers(e.Final) {
			regs := e.Final[p][ref.item].Registers
			if regs == nil {
				v.fail("%s: no registers in its final state of %s", p, ref.item)
				continue
			}
			got := regs[ref.user]
			v.Checked++
			if got != want && !o.unknown[got] {
				last := "no acknowledged write"
				if o.lastOK != nil {
					last = fmt.Sprintf("op %d at %s", o.lastOK.Index, o.lastOK.Peer)
				}
				v.fail("%s: %s/%s is %q, but session %d's last acknowledged reaction is %q (%s)", p, ref.item, ref.user, got, o.session, want, last)
			}
		}
	}
	return v.done()
}

// checkTallies: on every peer, each final tally equals the number of registers
// of its kind; during the run, no answer showed more users reacting to an item
// than had reacted to it by then.
func checkTallies(e Evidence) Verdict {
	v := Verdict{Invariant: InvTallies}
	items := Items(e.Ops)
	for _, p := range sortedPeers(e.Final) {
		for _, it := range items {
			st := e.Final[p][it]
			if st.Registers == nil {
				if len(nonZero(st.Tallies)) > 0 {
					v.fail("%s: %s has tallies %v but no registers were read", p, it, st.Tallies)
				}
				continue
			}
			counted := map[string]int64{}
			for _, kind := range st.Registers {
				if kind != "" {
					counted[kind]++
				}
			}
			v.Checked++
			if !maps.Equal(nonZero(st.Tallies), counted) {
				v.fail("%s: %s has tallies %v but registers of each kind %v", p, it, nonZero(st.Tallies), counted)
			}
		}
	}
	// Users who may have reacted to each item, by the start of their first write.
	first := map[registerRef]time.Time{}
	for _, op := range e.Ops {
		if op.Kind != React || op.Outcome == Failed {
			continue
		}
		ref := registerRef{op.Item, op.User}
		if t, ok := first[ref]; !ok || op.Start.Before(t) {
			first[ref] = op.Start
		}
	}
	starts := map[string][]time.Time{}
	for ref, t := range first {
		starts[ref.item] = append(starts[ref.item], t)
	}
	for _, ts := range starts {
		slices.SortFunc(ts, time.Time.Compare)
	}
	for _, op := range e.Ops {
		if op.Observed == nil || op.Outcome != OK {
			continue
		}
		var sum int64
		for kind, n := range op.Observed.Tallies {
			if n < 0 {
				v.fail("op %d (%s at %s): %s tally %s = %d", op.Index, op.Kind, op.Peer, op.Item, kind, n)
			}
			sum += n
		}
		ts := starts[op.Item]
		users := sort.Search(len(ts), func(i int) bool { return !ts[i].Before(op.End) })
		v.Checked++
		if sum > int64(users) {
			v.fail("op %d (%s at %s): %s shows %d reactions, but only %d users had reacted: a user counted twice", op.Index, op.Kind, op.Peer, op.Item, sum, users)
		}
	}
	return v.done()
}

// checkDurable: a crashed peer, read right after its restart, holds at least the
// increments it acknowledged before it was killed, each logical increment once
// however often the peer acknowledged it. Only the counters that the peer
// mostly increments alone (the workload's "at-<peer>") can show a loss: on a
// counter every peer increments, the others' shares, merged back, hide it.
func checkDurable(e Evidence) Verdict {
	v := Verdict{Invariant: InvDurable}
	incs, _ := increments(e.Ops)
	for _, pr := range e.Probes {
		acked := map[counterRef]int64{}
		for _, in := range incs {
			if at, ok := in.acked[pr.Peer]; ok && at.Before(pr.Killed) {
				acked[in.ref] += in.by
			}
		}
		for _, ref := range slices.SortedFunc(maps.Keys(acked), compareRefs) {
			sum := acked[ref]
			st, ok := pr.State[ref.item]
			v.Checked++
			if !ok {
				v.fail("%s after restart: %s not read", pr.Peer, ref.item)
				continue
			}
			if got := st.Counters[ref.name]; got < sum {
				v.fail("%s after restart: %s/%s = %d, but it had acknowledged %d before it was killed", pr.Peer, ref.item, ref.name, got, sum)
			}
		}
	}
	return v.done()
}
