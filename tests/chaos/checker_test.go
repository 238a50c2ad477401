package chaos

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// t0 is the start of the hand-built histories; at(ms) is ms after it.
var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

func inc(peer, counter string, by int64, o Outcome, start, end int) Op {
	return Op{Peer: peer, Kind: Increment, Item: "i", Counter: counter, By: by, Outcome: o, Start: at(start), End: at(end)}
}

func react(session int, peer, user, reaction string, causal bool, o Outcome, start, end int) Op {
	return Op{Session: session, Peer: peer, Kind: React, Item: "i", User: user, Reaction: reaction, Causal: causal, Outcome: o, Start: at(start), End: at(end)}
}

func read(peer string, seen ItemState, start, end int) Op {
	return Op{Peer: peer, Kind: Read, Item: "i", Outcome: OK, Start: at(start), End: at(end), Observed: &seen}
}

// baseOps is a small consistent history on item "i" of peers a and b:
// 3+2 claps acknowledged and 4 of unknown outcome, causal user c written like
// then dislike by session 0, shared user s liked by session 1.
func baseOps() []Op {
	return []Op{
		inc("a", "claps", 3, OK, 0, 10),
		inc("b", "claps", 2, OK, 5, 15),
		inc("a", "claps", 4, Unknown, 20, 30),
		react(0, "a", "c", "like", true, OK, 30, 40),
		react(0, "b", "c", "dislike", true, OK, 50, 60),
		react(1, "b", "s", "like", false, OK, 55, 65),
		read("b", ItemState{Counters: map[string]int64{"claps": 5}, Tallies: map[string]int64{"like": 1}}, 70, 80),
	}
}

// good is the final state of baseOps' item on one peer: the unknown
// increment applied.
func good() ItemState {
	return ItemState{
		Counters:  map[string]int64{"claps": 9},
		Tallies:   map[string]int64{"like": 1, "dislike": 1},
		Registers: map[string]string{"c": "dislike", "s": "like"},
	}
}

// withoutRegisters is good() as the API shows it.
func withoutRegisters() ItemState {
	st := good()
	st.Registers = nil
	return st
}

// evidence builds the evidence of ops with each peer's final state of "i".
func evidence(ops []Op, finals map[string]ItemState, probes ...CrashProbe) Evidence {
	for i := range ops {
		ops[i].Index = i
	}
	e := Evidence{Ops: ops, Final: map[string]PeerState{}, Probes: probes}
	for p, st := range finals {
		e.Final[p] = PeerState{"i": st}
	}
	return e
}

func both(st ItemState) map[string]ItemState { return map[string]ItemState{"a": st, "b": st} }

// verdictOf returns the verdict on inv, failing the test if it is missing.
func verdictOf(t *testing.T, vs []Verdict, inv string) Verdict {
	t.Helper()
	for _, v := range vs {
		if v.Invariant == inv {
			return v
		}
	}
	t.Fatalf("no verdict on %s", inv)
	return Verdict{}
}

// expect checks the status of inv, and that a failure's problems mention
// every one of words.
func expect(t *testing.T, e Evidence, inv string, want Status, words ...string) {
	t.Helper()
	v := verdictOf(t, Check(e), inv)
	if v.Status != want {
		t.Fatalf("%s: %s (%d checked), want %s; problems: %q", inv, v.Status, v.Checked, want, v.Problems)
	}
	if want == Fail && len(v.Problems) == 0 {
		t.Fatalf("%s failed without saying why", inv)
	}
	for _, w := range words {
		if !strings.Contains(strings.Join(v.Problems, "\n"), w) {
			t.Errorf("%s: problems %q do not mention %q", inv, v.Problems, w)
		}
	}
}

var allInvariants = []string{InvConvergence, InvCounters, InvCausal, InvTallies, InvDurable}

