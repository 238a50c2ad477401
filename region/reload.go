package region

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/countermesh/countermesh/topology"
)

// watchTopology reloads the topology file whenever it changes from the
// version New loaded, so that a change written between New and the watch's
// start is put in force too.
func (p *Peer) watchTopology(ctx context.Context) {
	last := p.loadedVersion
	every(ctx, p.cfg.ReloadInterval, func() {
		if v := fileVersion(p.cfg.TopologyFile); v != last {
			last = v
			if err := p.Reload(); err != nil {
				p.log.Error("topology reload refused; keeping the topology in force", "err", err)
			}
		}
	})
}

// fileVersion identifies a version of a file by a hash of its content, so
// that a rewrite is seen even when it keeps the file's size and lands within
// one tick of the file system's clock (size and modification time would both
// stay). A topology file is small: reading it every ReloadInterval is cheap.
func fileVersion(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "missing"
	}
	sum := sha256.Sum256(b)
	return string(sum[:])
}

// ErrRestartNeeded matches (with errors.Is) the error of a Reload refused
// because the new topology changes what only a restart puts in force.
var ErrRestartNeeded = errors.New("region: the new topology needs a restart of this peer")

// Reload reads the topology file again (on change, or on SIGHUP) and puts it in
// force: links to removed peers close, added peers are joined and linked, and
// the gossip keyring takes the keys the file lists now (the first encrypts,
// every one decrypts). It reads only the files this peer needs, as New does,
// and hands the new topology and what its files hold to Config.OnReload.
// An invalid file is refused, and so is one that changes what only a restart
// puts in force (ErrRestartNeeded, with the reasons: see
// topology.RestartReasons); the topology in force is then kept.
func (p *Peer) Reload() error {
	p.reloadMu.Lock()
	defer p.reloadMu.Unlock()
	next, mat, err := topology.LoadPeer(p.cfg.TopologyFile, p.cfg.PeerName)
	if err != nil {
		return err
	}
	cur := p.topo.Load()
	if reasons := topology.RestartReasons(cur, next, p.cfg.PeerName); len(reasons) > 0 {
		return fmt.Errorf("%w: %s", ErrRestartNeeded, strings.Join(reasons, "; "))
	}
	rotated, err := p.members.rotateKeys(mat.GossipKeys)
	if err != nil {
		return fmt.Errorf("region: reload: %w", err)
	}
	changes := topology.Diff(cur, next)
	p.topo.Store(next)
	p.mat.Store(mat)
	if !changes.Empty() {
		p.log.Info("topology reloaded", "changes", changes.String())
	}
	if rotated {
		p.log.Info("gossip keys in force", "keys", len(mat.GossipKeys))
	}
	p.members.join()
	p.links.wake()
	if p.cfg.OnReload != nil {
		p.cfg.OnReload(next, mat)
	}
	return nil
}
