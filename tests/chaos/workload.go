package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
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
	// Retries is how many times a session sends a write again after it got no
	// answer it can trust — an unknown outcome, a refused connection, a 429 —
	// each time at the next peer of a failover route drawn from the seed (the
	// same idempotency key, the same causal token), and stays with the last
	// peer it tried. Default 3; negative never.
	Retries int
	// DuplicateEvery sends every n-th acknowledged increment again with the same
	// key, as a client whose answer was lost would: half the time at the peer
	// that acknowledged it, half the time at another one. Default 10; negative
	// never.
	DuplicateEvery int
	// Roam is the percentage of calls a session makes at a peer drawn from the
	// whole mesh rather than its own, which it then keeps: a global load
	// balancer moving a frontend's traffic, a user travelling. Default 20;
	// negative never.
	Roam int
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
	def(&w.Roam, 20)
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

// session is one client session, as a regional frontend runs it: sequential
// calls at its current peer, its own random source, and the causal token of its
// last acknowledged answer, which it passes along with every call — to its own
// peer, to the peers it fails over to, and into regions cut off from the rest.
// An answer's token carries what the call's token saw, so the session's token
// never forgets its own writes.
type session struct {
	id      int
	w       Workload
	cl      Cluster
	client  *Client
	history *History
	rng     *rand.Rand
	stop    <-chan struct{}
	items   []string
	peer    string // where the next call goes
	token   string
	seq     int
}

// runSessions runs the workload's sessions until stop is closed and waits for
// their last calls to finish. Session i starts at the i-th peer (round robin).
func runSessions(seed uint64, w Workload, cl Cluster, client *Client, h *History, stop <-chan struct{}) {
	w = w.withDefaults()
	peers := cl.Peers()
	var wg sync.WaitGroup
	for i := range w.Sessions {
		s := &session{
			id: i, w: w, cl: cl, client: client, history: h, stop: stop,
			rng:   rand.New(rand.NewPCG(seed, uint64(i)+1)),
			items: w.ItemNames(),
			peer:  peers[i%len(peers)],
		}
		wg.Go(s.run)
	}
	wg.Wait()
}

func (s *session) run() {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		s.step()
		t.Reset(s.w.Pace)
	}
}

// step makes one call, chosen at random: 40% increments, 30% reactions of
// shared users, 25% causal reactions, 5% reads. Every step draws the same
// numbers from the session's source whatever the answers, so a seed replays
// the calls, their peers and their failover routes.
func (s *session) step() {
	peers := s.cl.Peers()
	roll, elsewhere := s.rng.IntN(100), peers[s.rng.IntN(len(peers))]
	if roll < s.w.Roam {
		s.peer = elsewhere
	}
	route := s.route(peers)
	item := s.items[s.rng.IntN(len(s.items))]
	switch n := s.rng.IntN(100); {
	case n < 40:
		s.increment(item, route)
	case n < 70:
		user := fmt.Sprintf("shared-%d", s.rng.IntN(s.w.SharedUsers))
		s.react(item, user, s.reaction(), false, route)
	case n < 95:
		user := fmt.Sprintf("s%d-u%d", s.id, s.rng.IntN(s.w.CausalUsers))
		s.react(item, user, s.reaction(), true, route)
	default:
		s.read(item)
	}
}

// route draws where a write goes if it must be sent again: Retries peers, each
// other than the one before it — half the time a peer of the same region (the
// region's load balancer picking another backend), half the time a peer of
// another region (the frontend failing over across regions). Either way falls
// back to the other when it has no peer to offer.
func (s *session) route(peers []string) []string {
	if s.w.Retries <= 0 {
		return nil
	}
	regions := make(map[string]string, len(peers))
	for _, p := range peers {
		regions[p] = s.cl.Region(p)
	}
	route := make([]string, 0, s.w.Retries)
	prev := s.peer
	for range s.w.Retries {
		sameRegion, pick := s.rng.IntN(2) == 0, s.rng.Uint64()
		var near, far []string
		for _, p := range peers {
			switch {
			case p == prev:
			case regions[p] == regions[prev]:
				near = append(near, p)
			default:
				far = append(far, p)
			}
		}
		from := far
		if sameRegion && len(near) > 0 || len(far) == 0 {
			from = near
		}
		if len(from) == 0 {
			break // a mesh of one peer
		}
		prev = from[pick%uint64(len(from))]
		route = append(route, prev)
	}
	return route
}

// reaction picks a reaction kind, or none.
func (s *session) reaction() string {
	i := s.rng.IntN(len(s.w.Kinds) + 1)
	if i == len(s.w.Kinds) {
		return ""
	}
	return s.w.Kinds[i]
}