func TestCheckPassesAConsistentRun(t *testing.T) {
	probe := CrashProbe{Peer: "a", Killed: at(35), State: PeerState{"i": {Counters: map[string]int64{"claps": 3}}}}
	vs := Check(evidence(baseOps(), both(good()), probe))
	if len(vs) != 5 {
		t.Fatalf("%d verdicts, want 5", len(vs))
	}
	for i, inv := range allInvariants {
		if vs[i].Invariant != inv {
			t.Errorf("verdict %d is on %q, want %q", i, vs[i].Invariant, inv)
		}
		if vs[i].Status != Pass || vs[i].Checked == 0 || len(vs[i].Problems) > 0 {
			t.Errorf("%s: %s (%d checked), problems %q; want PASS", inv, vs[i].Status, vs[i].Checked, vs[i].Problems)
		}
	}
}

func TestCheckNothingToCheckIsNotExercised(t *testing.T) {
	empty := ItemState{Registers: map[string]string{}}
	for _, v := range Check(evidence(nil, both(empty))) {
		if v.Status != NotExercised {
			t.Errorf("%s: %s with nothing to check, want NOT EXERCISED", v.Invariant, v.Status)
		}
	}
	// Writes, but no crash: durability alone proves nothing.
	expect(t, evidence(baseOps(), both(good())), InvDurable, NotExercised)
}

func TestCheckConvergence(t *testing.T) {
	t.Run("peers differ", func(t *testing.T) {
		behind := good()
		behind.Counters = map[string]int64{"claps": 5}
		expect(t, evidence(baseOps(), map[string]ItemState{"a": good(), "b": behind}), InvConvergence, Fail, "a=", "b=")
	})
	t.Run("registers differ", func(t *testing.T) {
		other := good()
		other.Registers = map[string]string{"c": "dislike", "s": "dislike"}
		expect(t, evidence(baseOps(), map[string]ItemState{"a": good(), "b": other}), InvConvergence, Fail, "i:")
	})
	t.Run("a zero counter equals a missing one", func(t *testing.T) {
		zero := good()
		zero.Counters = map[string]int64{"claps": 9, "views": 0}
		expect(t, evidence(baseOps(), map[string]ItemState{"a": good(), "b": zero}), InvConvergence, Pass)
	})
	t.Run("one peer cannot converge with anyone", func(t *testing.T) {
		expect(t, evidence(baseOps(), map[string]ItemState{"a": good()}), InvConvergence, Fail, "only 1 peers")
	})
}

func TestCheckCounters(t *testing.T) {
	withClaps := func(n int64) ItemState {
		st := good()
		st.Counters = map[string]int64{"claps": n}
		return st
	}
	t.Run("the unknown increment may or may not count", func(t *testing.T) {
		expect(t, evidence(baseOps(), both(withClaps(5))), InvCounters, Pass)
		expect(t, evidence(baseOps(), both(withClaps(9))), InvCounters, Pass)
	})
	t.Run("lost acknowledged increment", func(t *testing.T) {
		expect(t, evidence(baseOps(), both(withClaps(4))), InvCounters, Fail, "acknowledged increments lost", "= 4, but 5")
	})
	t.Run("double counted increment", func(t *testing.T) {
		expect(t, evidence(baseOps(), both(withClaps(12))), InvCounters, Fail, "counted twice", "= 12, above the 5 acknowledged + 4 unknown")
	})
	t.Run("failed increments never count", func(t *testing.T) {
		ops := append(baseOps(), inc("b", "claps", 7, Failed, 90, 95))
		expect(t, evidence(ops, both(withClaps(16))), InvCounters, Fail, "counted twice")
	})
	t.Run("a read saw more than was sent", func(t *testing.T) {
		// At 4 ms only the first increment (3) had started.
		ops := append(baseOps(), read("a", ItemState{Counters: map[string]int64{"claps": 5}}, 2, 4))
		expect(t, evidence(ops, both(good())), InvCounters, Fail, "read i/claps = 5, but only 3 had been sent")
	})
	t.Run("a read may see an increment not yet answered", func(t *testing.T) {
		ops := append(baseOps(), read("a", ItemState{Counters: map[string]int64{"claps": 9}}, 22, 25))
		expect(t, evidence(ops, both(good())), InvCounters, Pass)
	})
	t.Run("each counter on its own", func(t *testing.T) {
		ops := append(baseOps(), inc("a", "at-a", 6, OK, 100, 110))
		st := good()
		st.Counters["at-a"] = 5
		expect(t, evidence(ops, both(st)), InvCounters, Fail, "i/at-a = 5, but 6 was acknowledged")
	})
}

