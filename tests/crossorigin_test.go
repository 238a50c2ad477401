package tests

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/countermesh/countermesh/region/httpapi"
	"github.com/countermesh/countermesh/region/regiontest"
	"github.com/countermesh/countermesh/tests/testkit"
)

// crossOriginPage is a page on another origin than the peer's API, as the
// README's snippet has it: it follows an item's live counts with EventSource,
// holding a read token, and tries a write with it.
const crossOriginPage = `<!doctype html><meta charset="utf-8"><title>counts</title>
<p>claps: <span id="claps">?</span> <span id="state">connecting</span> write: <span id="write">?</span></p>
<script>
const api = %q, token = %q;
const es = new EventSource(api + "/v1/items/article:x/events?access_token=" + token);
es.addEventListener("item", (e) => {
  document.getElementById("claps").textContent = JSON.parse(e.data).counters.claps ?? 0;
  document.getElementById("state").textContent = "live";
});
es.onerror = () => { document.getElementById("state").textContent = "error"; };
fetch(api + "/v1/items/article:x/counters/claps", {method: "POST",
    headers: {Authorization: "Bearer " + token, "Content-Type": "application/json"}, body: '{"by":100}'})
  .then((r) => { document.getElementById("write").textContent = String(r.status); })
  .catch(() => { document.getElementById("write").textContent = "refused"; });
</script>`

// A browser on another origin, holding a read token, follows live counts
// straight from a peer; a write with that token is refused; a page on an origin
// the topology does not list gets nothing.
func TestBrowserOnAnotherOriginFollowsLiveCounts(t *testing.T) {
	chromium := findChromium(t)
	mesh := regiontest.NewMesh(t, []string{"eu"}, 1)
	page := func(api string) *httptest.Server {
		var srv *httptest.Server
		srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprintf(w, crossOriginPage, api, "read-token")
		}))
		t.Cleanup(srv.Close)
		return srv
	}
	// The API's origin differs from the pages' by port; it is known only once
	// listening, so the pages are told it through a forwarding handler.
	var api http.Handler
	apiSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { api.ServeHTTP(w, r) }))
	t.Cleanup(apiSrv.Close)
	listed, unlisted := page(apiSrv.URL), page(apiSrv.URL)
	s, err := httpapi.New(httpapi.Config{
		Backend: mesh.Node("eu-1").Peer,
		APITokens: []httpapi.APIToken{
			{Name: "frontend", Token: "write-token", Scope: httpapi.ScopeWrite},
			{Name: "browsers", Token: "read-token", Scope: httpapi.ScopeRead},
		},
		CORSOrigins: []string{listed.URL},
		Logger:      regiontest.Logger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	api = s.Handler()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = s.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	clap := func(by int) {
		req, _ := http.NewRequest(http.MethodPost, apiSrv.URL+"/v1/items/article:x/counters/claps",
			strings.NewReader(fmt.Sprintf(`{"by":%d}`, by)))
		req.Header.Set("Authorization", "Bearer write-token")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("clap: %s", resp.Status)
		}
	}
	bctx, bcancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer bcancel()
	tab := browser(bctx, t, chromium, 800, 300)
	text := func(sel string) string {
		s, err := chromedp.Run(tab, chromedp.Text(sel))
		if err != nil {
			t.Fatalf("read %s: %v", sel, err)
		}
		return s
	}
	waitText := func(sel, want string) {
		t.Helper()
		shown := false
		defer func() {
			if !shown { // WaitFor failed the test: keep what the page showed
				shoot(t, tab, "cross-origin-failed")
			}
		}()
		testkit.WaitFor(t, 20*time.Second, fmt.Sprintf("%s to show %q", sel, want), func() bool { return text(sel) == want })
		shown = true
	}

	if _, err := chromedp.Run(tab, chromedp.Navigate(listed.URL)); err != nil {
		t.Fatal(err)
	}
	waitText("#state", "live")
	clap(3)
	waitText("#claps", "3")
	waitText("#write", "refused") // the preflight of a write is refused: no CORS on write routes
	clap(2)
	waitText("#claps", "5")
	shoot(t, tab, "cross-origin-live")

	if _, err := chromedp.Run(tab, chromedp.Navigate(unlisted.URL)); err != nil {
		t.Fatal(err)
	}
	waitText("#state", "error")
	if got := text("#claps"); got != "?" {
		t.Errorf("a page of an unlisted origin read claps %q", got)
	}
	if v, err := mesh.Node("eu-1").Peer.Store().ReadItem("article:x", ""); err != nil || v.Counters["claps"] != 5 {
		t.Errorf("claps %d (%v) after the browsers, want 5: a read token wrote", v.Counters["claps"], err)
	}
}
