package web

import (
	"context"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drainwatch/drainwatch/alerts"
	"github.com/drainwatch/drainwatch/analyze"
	"github.com/drainwatch/drainwatch/store"
	"github.com/drainwatch/drainwatch/store/sqlite"
)

func newHandler(t *testing.T, token string) *Handler {
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "w.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return New(Config{Token: token}, db, func(ctx context.Context, app string, since, until time.Time) ([]analyze.Report, error) {
		return nil, nil
	})
}

func TestDashboardAuth(t *testing.T) {
	if w := get(newHandler(t, ""), "GET", "/", nil, nil); w.Code != 404 || !strings.Contains(w.Body.String(), "dashboard is off") {
		t.Errorf("no token configured: %d %s", w.Code, w.Body)
	}
	h := newHandler(t, "s3cret")
	if w := get(h, "GET", "/", nil, nil); w.Code != 401 || !strings.Contains(w.Body.String(), `name="token"`) {
		t.Errorf("no cookie: %d", w.Code)
	}
	if w := get(h, "GET", "/?token=wrong", nil, nil); w.Code != 401 || !strings.Contains(w.Body.String(), "wrong token") {
		t.Errorf("wrong ?token: %d", w.Code)
	}
	if w := get(h, "POST", "/login", url.Values{"token": {"nope"}}, nil); w.Code != 401 {
		t.Errorf("wrong form token: %d", w.Code)
	}
	// ?token= sets the cookie and leaves the address without it.
	w := get(h, "GET", "/?token=s3cret&app=shop&range=24h", nil, nil)
	loc := w.Header().Get("Location")
	if w.Code != 303 || strings.Contains(loc, "s3cret") || !strings.Contains(loc, "app=shop") {
		t.Fatalf("?token: %d %q", w.Code, loc)
	}
	cookies := w.Result().Cookies()
	// Lax: an alert's link, a top-level navigation from Slack, carries it;
	// nothing but GET of the page is allowed with it anyway.
	if len(cookies) != 1 || !cookies[0].HttpOnly || cookies[0].SameSite != http.SameSiteLaxMode {
		t.Fatalf("cookie %+v", cookies)
	}
	// The form signs in too, and only redirects within the dashboard.
	w = get(h, "POST", "/login", url.Values{"token": {"s3cret"}, "next": {"https://evil.example/"}}, nil)
	if w.Code != 303 || w.Header().Get("Location") != "/" {
		t.Errorf("form: %d %q", w.Code, w.Header().Get("Location"))
	}
	// With the cookie: the page, here an empty database.
	w = get(h, "GET", "/", nil, cookies[0])
	if w.Code != 200 || !strings.Contains(w.Body.String(), "No memory samples yet") || strings.Contains(w.Body.String(), "<script") {
		t.Errorf("page: %d %s", w.Code, w.Body)
	}
	if w := get(h, "GET", "/other", nil, cookies[0]); w.Code != 404 {
		t.Errorf("other path: %d", w.Code)
	}
}

// TestEpisodes: alert records become episodes — fired, followed up,
// resolved — newest first; an open episode from before the range is kept,
// a resolved one from before it is not.
func TestEpisodes(t *testing.T) {
	at := func(m int) time.Time { return time.Date(2026, 11, 20, 0, m, 0, 0, time.UTC) }
	rec := func(m int, dyno, rule string, state alerts.State, summary, details string) store.AlertRecord {
		return store.AlertRecord{App: "a", Dyno: dyno, Rule: rule, State: string(state), Time: at(m), Summary: summary, Details: details}
	}
	recs := []store.AlertRecord{
		rec(1, "web.1", "near-quota", alerts.Firing, "old near", `{"started":"2026-11-20T00:01:00Z"}`),
		rec(5, "web.1", "near-quota", alerts.Resolved, "old near resolved", `{"reason":"back under"}`),
		rec(10, "web.2", "leak", alerts.Firing, "leaking", `{"started":"2026-11-20T00:02:00Z"}`),
		rec(20, "web.1", "over-quota", alerts.Firing, "over", `{"started":"2026-11-20T00:20:00Z"}`),
		rec(25, "web.1", "over-quota", alerts.Worse, "Worse: 600 MB", `{}`),
		rec(40, "web.1", "over-quota", alerts.Resolved, "resolved", `{"reason":"dyno restarted"}`),
	}
	got := episodes(recs, at(15))
	if len(got) != 2 {
		t.Fatalf("%d episodes: %+v", len(got), got)
	}
	over, leak := got[0], got[1]
	if over.Rule != "over-quota" || over.Open() || over.Worse != 1 || over.Latest != "Worse: 600 MB" || over.Reason != "dyno restarted" ||
		over.Lasted(at(60)) != 20*time.Minute || over.Summary != "over" {
		t.Errorf("over-quota episode %+v", over)
	}
	if leak.Rule != "leak" || !leak.Open() || !leak.Started.Equal(at(2)) || leak.Lasted(at(60)) != 58*time.Minute {
		t.Errorf("leak episode %+v", leak)
	}
}