// try is one request of an op, at peer, from start to end ms.
func try(peer string, o Outcome, start, end int) Try {
	return Try{Peer: peer, Outcome: o, Start: at(start), End: at(end), Err: o.String()}
}

// retried is a keyed op sent as tries, as the client records it: the op's
// span, first peer and outcome follow from them.
func retried(op Op, key string, tries ...Try) Op {
	op.Key, op.Tries = key, tries
	op.Peer, op.Start, op.End = tries[0].Peer, tries[0].Start, tries[len(tries)-1].End
	op.Outcome = Fold(tries)
	return op
}

func TestFold(t *testing.T) {
	for _, tc := range []struct {
		tries []Outcome
		want  Outcome
	}{
		{nil, Failed},
		{[]Outcome{Failed, Failed}, Failed},
		{[]Outcome{Unknown, Failed}, Unknown},
		{[]Outcome{Failed, Unknown, Failed}, Unknown},
		{[]Outcome{Unknown, Unknown, OK}, OK},
		{[]Outcome{OK, Failed}, OK},
	} {
		var tries []Try
		for _, o := range tc.tries {
			tries = append(tries, Try{Outcome: o})
		}
		if got := Fold(tries); got != tc.want {
			t.Errorf("Fold(%v) = %s, want %s", tc.tries, got, tc.want)
		}
	}
}

// TestCheckCountersRetriedAtSeveralPeers: an increment sent with one key to
// several peers is one increment — acknowledged if any peer acknowledged it,
// unknown if none did and some answer is unknown, failed only if every peer
// refused it — whether the history holds it as one op or as an op per try.
func TestCheckCountersRetriedAtSeveralPeers(t *testing.T) {
	withClaps := func(n int64) map[string]ItemState {
		st := good()
		st.Counters = map[string]int64{"claps": n}
		return both(st)
	}
	// baseOps: 5 acknowledged, 4 unknown.
	t.Run("unknown at one peer, acknowledged at another, counts once", func(t *testing.T) {
		ops := append(baseOps(), retried(inc("a", "claps", 6, OK, 0, 0), "k", try("a", Unknown, 100, 110), try("b", OK, 210, 220), try("c", OK, 230, 240)))
		expect(t, evidence(ops, withClaps(11)), InvCounters, Pass)
		expect(t, evidence(ops, withClaps(15)), InvCounters, Pass) // the base's unknown 4
		expect(t, evidence(ops, withClaps(17)), InvCounters, Fail, "= 17, above the 11 acknowledged + 4 unknown: counted twice")
		expect(t, evidence(ops, withClaps(10)), InvCounters, Fail, "= 10, but 11 was acknowledged")
	})
	t.Run("unknown everywhere may count once", func(t *testing.T) {
		ops := append(baseOps(), retried(inc("a", "claps", 6, OK, 0, 0), "k", try("a", Unknown, 100, 110), try("b", Failed, 210, 220), try("c", Unknown, 230, 240)))
		expect(t, evidence(ops, withClaps(15)), InvCounters, Pass)
		expect(t, evidence(ops, withClaps(21)), InvCounters, Fail, "above the 5 acknowledged + 10 unknown")
	})
	t.Run("refused everywhere never counts", func(t *testing.T) {
		ops := append(baseOps(), retried(inc("a", "claps", 6, OK, 0, 0), "k", try("a", Failed, 100, 110), try("b", Failed, 210, 220)))
		expect(t, evidence(ops, withClaps(9)), InvCounters, Pass)
		expect(t, evidence(ops, withClaps(15)), InvCounters, Fail, "counted twice")
	})
	t.Run("an op per try, one key", func(t *testing.T) {
		ops := append(baseOps(),
			retried(inc("a", "claps", 6, OK, 0, 0), "k", try("a", Unknown, 100, 110)),
			retried(inc("b", "claps", 6, OK, 0, 0), "k", try("b", OK, 210, 220)),
			retried(inc("b", "claps", 6, OK, 0, 0), "k", try("b", OK, 230, 240)))
		expect(t, evidence(ops, withClaps(15)), InvCounters, Pass)
		expect(t, evidence(ops, withClaps(17)), InvCounters, Fail, "above the 11 acknowledged + 4 unknown")
	})
	t.Run("a read may see it from its first try on", func(t *testing.T) {
		ops := append(baseOps(),
			retried(inc("a", "claps", 6, OK, 0, 0), "k", try("a", Unknown, 100, 110), try("b", OK, 210, 220)),
			read("c", ItemState{Counters: map[string]int64{"claps": 15}}, 101, 105))
		expect(t, evidence(ops, withClaps(11)), InvCounters, Pass)
		ops[len(ops)-1] = read("c", ItemState{Counters: map[string]int64{"claps": 15}}, 95, 99)
		expect(t, evidence(ops, withClaps(11)), InvCounters, Fail, "read i/claps = 15, but only 9 had been sent")
	})
	t.Run("a key reused for another increment", func(t *testing.T) {
		ops := append(baseOps(),
			retried(inc("a", "claps", 6, OK, 0, 0), "k", try("a", OK, 100, 110)),
			retried(inc("b", "claps", 2, OK, 0, 0), "k", try("b", OK, 210, 220)))
		expect(t, evidence(ops, withClaps(11)), InvCounters, Fail, `key "k" sent for i/claps by 6`, "its own key")
	})
}

