package region

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/countermesh/countermesh/topology"
)

// watchTopology reloads the topology file whenever it changes.
func (p *Peer) watchTopology(ctx context.Context) {
	last := fileVersion(p.cfg.TopologyFile)
	t := time.NewTicker(p.cfg.ReloadInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if v := fileVersion(p.cfg.TopologyFile); v != last {
			last = v
			if err := p.Reload(); err != nil {
				p.log.Error("topology reload refused; keeping the topology in force", "err", err)
			}
		}
	}
}

// fileVersion identifies a version of a file by size and modification time.
func fileVersion(path string) string {
	st, err := os.Stat(path)
	if err != nil {
		return "missing"
	}
	return fmt.Sprint(st.Size(), st.ModTime().UnixNano())
}

// Reload reads the topology file again (on change, or on SIGHUP) and puts it in
// force: links to removed peers close, added peers are joined and linked. An
// invalid file — or one that drops this peer, renames the mesh or moves this peer
// to another region — is refused and the topology in force is kept.
func (p *Peer) Reload() error {
	next, err := topology.Load(p.cfg.TopologyFile)
	if err != nil {
		return err
	}
	cur := p.topo.Load()
	self, ok := next.Peer(p.cfg.PeerName)
	switch {
	case !ok:
		return fmt.Errorf("the new topology drops this peer (%s)", p.cfg.PeerName)
	case next.Mesh != cur.Mesh:
		return fmt.Errorf("the new topology renames the mesh %q to %q; restart to do that", cur.Mesh, next.Mesh)
	}
	if old, _ := cur.Peer(p.cfg.PeerName); old.Region != self.Region || old.Sync != self.Sync || old.Gossip != self.Gossip {
		return fmt.Errorf("the new topology moves this peer; restart to do that")
	}
	changes := topology.Diff(cur, next)
	p.topo.Store(next)
	if !changes.Empty() {
		p.log.Info("topology reloaded", "changes", changes.String())
	}
	p.join()
	p.wake()
	if p.cfg.OnReload != nil {
		p.cfg.OnReload(next)
	}
	return nil
}