// retryable reports whether a frontend sends a write again after this answer:
// it may not have been applied (unknown), no peer took it (refused before it
// was sent), or the peer shed it (429). A 4xx about the request is final.
func retryable(a Answer) bool {
	return a.Outcome == Unknown || a.Outcome == Failed && (a.Status == 0 || a.Status == http.StatusTooManyRequests)
}

// try sends one request at peer.
func (s *session) try(peer string, call func(base string) Answer) (Try, Answer) {
	start := time.Now()
	a := call(s.cl.API(peer))
	return Try{Peer: peer, Outcome: a.Outcome, Err: a.Err, Start: start, End: time.Now()}, a
}

// send sends a write at the session's peer and, while the answer is
// retryable, again at each peer of route in turn after a growing backoff: the
// session fails over and stays with the peer it tried last. It returns every
// try and the last acknowledged answer, nil if none. Once the run stops, the
// session gives up retrying: the write stays as it was.
func (s *session) send(route []string, call func(base string) Answer) ([]Try, *Answer) {
	var tries []Try
	var ok *Answer
	backoff := 100 * time.Millisecond
	for i := 0; ; i++ {
		t, a := s.try(s.peer, call)
		tries = append(tries, t)
		if a.Outcome == OK {
			ok = &a
		}
		if !retryable(a) || i == len(route) || !s.pause(backoff) {
			return tries, ok
		}
		backoff *= 2
		s.peer = route[i]
	}
}

// pause waits d, as a client backs off before a retry; false if the run
// stopped first.
func (s *session) pause(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-s.stop:
		return false
	case <-t.C:
		return true
	}
}

// increment adds to "claps", which every peer increments, or to the counter
// named after the session's peer, which mostly that peer increments (the
// session's retries elsewhere add to it too): after a crash, its value shows
// what the peer kept (and got back), not masked by the other peers' shares.
func (s *session) increment(item string, route []string) {
	s.seq++
	by := int64(1 + s.rng.IntN(5))
	name := "claps"
	if s.rng.IntN(2) == 0 {
		name = "at-" + s.peer
	}
	resendHere := s.rng.IntN(2) == 0
	key := fmt.Sprintf("s%d-%d", s.id, s.seq)
	op := Op{Session: s.id, Peer: s.peer, Kind: Increment, Item: item, Counter: name, By: by, Key: key}
	call := func(base string) Answer {
		return s.client.Increment(context.Background(), base, item, name, by, key, s.token)
	}
	tries, ok := s.send(route, call)
	if ok != nil && s.w.DuplicateEvery > 0 && s.seq%s.w.DuplicateEvery == 0 {
		// The answer "was lost": send it again, as a client would — at the
		// peer that took it, or at the next one it fails over to.
		if !resendHere {
			s.peer = otherThan(route, s.peer)
		}
		t, a := s.try(s.peer, call)
		tries = append(tries, t)
		if a.Outcome == OK {
			ok = &a
		}
	}
	s.record(op, tries, ok)
}

// otherThan returns the first peer of route that is not peer, or peer.
func otherThan(route []string, peer string) string {
	for _, p := range route {
		if p != peer {
			return p
		}
	}
	return peer
}

// react sets user's reaction. A shared user's reaction carries the token too:
// its answer's token replaces the session's, which must not forget the
// session's past writes.
func (s *session) react(item, user, reaction string, causal bool, route []string) {
	op := Op{Session: s.id, Peer: s.peer, Kind: React, Item: item, User: user, Reaction: reaction, Causal: causal}
	tries, ok := s.send(route, func(base string) Answer {
		return s.client.React(context.Background(), base, item, user, reaction, s.token)
	})
	s.record(op, tries, ok)
}

func (s *session) read(item string) {
	op := Op{Session: s.id, Peer: s.peer, Kind: Read, Item: item}
	t, a := s.try(s.peer, func(base string) Answer {
		return s.client.Read(context.Background(), base, item, "", s.token)
	})
	var ok *Answer
	if a.Outcome == OK {
		ok = &a
	}
	s.record(op, []Try{t}, ok)
}

// record adds op with its tries to the history, and keeps the token of its
// last acknowledged answer — the only tokens a session ever sends are ones
// peers gave it.
func (s *session) record(op Op, tries []Try, ok *Answer) {
	op.Tries = tries
	op.Start, op.End = tries[0].Start, tries[len(tries)-1].End
	op.Outcome = Fold(tries)
	for _, t := range tries {
		if t.Outcome != OK {
			op.Err = t.Err
		}
	}
	if ok != nil {
		op.Observed = ok.State
		if ok.Token != "" {
			s.token = ok.Token
		}
	}
	s.history.Add(op)
}
