package crdt_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/countermesh/countermesh/crdt"
)

// Two replicas take writes independently, exchange the deltas their writes
// produced, and converge. Ann likes the video on both replicas; she is counted
// once.
func ExampleState() {
	wall := func() time.Time { return time.UnixMilli(1_700_000_000_000) }
	east, eastClock := crdt.NewState(1), crdt.NewClock(wall, 0)
	west, westClock := crdt.NewState(2), crdt.NewClock(wall, 0)

	var toWest, toEast crdt.Delta // what each replica still has to send
	d, _ := east.Add("video:abc", "claps", 3)
	toWest.Join(d)
	toWest.Join(east.SetReaction("video:abc", "ann", "like", eastClock.Now()))

	d, _ = west.Add("video:abc", "claps", 2)
	toEast.Join(d)
	toEast.Join(west.SetReaction("video:abc", "ann", "like", westClock.Now()))
	toEast.Join(west.SetReaction("video:abc", "bob", "dislike", westClock.Now()))

	// Deliver: observe the timestamps, then apply. Applying twice is harmless.
	deliver := func(to *crdt.State, clock *crdt.Clock, d crdt.Delta) {
		for _, r := range d.Registers {
			if err := clock.Observe(r.TS); err != nil {
				return // too far ahead: the sender keeps d and offers it later
			}
		}
		to.Apply(d)
	}
	deliver(west, westClock, toWest)
	deliver(east, eastClock, toEast)
	deliver(east, eastClock, toEast)

	for _, s := range []*crdt.State{east, west} {
		it := s.Item("video:abc")
		fmt.Printf("replica %v: claps=%d likes=%d dislikes=%d\n",
			s.Replica(), it.Value("claps"), it.Tallies["like"], it.Tallies["dislike"])
	}
	fmt.Println("converged:", east.Full().Equal(west.Full()))
	// Output:
	// replica 0000000000000001: claps=5 likes=1 dislikes=1
	// replica 0000000000000002: claps=5 likes=1 dislikes=1
	// converged: true
}

// A Clock's readings keep increasing when the wall clock stands still or jumps
// back, order after every timestamp observed from other replicas, and refuse one
// too far in the future.
func ExampleClock() {
	ms := int64(1_700_000_000_000)
	clock := crdt.NewClock(func() time.Time { return time.UnixMilli(ms) }, time.Minute)

	fmt.Println(clock.Now())
	fmt.Println(clock.Now()) // same millisecond: the logical counter orders them
	ms -= 5_000              // the wall clock jumps back
	fmt.Println(clock.Now())

	_ = clock.Observe(crdt.Timestamp{Wall: ms + 30_000, Logical: 4})
	fmt.Println(clock.Now()) // after what it observed

	err := clock.Observe(crdt.Timestamp{Wall: ms + 2*60_000})
	var drift *crdt.DriftError
	if errors.As(err, &drift) {
		fmt.Println(errors.Is(err, crdt.ErrClockDrift), drift.Ahead())
	}
	// Output:
	// 1700000000000.0
	// 1700000000000.1
	// 1700000000000.2
	// 1700000025000.5
	// true 2m0s
}
