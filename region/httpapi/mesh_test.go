package httpapi

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/countermesh/countermesh/persist"
	"github.com/countermesh/countermesh/region"
	"github.com/countermesh/countermesh/region/regiontest"
	"github.com/countermesh/countermesh/sync/transport/faultnet"
	"github.com/countermesh/countermesh/tests/testkit"
)

// serveAPI serves the API of a running peer of a mesh, with the mesh's token
// keys and tune applied to its config, until the test ends and returns its
// base URL. The peer notifies the API of its remote changes (New wires it).
func serveAPI(t *testing.T, p *region.Peer, causalWait time.Duration, tune ...func(*Config)) string {
	t.Helper()
	cfg := Config{Backend: p, CausalWait: causalWait, LiveInterval: 10 * time.Millisecond, Logger: quietLogger(),
		TokenKeys: testTokenKeys}
	for _, f := range tune {
		f(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(func() {
		cancel()
		<-done
		srv.Close()
	})
	return srv.URL
}

// twoRegions starts a mesh of regions eu and us, one peer each, with tune
// applied to every peer's config, and waits until they replicate.
func twoRegions(t *testing.T, tune func(*region.Config)) *regiontest.Mesh {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a mesh")
	}
	m := regiontest.NewMesh(t, []string{"eu", "us"}, 1)
	if tune != nil {
		// Peers run with the Tune of the mesh from their (re)start.
		m.Tune = tune
		m.Stop("us-1")
		m.Start("us-1")
	}
	m.Write("eu-1", persist.Add("warm-up", "n", 1))
	m.WaitConverged(30 * time.Second)
	return m
}

// TestCausalReadWaitsForReplication: a client writes in eu and reads in us
// with the token while the link delays packets: the read waits and sees the
// write. With the regions partitioned, the read answers without it, flagged
// stale — never the old state as fresh.
func TestCausalReadWaitsForReplication(t *testing.T) {
	m := twoRegions(t, nil)
	eu := serveAPI(t, m.Node("eu-1").Peer, 5*time.Second)
	usPatient := serveAPI(t, m.Node("us-1").Peer, 5*time.Second)
	usHasty := serveAPI(t, m.Node("us-1").Peer, 300*time.Millisecond)
	euHost, usHost := m.Host("eu-1"), m.Host("us-1")

	m.Net.SetFaults(euHost, usHost, faultnet.Faults{Delay: 250 * time.Millisecond})
	w := doAt(t, eu, "", "POST", "/v1/items/page/counters/claps", `{"by":1}`)
	token := w.header.Get(HeaderCausalToken)
	if got := w.item(t).Counters["claps"]; got != 1 {
		t.Fatalf("write in eu: claps %d", got)
	}
	start := time.Now()
	r := doAt(t, usPatient, "", "GET", "/v1/items/page", "", HeaderCausalToken, token)
	if got := r.item(t).Counters["claps"]; got != 1 || r.header.Get(HeaderCausalStale) != "" {
		t.Fatalf("read in us with the token: claps %d, stale %q; want 1, fresh", got, r.header.Get(HeaderCausalStale))
	}
	t.Logf("the read in us waited %s for the write in eu", time.Since(start))
	m.Net.SetFaults(euHost, usHost, faultnet.Faults{})

	m.Net.Partition([]string{euHost}, []string{usHost})
	w = doAt(t, eu, "", "POST", "/v1/items/page/counters/claps", `{"by":1}`, HeaderCausalToken, token)
	token = w.header.Get(HeaderCausalToken)
	r = doAt(t, usHasty, "", "GET", "/v1/items/page", "", HeaderCausalToken, token)
	claps := r.item(t).Counters["claps"]
	if r.header.Get(HeaderCausalStale) != "true" {
		t.Fatalf("read across a partition answered claps %d without X-Causal-Stale", claps)
	}
	if claps != 1 {
		t.Fatalf("claps %d across the partition, want the old 1 (flagged stale)", claps)
	}

	m.Net.Heal()
	testkit.WaitFor(t, 30*time.Second, "a fresh read in us after the heal", func() bool {
		r := doAt(t, usHasty, "", "GET", "/v1/items/page", "", HeaderCausalToken, token)
		fresh := r.header.Get(HeaderCausalStale) == ""
		if fresh && r.item(t).Counters["claps"] != 2 {
			t.Fatalf("fresh read in us shows claps %d, want 2", r.item(t).Counters["claps"])
		}
		return fresh
	})
}

// TestTokenOrdersReactionsAcrossSkewedClocks: us runs 10 s behind. With the
// default MaxTokenAhead, us refuses a reaction with eu's token rather than let
// it move its clock 10 s; an API allowing tokens that far ahead takes it, and
// the user's reaction written in us with the token of their earlier reaction
// in eu wins, although us's wall clock says it is older; without the token,
// the clocks decide.
func TestTokenOrdersReactionsAcrossSkewedClocks(t *testing.T) {
	m := twoRegions(t, func(c *region.Config) {
		if c.PeerName == "us-1" {
			c.WallClock = func() time.Time { return time.Now().Add(-10 * time.Second) }
		}
	})
	eu := serveAPI(t, m.Node("eu-1").Peer, time.Second)
	usStrict := serveAPI(t, m.Node("us-1").Peer, 100*time.Millisecond)
	us := serveAPI(t, m.Node("us-1").Peer, 100*time.Millisecond, func(c *Config) { c.MaxTokenAhead = 20 * time.Second })
	m.Net.Partition([]string{m.Host("eu-1")}, []string{m.Host("us-1")}) // the token is the only causal path

	// Control: u2 likes in eu, then dislikes in us without a token.
	doAt(t, eu, "", "PUT", "/v1/items/page/reactions/u2", `{"reaction":"like"}`).item(t)
	doAt(t, us, "", "PUT", "/v1/items/page/reactions/u2", `{"reaction":"dislike"}`).item(t)
	// u1 likes in eu, then dislikes in us presenting eu's token.
	w := doAt(t, eu, "", "PUT", "/v1/items/page/reactions/u1", `{"reaction":"like"}`)
	w.item(t)
	usStore := m.Node("us-1").Peer.Store()
	clock, seq := usStore.Clock().Last(), usStore.LastSeq()
	doAt(t, usStrict, "", "PUT", "/v1/items/page/reactions/u1", `{"reaction":"dislike"}`,
		HeaderCausalToken, w.header.Get(HeaderCausalToken)).problem(t, http.StatusConflict)
	if usStore.Clock().Last() != clock || usStore.LastSeq() != seq {
		t.Fatal("the reaction refused in us moved its clock or was written")
	}
	r := doAt(t, us, "", "PUT", "/v1/items/page/reactions/u1", `{"reaction":"dislike"}`,
		HeaderCausalToken, w.header.Get(HeaderCausalToken))
	if it := r.item(t); it.reactionOfUser() != "dislike" {
		t.Fatalf("write in us: %+v", it)
	}
	if r.header.Get(HeaderCausalStale) != "true" {
		t.Fatal("write across a partition with a token from eu was not flagged stale")
	}

	m.Net.Heal()
	m.WaitConverged(30 * time.Second)
	for name, base := range map[string]string{"eu": eu, "us": us} {
		u1 := doAt(t, base, "", "GET", "/v1/items/page?user=u1", "").item(t)
		u2 := doAt(t, base, "", "GET", "/v1/items/page?user=u2", "").item(t)
		if u1.reactionOfUser() != "dislike" {
			t.Errorf("%s: u1 %q, want dislike: the reaction written with the token must win", name, u1.reactionOfUser())
		}
		if u2.reactionOfUser() != "like" {
			t.Errorf("%s: u2 %q, want like: without a token the clock behind loses (control)", name, u2.reactionOfUser())
		}
		if u1.Reactions["like"] != 1 || u1.Reactions["dislike"] != 1 {
			t.Errorf("%s: reactions %v, want like 1, dislike 1", name, u1.Reactions)
		}
	}
}

// TestLiveEventsCarryRemoteChanges: a subscriber in us sees a clap made in eu.
func TestLiveEventsCarryRemoteChanges(t *testing.T) {
	m := twoRegions(t, nil)
	eu := serveAPI(t, m.Node("eu-1").Peer, time.Second)
	us := serveAPI(t, m.Node("us-1").Peer, time.Second)
	s := openStream(t, us, "page")
	if it := s.nextItem(t); it.Counters["claps"] != 0 {
		t.Fatalf("first event %+v, want no claps", it)
	}
	doAt(t, eu, "", "POST", "/v1/items/page/counters/claps", `{"by":4}`).item(t)
	if it := s.nextItem(t); it.Counters["claps"] != 4 {
		t.Fatalf("event in us %+v, want the 4 claps made in eu", it)
	}
}
