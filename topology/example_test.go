package topology_test

import (
	"fmt"

	"github.com/countermesh/countermesh/topology"
)

func ExampleParse() {
	src := `mesh: demo
reaction_kinds: [like, dislike]
security: {ca: certs/ca.crt, gossip_key: certs/gossip.key}
regions:
  - name: eu-west
    peers:
      - name: eu-west-1
        gossip: 127.0.0.1:7101
        sync: 127.0.0.1:7201
        api: 127.0.0.1:7301
        cert: certs/eu-west-1.crt
        key: certs/eu-west-1.key
`
	topo, err := topology.Parse("/etc/countermesh/topology.yaml", []byte(src))
	if err != nil {
		fmt.Println(err)
		return
	}
	p, _ := topo.Peer("eu-west-1")
	fmt.Println(p.Region, p.Sync, p.Cert)
	// Output: eu-west 127.0.0.1:7201 /etc/countermesh/certs/eu-west-1.crt
}

func ExampleParse_problems() {
	src := `mesh: Demo
reaction_kinds: [like, like]
security: {ca: ca.crt, gossip_key: gossip.key}
regions:
  - name: eu-west
    peers:
      - {name: p1, gossip: "127.0.0.1:7101", sync: "127.0.0.1:7101", api: "127.0.0.1", cert: p1.crt, key: p1.key}
`
	_, err := topology.Parse("topology.yaml", []byte(src))
	fmt.Println(err)
	// Output:
	// topology.yaml:1: bad mesh name "Demo": want 1-63 lowercase letters, digits or hyphens, not starting or ending with a hyphen
	// topology.yaml:2: reaction kind "like" listed twice (first at line 2)
	// topology.yaml:7: bad api address "127.0.0.1": missing port in address
	// topology.yaml:7: sync address 127.0.0.1:7101 of peer "p1" is also its gossip address
}

func ExampleDiff() {
	parse := func(peers string) *topology.Topology {
		t, err := topology.Parse("t.yaml", []byte(`mesh: demo
reaction_kinds: [like]
security: {ca: ca.crt, gossip_key: gossip.key}
regions:
`+peers))
		if err != nil {
			panic(err)
		}
		return t
	}
	old := parse(`  - {name: eu, peers: [{name: eu-1, gossip: "h:1", sync: "h:2", api: "h:3", cert: c, key: k}]}
`)
	new := parse(`  - {name: eu, peers: [{name: eu-1, gossip: "h:1", sync: "h:2", api: "h:4", cert: c, key: k}]}
  - {name: us, peers: [{name: us-1, gossip: "u:1", sync: "u:2", api: "u:3", cert: c, key: k}]}
`)
	fmt.Println(topology.Diff(old, new))
	// Output:
	// region added: us
	// peer added: us-1
	// peer changed: eu-1 (api)
}
