package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"
)

// Workload describes the client sessions of a run.
type Workload struct {
	// Sessions is how many client sessions run at once. Default 6.
	Sessions int
	// Items is how many items they write. Default 6.
	Items int
	// SharedUsers is how many users every session writes reactions for, from any
	// peer at once — the concurrent writes a tally must not double count.
	// Default 8.
	SharedUsers int
	// CausalUsers is how many users each session owns: it writes their reactions
	// alone, passing its causal token along from peer to peer. Default 2.
	CausalUsers int
	// Kinds are the reaction kinds of the mesh. Default like, dislike.
	Kinds []string
	// Pace is the pause between a session's calls. Default 10 ms.
	Pace time.Duration
	// Retries is how many times an increment or causal reaction of unknown
	// outcome is retried at the same peer (with the same idempotency key).
	// Default 3.
	Retries int
	// DuplicateEvery sends every n-th acknowledged increment again with the same
	// key, as a client whose answer was lost would. Default 10; negative never.
	DuplicateEvery int
}

func (w Workload) withDefaults() Workload {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&w.Sessions, 6)
	def(&w.Items, 6)
	def(&w.SharedUsers, 8)
	def(&w.CausalUsers, 2)
	def(&w.Retries, 3)
	def(&w.DuplicateEvery, 10)
	if len(w.Kinds) == 0 {
		w.Kinds = []string{"like", "dislike"}
	}
	if w.Pace == 0 {
		w.Pace = 10 * time.Millisecond
	}
	return w
}

// ItemNames returns the items the workload writes.
func (w Workload) ItemNames() []string {
	w = w.withDefaults()
	items := make([]string, w.Items)
	for i := range items {
		items[i] = fmt.Sprintf("chaos:item-%d", i)
	}
	return items
}

// session is one client session: sequential calls, its own random source, and
// the causal token of its last answer, which it passes along with every call —
// an answer's token carries what the call's token saw, so the session's token
// never forgets its own writes.
type session struct {
	id      int
	w       Workload
	cl      Cluster
	client  *Client
	history *History
	rng     *rand.Rand
	items   []string
	token   string
	seq     int
}

// runSessions runs the workload's sessions until stop is closed and waits for
// their last calls to finish.
func runSessions(seed uint64, w Workload, cl Cluster, client *Client, h *History, stop <-chan struct{}) {
	w = w.withDefaults()
	var wg sync.WaitGroup
	for i := range w.Sessions {
		s := &session{
			id: i, w: w, cl: cl, client: client, history: h,
			rng:   rand.New(rand.NewPCG(seed, uint64(i)+1)),
			items: w.ItemNames(),
		}
		wg.Go(func() { s.run(stop) })
	}
	wg.Wait()
}

func (s *session) run(stop <-chan struct{}) {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		s.step()
		t.Reset(s.w.Pace)
	}
}

// step makes one call, chosen at random: 40% increments, 30% reactions of
// shared users, 25% causal reactions, 5% reads.
func (s *session) step() {
	peers := s.cl.Peers()
	peer := peers[s.rng.IntN(len(peers))]
	item := s.items[s.rng.IntN(len(s.items))]
	switch n := s.rng.IntN(100); {
	case n < 40:
		s.increment(peer, item)
	case n < 70:
		user := fmt.Sprintf("shared-%d", s.rng.IntN(s.w.SharedUsers))
		s.react(peer, item, user, s.reaction(), false)
	case n < 95:
		user := fmt.Sprintf("s%d-u%d", s.id, s.rng.IntN(s.w.CausalUsers))
		s.react(peer, item, user, s.reaction(), true)
	default:
		s.read(peer, item)
	}
}

// reaction picks a reaction kind, or none.
func (s *session) reaction() string {
	i := s.rng.IntN(len(s.w.Kinds) + 1)
	if i == len(s.w.Kinds) {
		return ""
	}
	return s.w.Kinds[i]
}

// settle retries call while its outcome is unknown, up to the workload's
// retries, and folds the attempts into one outcome.
func (s *session) settle(call func() Answer) (Answer, int) {
	a := call()
	attempts := 1
	for backoff := 100 * time.Millisecond; a.Outcome == Unknown && attempts <= s.w.Retries; backoff *= 2 {
		time.Sleep(backoff)
		again := call()
		attempts++
		if again.Outcome == OK || (again.Outcome == Unknown && a.Outcome != OK) {
			a = again
		}
		if again.Outcome == Failed {
			// Refused now says nothing of the earlier attempt: still unknown.
			a.Err = again.Err
			break
		}
	}
	return a, attempts
}

// increment adds to "claps", which every peer increments, or to the counter of
// the peer called, which only that peer increments: after a crash, its value
// is what the peer kept (and got back), not masked by the other peers' shares.
func (s *session) increment(peer, item string) {
	s.seq++
	by := int64(1 + s.rng.IntN(5))
	name := "claps"
	if s.rng.IntN(2) == 0 {
		name = "at-" + peer
	}
	key := fmt.Sprintf("s%d-%d", s.id, s.seq)
	base := s.cl.API(peer)
	op := Op{Session: s.id, Peer: peer, Kind: Increment, Item: item, Counter: name, By: by, Key: key, Start: time.Now()}
	a, attempts := s.settle(func() Answer { return s.client.Increment(context.Background(), base, item, name, by, key, s.token) })
	if a.Outcome == OK && s.w.DuplicateEvery > 0 && s.seq%s.w.DuplicateEvery == 0 {
		// The answer "was lost": send it again, as a client would.
		again := s.client.Increment(context.Background(), base, item, name, by, key, s.token)
		attempts++
		if again.Outcome == OK {
			a.State = again.State
		}
	}
	s.record(op, a, attempts)
}

func (s *session) react(peer, item, user, reaction string, causal bool) {
	base := s.cl.API(peer)
	op := Op{Session: s.id, Peer: peer, Kind: React, Item: item, User: user, Reaction: reaction, Causal: causal, Start: time.Now()}
	// A shared user's reaction carries the token too: its answer's token
	// replaces the session's, which must not forget the session's past writes.
	call := func() Answer { return s.client.React(context.Background(), base, item, user, reaction, s.token) }
	a, attempts := Answer{}, 1
	if causal {
		a, attempts = s.settle(call)
	} else {
		a = call()
	}
	s.record(op, a, attempts)
}

func (s *session) read(peer, item string) {
	op := Op{Session: s.id, Peer: peer, Kind: Read, Item: item, Start: time.Now()}
	a := s.client.Read(context.Background(), s.cl.API(peer), item, "", s.token)
	s.record(op, a, 1)
}

func (s *session) record(op Op, a Answer, attempts int) {
	op.End = time.Now()
	op.Outcome, op.Err, op.Attempts = a.Outcome, a.Err, attempts
	if a.Outcome == OK {
		op.Observed = a.State
		if a.Token != "" {
			s.token = a.Token
		}
	}
	s.history.Add(op)
}
