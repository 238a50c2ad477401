package exchange

import (
	"context"
	"fmt"

	"github.com/countermesh/countermesh/crdt"
	"github.com/countermesh/countermesh/persist"
	"github.com/countermesh/countermesh/sync/wire"
)

// AntiEntropy runs one anti-entropy round with the peer over a new stream: it
// sends this replica's bucket digest; the peer answers with the buckets that
// differ and its states for them; this side merges those and sends its own states
// for the same buckets; the peer merges and acknowledges. Afterwards both hold the
// join of both for every key, and the peer has every local change up to the
// returned sequence, which is recorded as its acknowledgement.
func (e *Exchange) AntiEntropy(ctx context.Context, link Link) (uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, e.cfg.IOTimeout)
	defer cancel()
	name := link.PeerName()
	st, replica, err := e.openStream(ctx, link)
	if err != nil {
		return 0, err
	}
	defer st.Close()
	digest, seq := e.store.DigestAt()
	if err := e.write(name, st, wire.Message{Type: wire.MsgDigest, Seq: seq, Digest: digest[:]}); err != nil {
		return 0, err
	}
	m, err := e.expect(name, st, wire.MsgBuckets)
	if err != nil {
		return 0, err
	}
	if err := e.mergeStates(ctx, name, st); err != nil {
		return 0, err
	}
	if err := e.sendStates(name, st, m.Buckets); err != nil {
		return 0, err
	}
	ack, err := e.expect(name, st, wire.MsgAck)
	if err != nil {
		return 0, err
	}
	if ack.Seq != seq {
		return 0, fmt.Errorf("%w: %s acknowledged %d after anti-entropy at %d", ErrProtocol, name, ack.Seq, seq)
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
func (e *Exchange) answerAntiEntropy(ctx context.Context, name string, replica crdt.ReplicaID, st Stream, m wire.Message) error {
	if len(m.Digest) != persist.DigestBuckets {
		return fmt.Errorf("%w: %s sent a digest of %d buckets, want %d", ErrProtocol, name, len(m.Digest), persist.DigestBuckets)
	}
	var theirs persist.Digest
	copy(theirs[:], m.Digest)
	mine, _ := e.store.DigestAt()
	buckets := mine.Differing(&theirs)
	if err := e.write(name, st, wire.Message{Type: wire.MsgBuckets, Buckets: buckets}); err != nil {
		return err
	}
	if err := e.sendStates(name, st, buckets); err != nil {
		return err
	}
	if err := e.mergeStates(ctx, name, st); err != nil {
		return err
	}
	e.noteApplied(replica, m.Seq)
	return e.write(name, st, wire.Message{Type: wire.MsgAck, Seq: m.Seq})
}

// sendStates sends the states of every key in buckets, then the end marker.
func (e *Exchange) sendStates(name string, st Stream, buckets []int) error {
	if len(buckets) > 0 {
		err := e.store.BucketStates(buckets, e.cfg.MaxBatchKeys, func(d crdt.Delta) error {
			return e.write(name, st, wire.Message{Type: wire.MsgStates, Delta: d})
		})
		if err != nil {
			return err
		}
	}
	return e.write(name, st, wire.Message{Type: wire.MsgStatesEnd})
}

// mergeStates merges states until the end marker.
func (e *Exchange) mergeStates(ctx context.Context, name string, st Stream) error {
	for {
		m, err := e.read(name, st)
		if err != nil {
			return err
		}
		switch m.Type {
		case wire.MsgStatesEnd:
			return nil
		case wire.MsgStates:
			if err := e.merge(ctx, m.Delta); err != nil {
				return fmt.Errorf("merge anti-entropy states from %s: %w", name, err)
			}
		default:
			return fmt.Errorf("%w: %s sent %s during anti-entropy", ErrProtocol, name, m.Type)
		}
	}
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