// get serves one request to h.
func get(h http.Handler, method, target string, body url.Values, cookie *http.Cookie) *httptest.ResponseRecorder {
	var r *http.Request
	if body != nil {
		r = httptest.NewRequest(method, target, strings.NewReader(body.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		r = httptest.NewRequest(method, target, nil)
	}
	if cookie != nil {
		r.AddCookie(cookie)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// TestLoginKeepsNext: the sign-in form brings a visitor back to the view
// they asked for (an alert's "Open in drainwatch" link), and only to a path
// of this site.
func TestLoginKeepsNext(t *testing.T) {
	h := newHandler(t, "s3cret")
	view := "/?app=shop&from=2026-11-20T01%3A00%3A00Z&to=2026-11-20T02%3A00%3A00Z"
	w := get(h, "GET", view, nil, nil)
	if w.Code != 401 || !strings.Contains(w.Body.String(), `name="next" value="`+template.HTMLEscapeString(view)+`"`) {
		t.Fatalf("login page for %s: %d %s", view, w.Code, w.Body)
	}
	w = get(h, "POST", "/login", url.Values{"token": {"s3cret"}, "next": {view}}, nil)
	if w.Code != 303 || w.Header().Get("Location") != view {
		t.Errorf("signed in to %q, want %q", w.Header().Get("Location"), view)
	}
	for _, next := range []string{"//evil.example/", "/\\evil.example", "\\\\evil.example", "https://evil.example/", "javascript:alert(1)",
		"evil.example", "/\r\nx", "/\tx", "", "http:/evil", "///evil.example"} {
		w = get(h, "POST", "/login", url.Values{"token": {"s3cret"}, "next": {next}}, nil)
		if loc := w.Header().Get("Location"); w.Code != 303 || loc != "/" {
			t.Errorf("next %q: %d %q", next, w.Code, loc)
		}
	}
}

// TestLoginThrottled: repeated wrong tokens are slowed down (429 with
// Retry-After) per client, and the right token from that client waits too,
// until the bucket refills; another client is not held up; each failure is
// logged.
func TestLoginThrottled(t *testing.T) {
	now := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	var logs strings.Builder
	h := New(Config{Token: "s3cret", Now: func() time.Time { return now }, Logger: slog.New(slog.NewTextHandler(&logs, nil))}, nil, nil)
	try := func(tok, client string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("POST", "/login", strings.NewReader(url.Values{"token": {tok}}.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.RemoteAddr = client + ":1234"
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	codes := map[int]int{}
	for i := 0; i < 3000; i++ {
		codes[try("guess", "203.0.113.9").Code]++
	}
	if codes[401] != 5 || codes[429] != 2995 {
		t.Fatalf("3000 guesses: %v", codes)
	}
	if w := try("s3cret", "203.0.113.9"); w.Code != 429 || w.Header().Get("Retry-After") == "" {
		t.Errorf("right token while throttled: %d", w.Code)
	}
	if w := try("s3cret", "198.51.100.7"); w.Code != 303 {
		t.Errorf("another client: %d", w.Code)
	}
	now = now.Add(10 * time.Second)
	if w := try("s3cret", "203.0.113.9"); w.Code != 303 {
		t.Errorf("after waiting: %d", w.Code)
	}
	if n := strings.Count(logs.String(), "sign-in failed"); n != 5 {
		t.Errorf("%d failures logged, want 5:\n%s", n, logs.String())
	}
	if n := strings.Count(logs.String(), "sign-in throttled"); n != 1 {
		t.Errorf("%d throttled lines, want 1 a minute", n)
	}
	if strings.Contains(logs.String(), "guess") {
		t.Error("a guessed token was logged")
	}
	// Overall: many clients, each under its own limit, are held by the
	// global bucket.
	codes = map[int]int{}
	for i := 0; i < 200; i++ {
		codes[try("guess", fmt.Sprintf("10.0.%d.%d", i/250, i%250)).Code]++
	}
	if codes[429] < 140 {
		t.Errorf("200 clients, one guess each: %v", codes)
	}
}

// A dyno over twice its quota the whole range (1100–1108 MB of 512, R15
// territory): the page's quota line is inside the chart, below every
// sample, as the terminal's is.
func TestMemoryChartShowsQuotaWhenOver(t *testing.T) {
	t0 := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	f := store.Filter{Since: t0, Until: t0.Add(20 * time.Minute)}
	var samples []store.MemorySample
	for i := range 60 {
		total, quota := 1100+float64(i%9), 512.0
		samples = append(samples, store.MemorySample{Time: t0.Add(time.Duration(i) * 20 * time.Second), Dyno: "worker.1", Boot: "b",
			TotalMB: &total, RSSMB: &total, QuotaMB: &quota})
	}
	x := func(t time.Time) float64 {
		return padL + float64(t.Sub(f.Since))/float64(f.Until.Sub(f.Since))*(chartW-padL-padR)
	}
	svg, summary := memorySVG("worker.1", samples, nil, nil, x, f, time.Minute, 0)
	var x1, x2 int
	var y1 float64
	i := strings.Index(string(svg), `class="quota"`)
	if i < 0 {
		t.Fatalf("no quota line: %s", svg)
	}
	if _, err := fmt.Sscanf(string(svg)[i:], `class="quota" x1="%d" x2="%d" y1="%f"`, &x1, &x2, &y1); err != nil {
		t.Fatalf("quota line: %v in %s", err, string(svg)[i:i+80])
	}
	if y1 < padT || y1 > memH-padB {
		t.Errorf("quota line at y %.1f, outside the chart (%d to %d)", y1, padT, memH-padB)
	}
	if !strings.Contains(summary, "quota 512 MB") {
		t.Errorf("summary %q", summary)
	}
}
