package exchange

import (
	"time"

	"github.com/countermesh/countermesh/crdt"
)

// retrySet holds the keys a peer refused (their timestamps were beyond its max
// clock drift) and has not taken since. A sender offers their current state
// again, with a later batch or alone, at most once per retry interval, until the
// peer takes them; a receiver uses one to know which keys of a peer it refuses
// now. It is pure: the caller passes the time. The zero retrySet is empty.
//
// The set lives in memory only. A sender hands it back to the exchange when its
// session ends, so the next session to the same peer offers the keys again; after
// a restart of the process they are repaired by periodic anti-entropy, whose
// digests differ as long as the peer lacks them.
type retrySet struct {
	counters  keyStates[crdt.CounterKey]
	registers keyStates[crdt.RegisterKey]
	waiting   int       // keys not offered since they were refused
	due       time.Time // when the waiting keys are offered again
}

// keyStates maps each key of a retrySet to whether it is offered and awaiting the
// peer's answer (true) or waiting to be offered (false).
type keyStates[K comparable] map[K]bool

// Len is the number of keys refused and not taken since.
func (r *retrySet) Len() int { return len(r.counters) + len(r.registers) }

// settle records the peer's answer to a batch that offered the keys in offered:
// the peer took every one of them but those in refused. Refused keys wait to be
// offered again a retry interval after the set had none waiting. settle returns
// how many refused keys were not already in the set.
func (r *retrySet) settle(offered, refused crdt.KeySet, now time.Time, interval time.Duration) int {
	r.init()
	wasWaiting := r.waiting > 0
	added := r.counters.settle(offered.Counters, refused.Counters) +
		r.registers.settle(offered.Registers, refused.Registers)
	r.count()
	if !wasWaiting && r.waiting > 0 {
		r.due = now.Add(interval)
	}
	return added
}

// dueIn returns how long until waiting keys are to be offered (zero or less: now),
// and false when none is waiting.
func (r *retrySet) dueIn(now time.Time) (time.Duration, bool) {
	return r.due.Sub(now), r.waiting > 0
}

// take returns up to max waiting keys, due now, to offer in the next batch, and
// marks them offered. Keys left waiting stay due; once none is, the next are
// due a retry interval after the latest refusal.
func (r *retrySet) take(now time.Time, max int) crdt.KeySet {
	var out crdt.KeySet
	if d, ok := r.dueIn(now); !ok || d > 0 || max <= 0 {
		return out
	}
	n := r.registers.take(max, out.AddRegister)
	r.counters.take(max-n, out.AddCounter)
	r.count()
	return out
}

// release makes every offered key wait again, due at once: the session that
// offered them ended before the peer answered.
func (r *retrySet) release() {
	r.counters.release()
	r.registers.release()
	r.count()
	r.due = time.Time{}
}

// join adds every key of o, waiting, due at once.
func (r *retrySet) join(o retrySet) {
	if o.Len() == 0 {
		return
	}
	r.init()
	for k := range o.counters {
		r.counters[k] = false
	}
	for k := range o.registers {
		r.registers[k] = false
	}
	r.count()
	r.due = time.Time{}
}

func (r *retrySet) init() {
	if r.counters == nil {
		r.counters, r.registers = keyStates[crdt.CounterKey]{}, keyStates[crdt.RegisterKey]{}
	}
}

// count recounts the waiting keys.
func (r *retrySet) count() { r.waiting = r.counters.waiting() + r.registers.waiting() }

func (m keyStates[K]) settle(offered, refused map[K]struct{}) (added int) {
	for k := range offered {
		if _, again := refused[k]; !again {
			delete(m, k)
		}
	}
	for k := range refused {
		if _, known := m[k]; !known {
			added++
		}
		m[k] = false
	}
	return added
}

func (m keyStates[K]) take(max int, add func(K)) (n int) {
	for k, offered := range m {
		if n >= max {
			break
		}
		if !offered {
			m[k] = true
			add(k)
			n++
		}
	}
	return n
}

func (m keyStates[K]) release() {
	for k := range m {
		m[k] = false
	}
}

func (m keyStates[K]) waiting() (n int) {
	for _, offered := range m {
		if !offered {
			n++
		}
	}
	return n
}
