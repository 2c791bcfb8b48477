package web

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drainwatch/drainwatch/analyze"
	"github.com/drainwatch/drainwatch/parser"
	"github.com/drainwatch/drainwatch/store"
	"github.com/drainwatch/drainwatch/store/sqlite"
)

// TestDashboardChartsTopDynos: an app with more dynos than MaxCharts gets
// charts for those with the highest memory, and one line for the others.
func TestDashboardChartsTopDynos(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "w.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	w, err := sqlite.NewWriter(db, sqlite.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close(); db.Close() })
	var body strings.Builder
	ts := time.Now().Add(-time.Hour).UTC().Format("2006-01-02T15:04:05.000000+00:00")
	for i := 1; i <= 8; i++ {
		m := fmt.Sprintf("<45>1 %s host heroku run.%d - source=run.%d dyno=heroku.1.b%d sample#memory_total=%d.00MB sample#memory_quota=512.00MB", ts, i, i, i, 100+i)
		fmt.Fprintf(&body, "%d %s\n", len(m)+1, m)
	}
	events, _ := parser.ParseBody([]byte(body.String()), 0, nil)
	if _, err := w.Write(ctx, &store.Batch{App: "many", Events: events}); err != nil {
		t.Fatal(err)
	}
	h := New(Config{Token: "tok", MaxCharts: 3}, db, func(ctx context.Context, app string, since, until time.Time) ([]analyze.Report, error) {
		return nil, nil
	})
	page := get(h, "GET", "/?token=tok", nil, nil)
	cookie := page.Result().Cookies()[0]
	page = get(h, "GET", "/?app=many", nil, cookie)
	html := page.Body.String()
	if n := strings.Count(html, `<section class="dyno"`); n != 3 {
		t.Errorf("%d charts, want 3", n)
	}
	for _, d := range []string{"run.6", "run.7", "run.8"} {
		if !strings.Contains(html, `id="dyno-`+d+`"`) {
			t.Errorf("no chart for %s, one of the three highest", d)
		}
	}
	if !strings.Contains(html, "5 more dynos in this range are not charted") || !strings.Contains(html, "peak 105 MB") {
		t.Errorf("no line for the other dynos:\n%s", html)
	}
}