// TestCheckDurableRetriedAtSeveralPeers: a crashed peer owes the increments
// it acknowledged itself, once each, not those other peers acknowledged.
func TestCheckDurableRetriedAtSeveralPeers(t *testing.T) {
	probe := func(peer string, claps int64) CrashProbe {
		return CrashProbe{Peer: peer, Killed: at(300), State: PeerState{"i": {Counters: map[string]int64{"claps": claps}}}}
	}
	// baseOps: a acknowledged 3, b acknowledged 2.
	ops := append(baseOps(), retried(inc("a", "claps", 6, OK, 0, 0), "k", try("a", Unknown, 100, 110), try("b", OK, 210, 220), try("b", OK, 230, 240)))
	expect(t, evidence(ops, both(good()), probe("a", 3)), InvDurable, Pass)
	expect(t, evidence(ops, both(good()), probe("b", 8)), InvDurable, Pass)
	expect(t, evidence(ops, both(good()), probe("b", 7)), InvDurable, Fail, "b after restart: i/claps = 7, but it had acknowledged 8")
}

func TestCountOpsSpread(t *testing.T) {
	ops := []Op{
		retried(inc("a", "claps", 1, OK, 0, 0), "k1", try("a", Unknown, 0, 1), try("a", OK, 2, 3)),
		retried(inc("a", "claps", 1, OK, 0, 0), "k2", try("a", Unknown, 0, 1), try("b", Unknown, 2, 3), try("c", Failed, 4, 5)),
		inc("b", "claps", 1, Failed, 0, 1),
		read("a", ItemState{}, 0, 1),
	}
	writes, reads := CountOps(ops)
	if want := (Counts{Attempted: 3, OK: 1, Failed: 1, Unknown: 1, Requests: 6, Spread: 1}); writes != want {
		t.Errorf("writes %+v, want %+v", writes, want)
	}
	if want := (Counts{Attempted: 1, OK: 1, Requests: 1}); reads != want {
		t.Errorf("reads %+v, want %+v", reads, want)
	}
}

