package exchange

import (
	"fmt"
	"time"

	"github.com/countermesh/countermesh/crdt"
	"github.com/countermesh/countermesh/persist"
)

// A receiver refuses a key whose timestamp is beyond its max clock drift, alone:
// the rest of the batch applies and is acknowledged, and the acknowledgement names
// the refused keys. The sender keeps them in its retry set and offers their current
// state again until they are taken. Both sides report it: Stats, and a log line
// when a key starts being refused and when every refused key was taken, never one
// per batch.

// noteRefusing records the outcome of merging d, from peer: which of the peer's
// keys this side refuses now, and the refusals' count and reason. While it
// refuses any, what Applied reports of replica is held.
func (e *Exchange) noteRefusing(peer string, replica crdt.ReplicaID, d crdt.Delta, res persist.MergeResult) {
	e.mu.Lock()
	tracking := e.peerLocked(peer).refusing.Len() > 0
	e.mu.Unlock()
	if res.Refused.Len() == 0 && !tracking {
		return
	}
	var offered crdt.KeySet
	offered.AddDelta(d)
	e.mu.Lock()
	p := e.peerLocked(peer)
	added := p.refusing.settle(offered, res.Refused, time.Time{}, 0)
	left := p.refusing.Len()
	p.refusals += uint64(res.Refused.Len())
	if res.Drift != nil {
		p.skew = res.Drift.Error()
	}
	if _, ok := e.held[replica]; !ok && left > 0 {
		e.held[replica] = e.applied[replica]
	} else if left == 0 {
		delete(e.held, replica)
	}
	e.mu.Unlock()
	switch {
	case added > 0:
		e.cfg.Logger.Warn("exchange: refusing keys beyond max clock drift; the peer offers them again",
			"peer", peer, "new", added, "refusing", left, "example", firstKey(res.Refused), "err", res.Drift)
	case tracking && left == 0:
		e.cfg.Logger.Info("exchange: took every key refused before", "peer", peer)
	}
}

// noteRefused reports the keys the peer refused in its last answer: added of them
// were not refused before, left are refused now, before were refused before it.
func (e *Exchange) noteRefused(peer string, refused crdt.KeySet, added, before, left int) {
	if refused.Len() == 0 && before == 0 {
		return
	}
	e.update(peer, func(p *peerState) {
		p.retrying = left
		if refused.Len() > 0 {
			p.skew = fmt.Sprintf("refuses %d keys beyond its max clock drift, such as %s", refused.Len(), firstKey(refused))
		}
	})
	switch {
	case added > 0:
		e.cfg.Logger.Warn("exchange: peer refuses keys beyond its max clock drift; offering them again until taken",
			"peer", peer, "new", added, "refused", left, "example", firstKey(refused))
	case left == 0:
		e.cfg.Logger.Info("exchange: peer took every key it refused before", "peer", peer)
	}
}

// takeRetry hands the keys the peer refused to a starting sending session.
func (e *Exchange) takeRetry(peer string) retrySet {
	e.mu.Lock()
	defer e.mu.Unlock()
	p := e.peerLocked(peer)
	r := p.retry
	p.retry = retrySet{}
	return r
}

// returnRetry takes back the keys the peer refused from an ending sending
// session, released by its sender's handOver, so that the next session offers
// them again, at once.
func (e *Exchange) returnRetry(peer string, r retrySet) {
	e.mu.Lock()
	defer e.mu.Unlock()
	p := e.peerLocked(peer)
	p.retry.join(r)
	p.retrying = p.retry.Len()
}

// firstKey names the smallest key of s, for logs.
func firstKey(s crdt.KeySet) string {
	if rs := s.SortedRegisters(); len(rs) > 0 {
		return rs[0].Item + "/" + rs[0].User
	}
	if cs := s.SortedCounters(); len(cs) > 0 {
		return cs[0].Item + "/" + cs[0].Name
	}
	return ""
}
