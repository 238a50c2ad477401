package tests

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
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
		}
	})
	pageURL := regexp.MustCompile(`demo page:\s+(http://\S+)/\?`)
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := pageURL.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
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
	browser := func() context.Context {
		opts := append(chromedp.DefaultExecAllocatorOptions[:],
			chromedp.ExecPath(chromium),
			chromedp.NoSandbox,
			chromedp.Flag("disable-gpu", true),
			chromedp.Flag("disable-quic", true),
			chromedp.Flag("disable-background-networking", true),
			chromedp.Flag("disable-component-update", true),
			chromedp.Flag("disable-sync", true),
			chromedp.UserDataDir(t.TempDir()),
			chromedp.WindowSize(1200, 800),
		)
		alloc, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
		t.Cleanup(cancelAlloc)
		tab, cancelTab := chromedp.NewContext(alloc)
		t.Cleanup(cancelTab)
		return tab
	}
	tabA, tabB := browser(), browser()

	open := func(tab context.Context, region string) string {
		err := chromedp.Do(tab,
			chromedp.Navigate(fmt.Sprintf("%s/?region=%s", base, region)),
			chromedp.WaitVisible(`#clap`),
			chromedp.Poll[chromedp.Void](`document.querySelector("#region-`+region+` .claps").textContent !== "–"`,
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
