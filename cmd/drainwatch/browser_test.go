package main

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// findBrowser returns Debian's chromium (or another Chrome) if installed.
func findBrowser(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("no chromium in CI: .ci/run installs it (apt-get install chromium)")
	}
	t.Skip("no chromium here: apt-get install chromium to run the browser test")
	return ""
}

// TestDashboardInBrowser loads the dashboard in headless Chromium against a
// daemon fed the sample history, and checks that each dyno's chart has its
// memory line, quota line, R14 marks, restarts and at-rest shading, with the
// verdicts and alerts beside them. It saves a screenshot.
func TestDashboardInBrowser(t *testing.T) {
	browser := findBrowser(t)
	s := startAPIServer(t, "dash-token")
	base := "http://" + s.Addr()

	// Without JavaScript: the page is all server-rendered.
	client := &http.Client{Jar: newJar(t)}
	resp, err := client.Get(base + "/?token=dash-token&app=myapp&from=2026-11-20T00:00:00Z&to=2026-11-20T11:00:00Z")
	if err != nil {
		t.Fatal(err)
	}
	html, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || strings.Contains(string(html), "<script") || !strings.Contains(string(html), `<svg class="mem"`) {
		t.Fatalf("page without JS: %d, %d bytes", resp.StatusCode, len(html))
	}
	// Without the token: the login form, and nothing else.
	resp, _ = http.Get(base + "/?app=myapp")
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 401 || !strings.Contains(string(body), `name="token"`) || strings.Contains(string(body), "<svg") {
		t.Errorf("without a token: %d %s", resp.StatusCode, body)
	}

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(browser),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.WindowSize(1100, 1800),
		chromedp.UserDataDir(t.TempDir()),
	)
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancel = context.WithTimeout(ctx, 60*time.Second)
	defer cancel()

	url := base + "/?token=dash-token&app=myapp&from=2026-11-20T00:00:00Z&to=2026-11-20T11:00:00Z"
	if err := chromedp.Do(ctx, chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS("svg.mem"))); err != nil {
		t.Fatal(err)
	}
	counts, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]int](`(() => {
		const n = s => document.querySelectorAll(s).length;
		return {charts: n('svg.mem'), traffic: n('svg.traffic'), total: n('svg.mem polyline.total'), quota: n('svg.mem line.quota'),
			r14: n('svg.mem path.r14'), restart: n('svg.mem line.restart'), rest: n('svg.mem rect.rest'), rate: n('svg.traffic polyline.rate')};
	})()`))
	if err != nil {
		t.Fatal(err)
	}
	verdicts, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#verdicts")))
	if err != nil {
		t.Fatal(err)
	}
	alertsText, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#episodes")))
	if err != nil {
		t.Fatal(err)
	}
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // 100: PNG
	if err != nil {
		t.Fatal(err)
	}
	// Dynos with memory samples: run.2660, web.1, worker.1.
	if counts["charts"] != 3 || counts["traffic"] != 3 || counts["total"] < 3 || counts["quota"] < 2 {
		t.Errorf("charts: %v", counts)
	}
	if counts["r14"] < 6 || counts["restart"] < 2 || counts["rest"] == 0 || counts["rate"] == 0 {
		t.Errorf("marks: %v", counts)
	}
	if !strings.Contains(verdicts, "leak") || !strings.Contains(verdicts, "worker.1") {
		t.Errorf("verdicts: %q", verdicts)
	}
	// Episodes, not a log: each over-quota episode is one row that reads
	// "resolved", with why.
	if !strings.Contains(alertsText, "over-quota") || !strings.Contains(alertsText, "leak") ||
		!strings.Contains(alertsText, "resolved 2026-11-20 01:27Z") || strings.Count(alertsText, "over-quota") != 2 ||
		!strings.Contains(alertsText, "Resolved: back under 90% of the quota for 10m") {
		t.Errorf("episodes: %q", alertsText)
	}
	out := filepath.Join(t.TempDir(), "dashboard.png")
	if p := os.Getenv("DRAINWATCH_SCREENSHOT"); p != "" {
		out = p
	}
	if err := os.WriteFile(out, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes); %v", out, len(shot), counts)
}

func newJar(t *testing.T) http.CookieJar {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return jar
}
