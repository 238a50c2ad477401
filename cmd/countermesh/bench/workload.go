package bench

import (
	"math/rand/v2"
	"strconv"

	"github.com/countermesh/countermesh/crdt"
	"github.com/countermesh/countermesh/persist"
)

// workload is the shape of the generated traffic: reactions (like, dislike or
// none) and claps, over Zipf-distributed items and users.
type workload struct {
	items, users int
	reactPct     int // percent of writes that set a reaction; the rest clap
}

// Reaction kinds every target knows; crdt.None clears a reaction.
var reactionKinds = []string{"like", "dislike", crdt.None}

const (
	clapCounter = "claps"
	hotItem     = "video:hot"
)

func itemID(i uint64) string { return "video:" + strconv.FormatUint(i, 10) }
func userID(i uint64) string { return "user:" + strconv.FormatUint(i, 10) }

// generator makes one client's operations; each client has its own.
type generator struct {
	w            workload
	rng          *rand.Rand
	items, users *rand.Zipf
}

func (w workload) generator(seed uint64) *generator {
	rng := rand.New(rand.NewPCG(seed, 0xc0ffee))
	return &generator{
		w:     w,
		rng:   rng,
		items: rand.NewZipf(rng, 1.1, 1, uint64(max(w.items, 2)-1)),
		users: rand.NewZipf(rng, 1.01, 10, uint64(max(w.users, 2)-1)),
	}
}

// op returns the next write, on a Zipf-chosen item, or on item when not empty.
func (g *generator) op(item string) persist.Op {
	if item == "" {
		item = itemID(g.items.Uint64())
	}
	if g.rng.IntN(100) < g.w.reactPct {
		return persist.React(item, userID(g.users.Uint64()), reactionKinds[g.rng.IntN(len(reactionKinds))])
	}
	return persist.Add(item, clapCounter, 1)
}

// ops returns n writes.
func (g *generator) ops(n int, item string) []persist.Op {
	ops := make([]persist.Op, n)
	for i := range ops {
		ops[i] = g.op(item)
	}
	return ops
}

// page returns n distinct Zipf-chosen items (fewer if the keyspace is smaller)
// and a user reading them.
func (g *generator) page(n int) ([]string, string) {
	n = min(n, g.w.items)
	seen := make(map[uint64]bool, n)
	ids := make([]string, 0, n)
	for len(ids) < n {
		i := g.items.Uint64()
		if len(seen) > g.w.items/2 || seen[i] { // a small keyspace: fill uniformly
			i = g.rng.Uint64N(uint64(g.w.items))
		}
		if !seen[i] {
			seen[i] = true
			ids = append(ids, itemID(i))
		}
	}
	return ids, userID(g.users.Uint64())
}

// mixedReadPct is the percent of the mixed workload's calls that read a page;
// the rest write.
const mixedReadPct = 90

// step is one call of the mixed workload: a page read, or one write.
type step struct {
	read  bool
	items []string // the page, when read
	user  string   // the reader, when read
	op    persist.Op
}

// mixed returns the next call of the mixed workload, the job of a like
// service: mixedReadPct percent pages of n items with the reader's reaction to
// each, the rest writes as op makes them (a user's reaction set to like,
// dislike or none — over Zipf-chosen items and users, so users change their
// reactions — or claps).
func (g *generator) mixed(n int) step {
	if g.rng.IntN(100) < mixedReadPct {
		items, user := g.page(n)
		return step{read: true, items: items, user: user}
	}
	return step{op: g.op("")}
}
