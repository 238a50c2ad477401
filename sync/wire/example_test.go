package wire_test

import (
	"errors"
	"fmt"

	"github.com/countermesh/countermesh/crdt"
	"github.com/countermesh/countermesh/sync/wire"
)

func ExampleEncodeDelta() {
	var d crdt.Delta
	var claps crdt.PNCounter
	claps.JoinEntry(7, crdt.PN{P: 156, N: 1})
	d.JoinCounter(crdt.CounterKey{Item: "video:abc", Name: "claps"}, claps)
	d.JoinRegister(crdt.RegisterKey{Item: "video:abc", User: "u1"},
		crdt.Register{Kind: "like", TS: crdt.Timestamp{Wall: 1_700_000_000_000}, Replica: 7})

	b := wire.EncodeDelta(d)
	got, err := wire.DecodeDelta(b)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(len(b), "bytes, equal:", got.Equal(d))
	fmt.Println("claps:", got.Counters[crdt.CounterKey{Item: "video:abc", Name: "claps"}].Value())
	// Output:
	// 48 bytes, equal: true
	// claps: 155
}

func ExampleDecodeRegister() {
	r := crdt.Register{Kind: "like", TS: crdt.Timestamp{Wall: 1_700_000_000_000}, Replica: 0x9e3779b97f4a7c15}
	b := wire.EncodeRegister(r)
	fmt.Println(len(b), "bytes")

	got, err := wire.DecodeRegister(b)
	fmt.Println(got == r, err)

	_, err = wire.DecodeRegister(b[:len(b)-1])
	fmt.Println(errors.Is(err, wire.ErrMalformed), err)

	future := append([]byte{0x92, 0x02}, b[2:]...) // the same body, labelled version 2
	_, err = wire.DecodeRegister(future)
	fmt.Println(errors.Is(err, wire.ErrVersion), err)
	// Output:
	// 27 bytes
	// true <nil>
	// true wire: malformed encoding: register: replica: unexpected end of input
	// true wire: unknown format version: register: version 2, this build reads version 1
}