func TestCheckCausal(t *testing.T) {
	withC := func(kind string) ItemState {
		st := good()
		st.Registers = map[string]string{"c": kind, "s": "like"}
		if kind == "like" {
			st.Tallies = map[string]int64{"like": 2}
		}
		return st
	}
	t.Run("final register is an older write", func(t *testing.T) {
		expect(t, evidence(baseOps(), both(withC("like"))), InvCausal, Fail, `i/c is "like", but session 0's last acknowledged reaction is "dislike"`)
	})
	t.Run("on one peer only", func(t *testing.T) {
		v := verdictOf(t, Check(evidence(baseOps(), map[string]ItemState{"a": good(), "b": withC("like")})), InvCausal)
		if v.Status != Fail || len(v.Problems) != 1 || !strings.HasPrefix(v.Problems[0], "b:") {
			t.Errorf("got %s %q, want one problem on b", v.Status, v.Problems)
		}
	})
	t.Run("a write of unknown outcome may win", func(t *testing.T) {
		ops := append(baseOps(), react(0, "a", "c", "like", true, Unknown, 90, 95))
		expect(t, evidence(ops, both(withC("like"))), InvCausal, Pass)
	})
	t.Run("an unknown try of an acknowledged write may win", func(t *testing.T) {
		// Applied at a (clock ahead) unanswered, then acknowledged at b: the
		// session's token never covered a's timestamp, so its later dislike
		// may lose to it.
		like := retried(react(0, "a", "c", "like", true, OK, 0, 0), "", try("a", Unknown, 70, 80), try("b", OK, 180, 190))
		ops := append(baseOps(), like, react(0, "b", "c", "dislike", true, OK, 200, 210))
		expect(t, evidence(ops, both(withC("like"))), InvCausal, Pass)
		like.Tries[0].Outcome = Failed
		ops[len(ops)-2] = like
		expect(t, evidence(ops, both(withC("like"))), InvCausal, Fail, "i/c")
	})
	t.Run("a failed write may not", func(t *testing.T) {
		ops := append(baseOps(), react(0, "a", "c", "like", true, Failed, 90, 95))
		expect(t, evidence(ops, both(withC("like"))), InvCausal, Fail, "i/c")
	})
	t.Run("a cleared reaction", func(t *testing.T) {
		ops := append(baseOps(), react(0, "a", "c", "", true, OK, 90, 95))
		st := good()
		st.Registers = map[string]string{"s": "like"}
		st.Tallies = map[string]int64{"like": 1}
		expect(t, evidence(ops, both(st)), InvCausal, Pass)
		expect(t, evidence(ops, both(good())), InvCausal, Fail, `i/c is "dislike"`)
	})
	t.Run("shared users are not causal", func(t *testing.T) {
		st := good()
		st.Registers["s"] = "dislike"
		st.Tallies = map[string]int64{"dislike": 2}
		expect(t, evidence(baseOps(), both(st)), InvCausal, Pass)
	})
	t.Run("a causal user of two sessions is a broken workload", func(t *testing.T) {
		ops := append(baseOps(), react(3, "a", "c", "dislike", true, OK, 90, 95))
		expect(t, evidence(ops, both(good())), InvCausal, Fail, "written by 2 causal sessions")
	})
	t.Run("registers missing", func(t *testing.T) {
		expect(t, evidence(baseOps(), both(withoutRegisters())), InvCausal, Fail, "no registers")
	})
}

func TestCheckTallies(t *testing.T) {
	t.Run("tallies differ from the registers", func(t *testing.T) {
		st := good()
		st.Tallies = map[string]int64{"like": 2, "dislike": 1}
		expect(t, evidence(baseOps(), both(st)), InvTallies, Fail, "has tallies map[dislike:1 like:2] but registers of each kind map[dislike:1 like:1]")
	})
	t.Run("a read shows more reactions than users", func(t *testing.T) {
		// At 62 ms, c and s had started reacting: two users, three reactions.
		ops := append(baseOps(), read("a", ItemState{Tallies: map[string]int64{"like": 2, "dislike": 1}}, 58, 62))
		expect(t, evidence(ops, both(good())), InvTallies, Fail, "shows 3 reactions, but only 2 users had reacted")
	})
	t.Run("a read before anyone reacted", func(t *testing.T) {
		ops := append(baseOps(), read("a", ItemState{Tallies: map[string]int64{"like": 1}}, 20, 25))
		expect(t, evidence(ops, both(good())), InvTallies, Fail, "only 0 users")
	})
	t.Run("a negative tally", func(t *testing.T) {
		ops := append(baseOps(), read("a", ItemState{Tallies: map[string]int64{"like": -1}}, 90, 95))
		expect(t, evidence(ops, both(good())), InvTallies, Fail, "tally like = -1")
	})
	t.Run("tallies without registers", func(t *testing.T) {
		expect(t, evidence(baseOps(), both(withoutRegisters())), InvTallies, Fail, "no registers were read")
	})
}

