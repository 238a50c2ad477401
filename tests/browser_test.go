package tests

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/countermesh/countermesh/tests/testkit"
)

// findChromium returns the path of a Chromium, or skips the test saying why —
// unless COUNTERMESH_REQUIRE_BROWSER is set (CI installs Chromium and sets it),
// where a missing browser fails.
func findChromium(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "no Chromium on PATH (install the Debian package chromium); skipping the browser test"
	if os.Getenv("COUNTERMESH_REQUIRE_BROWSER") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// buildCountermesh builds the binary under test.
func buildCountermesh(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "countermesh")
	out, err := exec.Command("go", "build", "-o", bin, Module+"/cmd/countermesh").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// startDev runs `countermesh dev` and returns the demo page's base URL.
func startDev(t *testing.T, bin string) string {
	t.Helper()
	cmd := exec.Command(bin, "dev", "-listen", "127.0.0.1:0", "-data", t.TempDir())
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	pageURL := regexp.MustCompile(`demo page:\s+(http://\S+)/\?`)
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := pageURL.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case found <- m[1]:
				default: // the first URL is the one; read on until the command exits
				}
			}
		}
	}()
	select {
	case u := <-found:
		return u
	case <-time.After(60 * time.Second):
		t.Fatal("countermesh dev printed no demo page URL within 60 s")
		return ""
	}
}

