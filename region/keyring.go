package region

import (
	"bytes"
	"fmt"
	"slices"

	"github.com/hashicorp/memberlist"
)

// newKeyring returns memberlist's keyring of the topology's gossip keys: the
// first encrypts, every one decrypts.
func newKeyring(keys [][]byte) (*memberlist.Keyring, error) {
	if len(keys) == 0 {
		return nil, fmt.Errorf("no gossip key")
	}
	ring, err := memberlist.NewKeyring(keys, keys[0])
	if err != nil {
		return nil, fmt.Errorf("gossip keyring: %w", err)
	}
	return ring, nil
}

// rotateKeyring puts keys in force in ring, live: it installs the keys it
// lacks, makes the first one primary, then removes the keys no longer
// listed — in that order, so that no message in flight between peers that
// each hold an old or a new key is ever undecryptable. It reports whether
// ring changed.
func rotateKeyring(ring *memberlist.Keyring, keys [][]byte) (bool, error) {
	if len(keys) == 0 {
		return false, fmt.Errorf("no gossip key")
	}
	before := ring.GetKeys()
	for _, k := range keys {
		if err := ring.AddKey(k); err != nil {
			return false, fmt.Errorf("install gossip key: %w", err)
		}
	}
	if err := ring.UseKey(keys[0]); err != nil {
		return false, fmt.Errorf("use gossip key: %w", err)
	}
	for _, k := range ring.GetKeys() {
		if !slices.ContainsFunc(keys, func(l []byte) bool { return bytes.Equal(k, l) }) {
			if err := ring.RemoveKey(k); err != nil {
				return false, fmt.Errorf("remove gossip key: %w", err)
			}
		}
	}
	return !slices.EqualFunc(before, ring.GetKeys(), bytes.Equal), nil
}
