package exchange

import (
	"fmt"

	"github.com/countermesh/countermesh/crdt"
)

// A receiver refuses a key whose timestamp is beyond its max clock drift, alone:
// the rest of the batch applies and is acknowledged, and the acknowledgement names
// the refused keys. The sender keeps them in its retry set and offers their current
// state again until they are taken. Both sides report it: Stats, and a log line
// when a key starts being refused and when every refused key was taken, never one
// per batch.

// stepReceiver steps the receiver of replica, whose peer is named peer, and
// carries out the actions that record: the Applied mark and the keys refused. It
// returns every action; the caller carries out those of its stream.
func (e *Exchange) stepReceiver(peer string, replica crdt.ReplicaID, ev receiverEvent) []receiverAction {
	e.mu.Lock()
	r, ok := e.receivers[replica]
	if !ok {
		r = newReceiver(peer)
		e.receivers[replica] = r
	}
	out := r.step(ev)
	for _, a := range out {
		switch a.kind {
		case rcvApplied:
			e.applied[replica] = a.upTo
		case rcvRefusing:
			p := e.peerLocked(peer)
			p.refusals += uint64(a.refused.Len())
			if a.err != nil {
				p.skew = a.err.Error()
			}
		}
	}
	e.mu.Unlock()
	for _, a := range out {
		if a.kind == rcvRefusing {
			e.noteRefusing(peer, a)
		}
	}
	return out
}

// noteRefusing logs the keys of the peer this side refuses: when a key starts
// being refused and when every refused key was taken, never once per batch.
func (e *Exchange) noteRefusing(peer string, a receiverAction) {
	switch {
	case a.added > 0:
		e.cfg.Logger.Warn("exchange: refusing keys beyond max clock drift; the peer offers them again",
			"peer", peer, "new", a.added, "refusing", a.left, "example", firstKey(a.refused), "err", a.err)
	case a.tracking && a.left == 0:
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