// artifactDir is where the browser test leaves its screenshots:
// $COUNTERMESH_ARTIFACTS, or tests/artifacts.
func artifactDir(t *testing.T) string {
	dir := os.Getenv("COUNTERMESH_ARTIFACTS")
	if dir == "" {
		dir = "artifacts"
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestBrowserSeesAClapFromAnotherRegion opens the demo page on two regions in
// headless Chromium, claps in one, and expects the other's count to change within
// 2 s.
func TestBrowserSeesAClapFromAnotherRegion(t *testing.T) {
	chromium := findChromium(t)
	base := startDev(t, buildCountermesh(t))

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	// One headless browser per reader, each with its own profile.
	tabA, tabB := browser(ctx, t, chromium, 1200, 800), browser(ctx, t, chromium, 1200, 800)

	open := func(tab context.Context, region string) string {
		err := chromedp.Do(tab,
			chromedp.Navigate(fmt.Sprintf("%s/?region=%s", base, region)),
			chromedp.WaitVisible(`#clap`),
			// The region's row may not be drawn yet: no row reads as no count.
			chromedp.Poll[chromedp.Void](`(document.querySelector("#region-`+region+` .claps")?.textContent ?? "–") !== "–"`,
				chromedp.WithPollingTimeout(20*time.Second)),
		)
		if err != nil {
			t.Fatalf("open the page on %s: %v", region, err)
		}
		claps, err := chromedp.Run(tab, chromedp.Text(`#claps`))
		if err != nil {
			t.Fatalf("read claps on %s: %v", region, err)
		}
		return claps
	}
	open(tabA, "eu-west")
	before := open(tabB, "us-east")

	if err := chromedp.Do(tabA, chromedp.Click(`#clap`)); err != nil {
		t.Fatalf("click clap on eu-west: %v", err)
	}
	start := time.Now()
	err := chromedp.Do(tabB,
		chromedp.Poll[chromedp.Void](fmt.Sprintf(`document.querySelector("#claps").textContent !== %q`, before),
			chromedp.WithPollingTimeout(2*time.Second), chromedp.WithPollingInterval(20*time.Millisecond)),
	)
	took := time.Since(start)
	shoot(t, tabA, "eu-west")
	shoot(t, tabB, "us-east")
	if err != nil {
		t.Fatalf("us-east's count stayed %q for 2 s after a clap on eu-west: %v", before, err)
	}
	after, _ := chromedp.Run(tabB, chromedp.Text(`#claps`))
	if strings.TrimSpace(after) == strings.TrimSpace(before) {
		t.Fatalf("us-east's count did not change: %q", after)
	}
	t.Logf("a clap on eu-west showed on us-east after %s (%s → %s)", took.Round(time.Millisecond), before, after)
}

// browser starts a headless Chromium with its own profile and a window of w×h
// pixels, and returns its first tab; it stops when the test ends or ctx does.
func browser(ctx context.Context, t *testing.T, chromium string, w, h int) context.Context {
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.NoSandbox,
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(w, h),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancelAlloc)
	tab, cancelTab := chromedp.NewContext(alloc)
	t.Cleanup(cancelTab)
	return tab
}

// shoot saves a screenshot of a tab as a test artifact.
func shoot(t *testing.T, tab context.Context, name string) {
	png, err := chromedp.Run(tab, chromedp.FullScreenshot(100))
	if err != nil {
		t.Logf("screenshot %s: %v", name, err)
		return
	}
	path := filepath.Join(artifactDir(t), "demo-"+name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Logf("save screenshot: %v", err)
		return
	}
	t.Logf("screenshot: %s", path)
}

// demoTab is one browser tab on the demo page.
type demoTab struct {
	t    *testing.T
	name string
	ctx  context.Context
}

// open loads the page on a region and waits until it has read the mesh and the
// user's reaction.
func (d demoTab) open(base, region string) {
	d.t.Helper()
	err := chromedp.Do(d.ctx,
		chromedp.Navigate(fmt.Sprintf("%s/?region=%s", base, region)),
		chromedp.Poll[chromedp.Void](`document.body.dataset.ready === "true"`, chromedp.WithPollingTimeout(20*time.Second)),
	)
	if err != nil {
		d.fail("open the page on %s: %v", region, err)
	}
}

// check evaluates a JavaScript condition now.
func (d demoTab) check(what, cond string) {
	d.t.Helper()
	ok, err := chromedp.Run(d.ctx, chromedp.Evaluate[bool](cond))
	if err != nil || !ok {
		d.fail("%s: %s is %v (err %v)", what, cond, ok, err)
	}
}

// wait waits up to timeout for a JavaScript condition, polling every 20 ms.
func (d demoTab) wait(timeout time.Duration, what, cond string) {
	d.t.Helper()
	err := chromedp.Do(d.ctx, chromedp.Poll[chromedp.Void](cond,
		chromedp.WithPollingTimeout(timeout), chromedp.WithPollingInterval(20*time.Millisecond)))
	if err != nil {
		d.fail("%s: %s not true within %s: %v", what, cond, timeout, err)
	}
}

func (d demoTab) text(sel string) string {
	d.t.Helper()
	s, err := chromedp.Run(d.ctx, chromedp.Text(sel))
	if err != nil {
		d.fail("text of %s: %v", sel, err)
	}
	return strings.TrimSpace(s)
}

func (d demoTab) click(sel string) {
	d.t.Helper()
	if err := chromedp.Do(d.ctx, chromedp.Click(sel)); err != nil {
		d.fail("click %s: %v", sel, err)
	}
}

// fail saves a screenshot of the tab and fails the test.
func (d demoTab) fail(format string, args ...any) {
	d.t.Helper()
	shoot(d.t, d.ctx, d.name+"-failed")
	d.t.Fatalf(d.name+": "+format, args...)
}

// setPartition flips a region's cut-off switch through the dev server, as
// another reader's page does.
func setPartition(t *testing.T, base, region string, cut bool) {
	t.Helper()
	body := fmt.Sprintf(`{"region":%q,"cut":%t}`, region, cut)
	res, err := http.Post(base+"/dev/partition", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatalf("partition %s: %v", region, err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNoContent {
		t.Fatalf("partition %s: %s", region, res.Status)
	}
}

// waitLinked waits until the dev server reports every region linked to every
// other, as a mesh that has been running a while is.
func waitLinked(t *testing.T, base string) {
	t.Helper()
	testkit.WaitFor(t, 30*time.Second, "the demo's regions all linked", func() bool {
		var mesh struct {
			Regions []struct {
				Links []struct{ Up bool }
			}
		}
		res, err := http.Get(base + "/dev/regions")
		if err != nil {
			return false
		}
		err = json.NewDecoder(res.Body).Decode(&mesh)
		res.Body.Close()
		up := err == nil && len(mesh.Regions) > 0
		for _, r := range mesh.Regions {
			for _, l := range r.Links {
				up = up && l.Up
			}
		}
		return up
	})
}

// TestBrowserShowsTheMesh opens the demo page as readers do and checks what it
// shows of the mesh: a region cut off before the page loads shows its switch
// ticked and its row red; the link column follows the links going down and up;
// lag and live readers per region; a reload keeps the reader's own like, so a
// click clears it; a clap from another region lights up; and on a 390 px wide
// phone the live panel fits the screen.
func TestBrowserShowsTheMesh(t *testing.T) {
	chromium := findChromium(t)
	base := startDev(t, buildCountermesh(t))
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()

	waitLinked(t, base)
	setPartition(t, base, "ap-south", true)
	eu := demoTab{t, "mesh-eu-west", browser(ctx, t, chromium, 1200, 900)}
	eu.open(base, "eu-west")

	t.Run("a region cut before the page loaded shows cut", func(t *testing.T) {
		eu.t = t
		eu.check("ap-south's switch", `document.querySelector("#partition-ap-south").checked`)
		eu.check("ap-south's row", `document.querySelector("#region-ap-south").classList.contains("cut")`)
		eu.check("eu-west's switch", `!document.querySelector("#partition-eu-west").checked`)
		eu.check("eu-west's row", `!document.querySelector("#region-eu-west").classList.contains("cut")`)
		eu.check("the row's red", `getComputedStyle(document.querySelector("#region-ap-south td.claps")).color === "rgb(180, 35, 24)"`)
	})

	t.Run("the link column shows link state", func(t *testing.T) {
		eu.t = t
		eu.wait(20*time.Second, "ap-south's links down", `document.querySelector("#region-ap-south .link").textContent === "down"`)
		eu.wait(20*time.Second, "eu-west linked to us-east only", `document.querySelector("#region-eu-west .link").textContent === "1/2 up"`)
		shoot(t, eu.ctx, "mesh-cut")
		// A clap where the cut region is: it cannot reach the others, so its lag grows.
		eu.click("#pick-ap-south")
		eu.wait(5*time.Second, "ap-south picked", `document.querySelector("#current").textContent === "ap-south"`)
		eu.click("#clap")
		eu.wait(10*time.Second, "ap-south's lag", `document.querySelector("#region-ap-south .lag").textContent !== "0 s"`)
		eu.click("#partition-ap-south") // heal with the page's switch
		eu.wait(30*time.Second, "every link up", `[...document.querySelectorAll("#live .link")].every((c) => c.textContent === "up")`)
		eu.wait(30*time.Second, "ap-south's lag gone", `document.querySelector("#region-ap-south .lag").textContent === "0 s"`)
		eu.check("ap-south's row", `!document.querySelector("#region-ap-south").classList.contains("cut")`)
		eu.wait(10*time.Second, "live readers", `[...document.querySelectorAll("#live .readers")].every((c) => Number(c.textContent) >= 1)`)
		eu.click("#pick-eu-west")
		eu.wait(5*time.Second, "eu-west picked", `document.querySelector("#current").textContent === "eu-west"`)
	})

	t.Run("a reload keeps the reader's reaction", func(t *testing.T) {
		eu.t = t
		eu.open(base, "eu-west")
		eu.check("like not pressed", `document.querySelector("#like").getAttribute("aria-pressed") === "false"`)
		eu.click("#like")
		eu.wait(5*time.Second, "like pressed", `document.querySelector("#like").getAttribute("aria-pressed") === "true"`)
		likes := eu.text("#likes")
		eu.open(base, "eu-west") // reload
		eu.check("like pressed after the reload", `document.querySelector("#like").getAttribute("aria-pressed") === "true"`)
		if got := eu.text("#likes"); got != likes {
			t.Fatalf("likes after the reload: %s, want %s", got, likes)
		}
		eu.click("#like")
		eu.wait(5*time.Second, "like cleared", `document.querySelector("#like").getAttribute("aria-pressed") === "false"`)
		eu.wait(5*time.Second, "likes one fewer", fmt.Sprintf(`document.querySelector("#likes").textContent === "%s"`, decrement(t, likes)))
	})

	us := demoTab{t, "mesh-us-east", browser(ctx, t, chromium, 1200, 900)}
	t.Run("a clap from another region lights up", func(t *testing.T) {
		eu.t, us.t = t, t
		us.open(base, "us-east")
		before := us.text("#claps")
		eu.click("#clap")
		us.wait(3*time.Second, "the clap from eu-west, highlighted on us-east",
			fmt.Sprintf(`document.querySelector("#claps").textContent !== %q && document.querySelector("#claps").classList.contains("arrived")`, before))
		shoot(t, us.ctx, "mesh-arrived")
	})

	t.Run("the live panel fits a 390 px phone", func(t *testing.T) {
		phone := demoTab{t, "mesh-phone", browser(ctx, t, chromium, 390, 844)}
		if err := chromedp.Do(phone.ctx, chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile)); err != nil {
			t.Fatal(err)
		}
		phone.open(base, "us-east")
		phone.check("390 px viewport", `window.innerWidth === 390`)
		phone.check("no sideways scroll", `document.documentElement.scrollWidth <= window.innerWidth`)
		for _, sel := range []string{"#panel", "#live", "#partition-ap-south", "#region-ap-south .readers"} {
			phone.check(sel+" within the screen", fmt.Sprintf(`(() => { const r = document.querySelector(%q).getBoundingClientRect();
				return r.left >= 0 && r.right <= window.innerWidth && r.width > 0; })()`, sel))
		}
		shoot(t, phone.ctx, "mesh-phone")
	})
	shoot(t, eu.ctx, "mesh-eu-west")
}

// decrement returns a shown count less one.
func decrement(t *testing.T, count string) string {
	n, err := strconv.Atoi(count)
	if err != nil {
		t.Fatalf("count %q: %v", count, err)
	}
	return strconv.Itoa(n - 1)
}
