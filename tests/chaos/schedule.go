package chaos

import (
	"math/rand/v2"
	"time"
)

// Step is one fault of a schedule: which fault, when it starts (from the start
// of the run) and how long it lasts.
type Step struct {
	Fault int // index into the faults the schedule was planned for
	At    time.Duration
	For   time.Duration
	Seed  uint64 // seeds the fault's choice of targets
}

// Plan draws a schedule of faults from seed: rounds in which every fault
// appears once, in a shuffled order, each lasting between minFor and 2×minFor
// with a pause of up to minFor/2 between faults, until duration is filled. Each
// fault runs at least once whatever the duration (a fault marked Once runs in
// the first round only), so a short run still exercises them all. With a
// minFor of zero, every fault runs once.
func Plan(seed uint64, faults []Fault, duration, minFor time.Duration) []Step {
	rng := rand.New(rand.NewPCG(seed, 0x636861_6f73))
	var steps []Step
	var at time.Duration
	for round := 0; round == 0 || at < duration; round++ {
		roundStart := at
		order := rng.Perm(len(faults))
		added := 0
		for _, f := range order {
			if faults[f].Once && round > 0 {
				continue
			}
			at += time.Duration(rng.Int64N(int64(minFor/2) + 1))
			length := minFor + time.Duration(rng.Int64N(int64(minFor)+1))
			steps = append(steps, Step{Fault: f, At: at, For: length, Seed: rng.Uint64()})
			at += length
			added++
			if round > 0 && at >= duration {
				break
			}
		}
		if added == 0 || at == roundStart {
			break // nothing more to schedule, or no time passes (minFor 0)
		}
	}
	return steps
}