func TestCheckDurable(t *testing.T) {
	probe := func(claps int64) CrashProbe {
		return CrashProbe{Peer: "a", Killed: at(35), State: PeerState{"i": {Counters: map[string]int64{"claps": claps}}}}
	}
	t.Run("below what the peer acknowledged before its kill", func(t *testing.T) {
		expect(t, evidence(baseOps(), both(good()), probe(2)), InvDurable, Fail, "a after restart: i/claps = 2, but it had acknowledged 3")
	})
	t.Run("what it answered after the kill does not count", func(t *testing.T) {
		ops := append(baseOps(), inc("a", "claps", 10, OK, 36, 40))
		expect(t, evidence(ops, both(good()), probe(3)), InvDurable, Pass)
	})
	t.Run("other peers' increments do not count", func(t *testing.T) {
		// b acknowledged 2 before the kill; a's 3 and the unknown 4 are not its.
		pr := probe(1)
		pr.Peer = "b"
		expect(t, evidence(baseOps(), both(good()), pr), InvDurable, Fail, "b after restart: i/claps = 1, but it had acknowledged 2")
		pr.State["i"].Counters["claps"] = 2
		expect(t, evidence(baseOps(), both(good()), pr), InvDurable, Pass)
	})
	t.Run("item not read", func(t *testing.T) {
		pr := probe(3)
		pr.State = PeerState{}
		expect(t, evidence(baseOps(), both(good()), pr), InvDurable, Fail, "i not read")
	})
}

func TestCheckKeepsAtMostMaxProblems(t *testing.T) {
	finals := map[string]ItemState{}
	for i := range 2 * maxProblems {
		st := good()
		st.Counters = map[string]int64{"claps": 1}
		finals[fmt.Sprintf("p%02d", i)] = st
	}
	v := verdictOf(t, Check(evidence(baseOps(), finals)), InvCounters)
	if v.Status != Fail || len(v.Problems) != maxProblems || v.Checked != 2*maxProblems+1 {
		t.Errorf("%s, %d problems, %d checked; want FAIL, %d problems, %d checked", v.Status, len(v.Problems), v.Checked, maxProblems, 2*maxProblems+1)
	}
}

// testFaults are three faults, the last of them once only.
var testFaults = []Fault{{Name: "partition"}, {Name: "skew"}, {Name: "add", Once: true}}

func TestPlanIsDeterministic(t *testing.T) {
	a := Plan(7, testFaults, 10*time.Second, time.Second)
	if b := Plan(7, testFaults, 10*time.Second, time.Second); !slices.Equal(a, b) {
		t.Fatalf("one seed, two plans:\n%v\n%v", a, b)
	}
	if c := Plan(8, testFaults, 10*time.Second, time.Second); slices.Equal(a, c) {
		t.Errorf("seeds 7 and 8 drew the same plan %v", a)
	}
}

func TestPlanSchedulesEveryFault(t *testing.T) {
	for seed := range uint64(50) {
		for _, d := range []time.Duration{0, time.Millisecond, 3 * time.Second, 20 * time.Second} {
			minFor := 300 * time.Millisecond
			steps := Plan(seed, testFaults, d, minFor)
			count := make([]int, len(testFaults))
			var end time.Duration
			for i, st := range steps {
				count[st.Fault]++
				if st.For < minFor || st.For > 2*minFor {
					t.Fatalf("seed %d: step %d lasts %s, want [%s, %s]", seed, i, st.For, minFor, 2*minFor)
				}
				if st.At < end || st.At > end+minFor/2 {
					t.Fatalf("seed %d: step %d starts at %s, the previous one ended at %s: want a pause of at most %s", seed, i, st.At, end, minFor/2)
				}
				end = st.At + st.For
			}
			for f, n := range count {
				if n == 0 || (testFaults[f].Once && n != 1) {
					t.Fatalf("seed %d, duration %s: fault %s scheduled %d times", seed, d, testFaults[f].Name, n)
				}
			}
			if end < d {
				t.Fatalf("seed %d: the schedule ends at %s, before the duration %s", seed, end, d)
			}
			// Past the first round, the schedule stops once the duration is filled.
			if last := steps[len(steps)-1]; count[0] > 1 && last.At > d+minFor/2 {
				t.Fatalf("seed %d: a step at %s starts well after the duration %s", seed, last.At, d)
			}
		}
	}
}

