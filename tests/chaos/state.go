package chaos

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// ItemState is one peer's view of one item. Registers is nil when the view came
// from the API, which does not list them; a state read from a peer's store has
// them.
type ItemState struct {
	Counters  map[string]int64  // counter name → value
	Tallies   map[string]int64  // reaction kind → users holding it
	Registers map[string]string // user → reaction kind ("" for none)
}

// PeerState is one peer's view of the items a run touched.
type PeerState map[string]ItemState

// nonZero drops zero entries, so a missing counter and a zero one compare equal.
func nonZero[V comparable](m map[string]V) map[string]V {
	var zero V
	out := map[string]V{}
	for k, v := range m {
		if v != zero {
			out[k] = v
		}
	}
	return out
}

// Equal reports whether two views of an item agree. Registers are compared only
// when both sides have them.
func (s ItemState) Equal(o ItemState) bool {
	if !maps.Equal(nonZero(s.Counters), nonZero(o.Counters)) || !maps.Equal(nonZero(s.Tallies), nonZero(o.Tallies)) {
		return false
	}
	if s.Registers != nil && o.Registers != nil && !maps.Equal(nonZero(s.Registers), nonZero(o.Registers)) {
		return false
	}
	return true
}

// String prints the counters and tallies of a view, sorted.
func (s ItemState) String() string {
	var b strings.Builder
	write := func(label string, m map[string]int64) {
		fmt.Fprintf(&b, "%s{", label)
		for i, k := range slices.Sorted(maps.Keys(nonZero(m))) {
			if i > 0 {
				b.WriteString(" ")
			}
			fmt.Fprintf(&b, "%s:%d", k, m[k])
		}
		b.WriteString("}")
	}
	write("counters", s.Counters)
	b.WriteString(" ")
	write("tallies", s.Tallies)
	if s.Registers != nil {
		fmt.Fprintf(&b, " registers:%d", len(nonZero(s.Registers)))
	}
	return b.String()
}

// Differences lists the items on which the peers' views disagree, each with
// every peer's view, in a stable order.
func Differences(states map[string]PeerState, items []string) []string {
	peers := slices.Sorted(maps.Keys(states))
	var diffs []string
	for _, it := range items {
		same := true
		for _, p := range peers[1:] {
			if !states[p][it].Equal(states[peers[0]][it]) {
				same = false
				break
			}
		}
		if same {
			continue
		}
		var b strings.Builder
		fmt.Fprintf(&b, "%s:", it)
		for _, p := range peers {
			fmt.Fprintf(&b, " %s=%s;", p, states[p][it])
		}
		diffs = append(diffs, b.String())
	}
	return diffs
}
