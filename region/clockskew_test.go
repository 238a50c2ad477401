package region

import (
	"errors"
	"testing"
	"time"
)

// skewFixture is a clockSkew whose wall clock the test moves.
type skewFixture struct {
	now time.Time
	c   *clockSkew
}

func newSkewFixture() *skewFixture {
	f := &skewFixture{now: time.Unix(1_700_000_000, 0)}
	f.c = newClockSkew(func() time.Time { return f.now }, time.Minute)
	return f
}

// ack feeds the ack of a peer whose clock is at offset from ours.
func (f *skewFixture) ack(peer string, offset time.Duration) {
	remote := &skewFixture{now: f.now.Add(offset)}
	remote.c = newClockSkew(func() time.Time { return remote.now }, time.Minute)
	f.c.observe(peer, 10*time.Millisecond, remote.c.ackPayload())
}

func TestClockSkewNeedsMostOfAtLeastTwoPeers(t *testing.T) {
	f := newSkewFixture()
	if err := f.c.check(); err != nil {
		t.Fatalf("no samples: %v", err)
	}
	f.ack("a", 2*time.Minute)
	if err := f.c.check(); err != nil {
		t.Errorf("one peer off: %v; with one sample neither side can tell whose clock is wrong", err)
	}
	f.ack("b", 30*time.Second)
	if err := f.c.check(); err != nil {
		t.Errorf("one of two peers off: %v", err)
	}
	f.ack("b", -3*time.Minute)
	err := f.c.check()
	if !errors.Is(err, ErrClockSkew) {
		t.Fatalf("two of two peers off: %v, want ErrClockSkew", err)
	}
	t.Log(err)
	f.ack("c", 0)
	f.ack("d", time.Second)
	if err := f.c.check(); err != nil {
		t.Errorf("two of four peers off: %v", err)
	}
}

func TestClockSkewSamplesExpireAndForget(t *testing.T) {
	f := newSkewFixture()
	f.ack("a", 2*time.Minute)
	f.ack("b", 2*time.Minute)
	if err := f.c.check(); !errors.Is(err, ErrClockSkew) {
		t.Fatalf("%v, want ErrClockSkew", err)
	}
	f.c.forget("a")
	if err := f.c.check(); err != nil {
		t.Errorf("after forgetting a: %v", err)
	}
	f.ack("a", 2*time.Minute)
	f.now = f.now.Add(clockSampleTTL + time.Second)
	if err := f.c.check(); err != nil {
		t.Errorf("stale samples still count: %v", err)
	}
	f.c.observe("a", 0, []byte{1, 2, 3})
	if len(f.c.samples) != 0 {
		t.Error("a payload of the wrong size was recorded")
	}
}

func TestClockVerdictIsReusedForASecond(t *testing.T) {
	f := newSkewFixture()
	if err := f.c.verdict(); err != nil {
		t.Fatal(err)
	}
	f.ack("a", 2*time.Minute)
	f.ack("b", 2*time.Minute)
	if err := f.c.verdict(); err != nil {
		t.Errorf("within a second of the last check: %v, want the reused verdict", err)
	}
	f.now = f.now.Add(clockVerdictTTL)
	if err := f.c.verdict(); !errors.Is(err, ErrClockSkew) {
		t.Errorf("a second later: %v, want ErrClockSkew", err)
	}
}