func TestPlanOfOnceFaultsOnly(t *testing.T) {
	steps := Plan(1, []Fault{{Name: "add", Once: true}}, time.Minute, time.Second)
	if len(steps) != 1 {
		t.Errorf("%d steps of a fault that runs once, want 1", len(steps))
	}
	if steps := Plan(1, nil, time.Minute, time.Second); len(steps) != 0 {
		t.Errorf("%d steps without faults", len(steps))
	}
}

func TestPlanWithoutFaultLength(t *testing.T) {
	done := make(chan []Step, 1)
	go func() { done <- Plan(1, testFaults, time.Second, 0) }()
	select {
	case steps := <-done:
		if len(steps) != len(testFaults) {
			t.Errorf("%d steps, want every fault once", len(steps))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Plan with no fault length did not return")
	}
}

// report is a finished run's report with the given verdicts.
func report(vs ...Verdict) *Report {
	return &Report{
		Seed:     42,
		Cluster:  "test mesh",
		Duration: 3 * time.Second,
		Writes:   Counts{Attempted: 10, OK: 7, Failed: 2, Unknown: 1, Requests: 12, Spread: 2},
		Reads:    Counts{Attempted: 4, OK: 3, Failed: 1},
		Faults: []Injection{
			{Fault: "partition", What: "r1 cut off", At: time.Second, For: 300 * time.Millisecond},
			{Fault: "partition", What: "r2 cut off", At: 2 * time.Second, For: 300 * time.Millisecond, Err: "repair: boom"},
		},
		Convergence: 80 * time.Millisecond,
		Verdicts:    vs,
	}
}

func passing() []Verdict {
	var vs []Verdict
	for _, inv := range allInvariants {
		vs = append(vs, Verdict{Invariant: inv, Status: Pass, Checked: 3})
	}
	return vs
}

func TestSummary(t *testing.T) {
	vs := passing()
	vs[4].Status, vs[4].Checked = NotExercised, 0
	r := report(vs...)
	s := r.Summary()
	for _, want := range []string{
		"chaos run PASS — seed 42 — test mesh",
		"10 attempted: 7 ok, 2 failed, 1 unknown (12 requests with retries; 2 sent to several peers)",
		"4 attempted: 3 ok, 1 failed",
		"2 injected: partition×2",
		"r1 cut off", "ERROR repair: boom",
		"80ms after the heal",
		"PASS          " + InvConvergence + " (3 checked)",
		"NOT EXERCISED " + InvDurable + " (0 checked)",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("summary lacks %q:\n%s", want, s)
		}
	}
	for _, inv := range allInvariants {
		if !strings.Contains(s, inv) {
			t.Errorf("summary lacks the verdict on %q", inv)
		}
	}
	if strings.Contains(s, "replay") {
		t.Errorf("a passing summary says how to replay:\n%s", s)
	}
	if !r.OK() {
		t.Error("a run with no failed invariant is not OK")
	}
}

func TestSummaryOfAFailure(t *testing.T) {
	vs := passing()
	vs[3] = Verdict{Invariant: InvTallies, Status: Fail, Checked: 3, Problems: []string{"a: i has tallies of two users"}}
	r := report(vs...)
	r.ConvergeErr = fmt.Errorf("not converged 3s after the heal")
	s := r.Summary()
	for _, want := range []string{
		"chaos run FAIL — seed 42",
		"FAIL          " + InvTallies,
		"      a: i has tallies of two users",
		"NOT REACHED: not converged",
		"replay the schedule with -chaos.seed=42",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("summary lacks %q:\n%s", want, s)
		}
	}
	if r.OK() {
		t.Error("a run with a failed invariant is OK")
	}
	if v := r.Verdict(InvTallies); v.Status != Fail {
		t.Errorf("Verdict(tallies) = %s", v.Status)
	}
	if v := r.Verdict("no such invariant"); v.Status != NotExercised {
		t.Errorf("the verdict on an unknown invariant is %s", v.Status)
	}
	if (&Report{}).OK() {
		t.Error("a report without verdicts is OK")
	}
}
