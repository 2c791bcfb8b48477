package web

import (
	"context"
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
)

func newHandler(t *testing.T, token string) *Handler {
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "w.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return New(Config{Token: token}, db, func(ctx context.Context, app string, since, until time.Time) ([]analyze.Report, error) {
		return nil, nil
	})
}

func TestDashboardAuth(t *testing.T) {
	get := func(h http.Handler, method, target string, body url.Values, cookie *http.Cookie) *httptest.ResponseRecorder {
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
	if len(cookies) != 1 || !cookies[0].HttpOnly || cookies[0].SameSite != http.SameSiteStrictMode {
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
