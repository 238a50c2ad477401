package topology

import (
	"fmt"

	"github.com/dustin/go-humanize"
	"go.yaml.in/yaml/v3"

	"github.com/countermesh/countermesh/topology/pki"
)

// regions reads the regions list and every peer's addresses.
func (ps *problems) regions(t *Topology, m mapping) ([]Region, []addrUse) {
	items, line, ok := ps.seq(m, "regions", "topology", true)
	if !ok {
		return nil, nil
	}
	if len(items) == 0 {
		ps.addf(line, "regions is empty: list at least one region")
		return nil, nil
	}
	var (
		regions     []Region
		addrs       []addrUse
		firstRegion = map[string]int{}
		firstPeer   = map[string]int{}
	)
	for _, it := range items {
		rm, ok := ps.asMapping(it, "region", regionFields)
		if !ok {
			continue
		}
		name, nameLine, named := ps.str(rm, "name", "region", true)
		owner := "region"
		if named {
			owner = fmt.Sprintf("region %q", name)
			if !pki.ValidName(name) {
				ps.addf(nameLine, "bad region name %q: %s", name, nameRule)
			} else if prev, dup := firstRegion[name]; dup {
				ps.addf(nameLine, "region %q defined twice (first at line %d)", name, prev)
			} else {
				firstRegion[name] = nameLine
			}
		}
		r := Region{Name: name}
		peerItems, peersLine, ok := ps.seq(rm, "peers", owner, false)
		if _, present := rm.fields["peers"]; !present || ok && len(peerItems) == 0 {
			ps.addf(peersLine, "%s has no peers", owner)
		}
		for _, pn := range peerItems {
			p, uses, ok := ps.peer(t, pn, name, firstPeer)
			addrs = append(addrs, uses...)
			if ok {
				r.Peers = append(r.Peers, p)
			}
		}
		regions = append(regions, r)
	}
	return regions, addrs
}

// peer reads one peer of region. firstPeer maps the peer names seen so far to
// their lines.
func (ps *problems) peer(t *Topology, n *yaml.Node, region string, firstPeer map[string]int) (Peer, []addrUse, bool) {
	m, ok := ps.asMapping(n, "peer", peerFields)
	if !ok {
		return Peer{}, nil, false
	}
	p := Peer{Region: region}
	name, nameLine, named := ps.str(m, "name", "peer", true)
	owner := "peer"
	if named {
		p.Name = name
		owner = fmt.Sprintf("peer %q", name)
		if !pki.ValidName(name) {
			ps.addf(nameLine, "bad peer name %q: %s", name, nameRule)
		} else if prev, dup := firstPeer[name]; dup {
			ps.addf(nameLine, "peer %q defined twice (first at line %d)", name, prev)
		} else {
			firstPeer[name] = nameLine
		}
	}
	var uses []addrUse
	for _, a := range []struct {
		key string
		dst *string
	}{{"gossip", &p.Gossip}, {"sync", &p.Sync}, {"api", &p.API}} {
		s, line, ok := ps.str(m, a.key, owner, true)
		if !ok {
			continue
		}
		*a.dst = s
		canon, err := canonicalAddr(s)
		if err != nil {
			ps.addf(line, "bad %s address %q: %v", a.key, s, err)
			continue
		}
		uses = append(uses, addrUse{peer: name, seq: m.line, field: a.key, canon: canon, line: line})
	}
	p.Cert = ps.optionalPath(t, m, "cert", owner, refPeerCert, name)
	p.Key = ps.optionalPath(t, m, "key", owner, refPeerKey, name)
	p.Memory = ps.memory(m, owner)
	return p, uses, true
}

// Bounds of a peer's memory budget.
const (
	minMemory = 64 << 20
	maxMemory = 1 << 40
)

// memory reads the optional memory budget of a peer: a size such as 512MiB or
// 2GB; 0 when absent or bad (reported).
func (ps *problems) memory(m mapping, owner string) int64 {
	s, line, ok := ps.str(m, "memory", owner, false)
	if !ok {
		return 0
	}
	n, err := humanize.ParseBytes(s)
	if err != nil {
		ps.addf(line, "%s: memory %q: want a size such as 512MiB or 2GiB", owner, s)
		return 0
	}
	if n < minMemory || n > maxMemory {
		ps.addf(line, "%s: memory %s: want %s to %s", owner, s, humanize.IBytes(minMemory), humanize.IBytes(maxMemory))
		return 0
	}
	return int64(n)
}
