package exchange

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/countermesh/countermesh/crdt"
	"github.com/countermesh/countermesh/crdt/digest"
)

// AntiEntropy runs one anti-entropy round with the peer over a new stream: it
// sends this replica's bucket digest; the peer answers with the buckets that
// differ and its states for them; this side merges those and sends its own states
// for the same buckets; the peer merges and acknowledges. Afterwards both hold the
// join of both for every key, and the peer has every local change up to the
// returned sequence, which is recorded as its acknowledgement — but for keys one
// side refused as beyond its max clock drift. Those the peer refused are offered
// again by the sending session, like the keys of a batch; those this side refused
// keep their buckets differing, and a later round brings them.
func (e *Exchange) AntiEntropy(ctx context.Context, link Link) (uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, e.cfg.IOTimeout)
	defer cancel()
	name := link.PeerName()
	st, replica, err := e.openStream(ctx, link)
	if err != nil {
		return 0, err
	}
	defer st.Close()
	// A peer that stalls mid-round must not hold the round past its timeout.
	defer boundBy(ctx, st)()
	digest, seq := e.store.DigestAt()
	if err := e.write(name, st, Message{Type: MsgDigest, Seq: seq, Digest: digest[:]}); err != nil {
		return 0, err
	}
	m, err := e.expect(name, st, MsgBuckets)
	if err != nil {
		return 0, err
	}
	if _, err := e.mergeStates(ctx, name, replica, st); err != nil {
		return 0, err
	}
	if err := e.sendStates(name, st, m.Buckets); err != nil {
		return 0, err
	}
	ack, err := e.expect(name, st, MsgAck)
	if err != nil {
		return 0, err
	}
	if ack.Seq != seq {
		return 0, fmt.Errorf("%w: %s acknowledged %d after anti-entropy at %d", ErrProtocol, name, ack.Seq, seq)
	}
	if err := inBuckets(ack.Refused, m.Buckets); err != nil {
		return 0, fmt.Errorf("%w: %s refused %w", ErrProtocol, name, err)
	}
	if ack.Refused.Len() > 0 {
		var r retrySet
		r.settle(crdt.KeySet{}, ack.Refused, time.Now(), e.cfg.RetryInterval)
		e.returnRetry(name, r)
	}
	acked, err := e.store.Acked(replica)
	if err != nil {
		return 0, err
	}
	if seq > acked {
		if err := e.store.SetAcked(ctx, replica, seq); err != nil {
			return 0, err
		}
		acked = seq
	}
	e.update(name, func(p *peerState) { p.acked = acked })
	e.cfg.Logger.Debug("exchange: anti-entropy round done", "peer", name, "buckets", len(m.Buckets))
	return acked, nil
}

// answerAntiEntropy is the peer's side of AntiEntropy, after the digest arrived.
func (e *Exchange) answerAntiEntropy(ctx context.Context, name string, replica crdt.ReplicaID, st Stream, m Message) error {
	if len(m.Digest) != digest.Buckets {
		return fmt.Errorf("%w: %s sent a digest of %d buckets, want %d", ErrProtocol, name, len(m.Digest), digest.Buckets)
	}
	ctx, cancel := context.WithTimeout(ctx, e.cfg.IOTimeout)
	defer cancel()
	defer boundBy(ctx, st)()
	var theirs digest.Digest
	copy(theirs[:], m.Digest)
	mine, _ := e.store.DigestAt()
	buckets := mine.Differing(&theirs)
	if err := e.write(name, st, Message{Type: MsgBuckets, Buckets: buckets}); err != nil {
		return err
	}
	if err := e.sendStates(name, st, buckets); err != nil {
		return err
	}
	refused, err := e.mergeStates(ctx, name, replica, st)
	if err != nil {
		return err
	}
	e.stepReceiver(name, replica, receiverEvent{kind: rcvRoundEnd, seq: m.Seq})
	return e.write(name, st, Message{Type: MsgAck, Seq: m.Seq, Refused: refused})
}

// sendStates sends the states of every key in buckets, then the end marker.
func (e *Exchange) sendStates(name string, st Stream, buckets []int) error {
	if len(buckets) > 0 {
		err := e.store.BucketStates(buckets, e.cfg.MaxBatchKeys, func(d crdt.Delta) error {
			return e.write(name, st, Message{Type: MsgStates, Delta: d})
		})
		if err != nil {
			return err
		}
	}
	return e.write(name, st, Message{Type: MsgStatesEnd})
}

// mergeStates merges states until the end marker, and returns the keys it
// refused.
func (e *Exchange) mergeStates(ctx context.Context, name string, replica crdt.ReplicaID, st Stream) (crdt.KeySet, error) {
	var refused crdt.KeySet
	for {
		m, err := e.read(name, st)
		if err != nil {
			return refused, err
		}
		switch m.Type {
		case MsgStatesEnd:
			return refused, nil
		case MsgStates:
			ev, err := e.merge(ctx, m.Delta)
			if err != nil {
				return refused, fmt.Errorf("merge anti-entropy states from %s: %w", name, err)
			}
			ev.round = true
			e.stepReceiver(name, replica, ev)
			refused.Union(ev.refused)
		default:
			return refused, fmt.Errorf("%w: %s sent %s during anti-entropy", ErrProtocol, name, m.Type)
		}
	}
}

// inBuckets checks that every key of keys is of one of buckets, ascending.
func inBuckets(keys crdt.KeySet, buckets []int) error {
	for _, item := range keysItems(keys) {
		if _, ok := slices.BinarySearch(buckets, digest.BucketOf(item)); !ok {
			return fmt.Errorf("a key of item %q, outside the buckets of the round", item)
		}
	}
	return nil
}

// keysItems returns the items of keys, possibly repeated.
func keysItems(keys crdt.KeySet) []string {
	items := make([]string, 0, keys.Len())
	for k := range keys.Counters {
		items = append(items, k.Item)
	}
	for k := range keys.Registers {
		items = append(items, k.Item)
	}
	return items
}

// TrimLog trims the change log up to the lowest sequence acknowledged by every
// peer in peers (peers never heard from count as zero), but always at least up to
// LastSeq-retention, so one dead peer cannot grow the log forever: a peer beyond
// that is repaired by anti-entropy when it returns. It returns the trim point.
func (e *Exchange) TrimLog(peers []string, retention uint64) (uint64, error) {
	acks := make([]uint64, 0, len(peers))
	e.mu.Lock()
	for _, name := range peers {
		var acked uint64
		if p, ok := e.peers[name]; ok {
			acked = p.acked
		}
		acks = append(acks, acked)
	}
	e.mu.Unlock()
	upTo := TrimPoint(acks, e.store.LastSeq(), retention)
	if upTo == 0 {
		return 0, nil
	}
	return upTo, e.store.TrimLog(upTo)
}

// TrimPoint is where to trim a change log ending at last, given every peer's
// acknowledgement and a retention cap in sequences.
func TrimPoint(acks []uint64, last, retention uint64) uint64 {
	upTo := last
	for _, a := range acks {
		upTo = min(upTo, a)
	}
	if last > retention {
		upTo = max(upTo, last-retention)
	}
	return upTo
}
