package codec_test

import (
	"errors"
	"fmt"

	"github.com/countermesh/countermesh/crdt"
	"github.com/countermesh/countermesh/crdt/codec"
)

func ExampleEncodeDelta() {
	var d crdt.Delta
	var claps crdt.PNCounter
	claps.JoinEntry(7, crdt.PN{P: 156, N: 1})
	d.JoinCounter(crdt.CounterKey{Item: "video:abc", Name: "claps"}, claps)
	d.JoinRegister(crdt.RegisterKey{Item: "video:abc", User: "u1"},
		crdt.Register{Kind: "like", TS: crdt.Timestamp{Wall: 1_700_000_000_000}, Replica: 7})

	b := codec.EncodeDelta(d)
	got, err := codec.DecodeDelta(b)
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
	b := codec.EncodeRegister(r)
	fmt.Println(len(b), "bytes")

	got, err := codec.DecodeRegister(b)
	fmt.Println(got == r, err)

	_, err = codec.DecodeRegister(b[:len(b)-1])
	fmt.Println(errors.Is(err, codec.ErrMalformed), err)

	future := append([]byte{0x92, 0x02}, b[2:]...) // the same body, labelled version 2
	_, err = codec.DecodeRegister(future)
	fmt.Println(errors.Is(err, codec.ErrVersion), err)
	// Output:
	// 27 bytes
	// true <nil>
	// true codec: malformed encoding: register: replica: unexpected end of input
	// true codec: unknown format version: register: version 2, this build reads version 1
}
