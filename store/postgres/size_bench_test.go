package postgres

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/drainwatch/drainwatch/parser"
	"github.com/drainwatch/drainwatch/store"
	"github.com/drainwatch/drainwatch/store/postgres/pgtest"
)

// sizeHour is an hour of a 100 req/s app with 10 web dynos, as logplex
// bodies of about a second each: router lines over 60 paths (mostly 200s,
// some 404s and 500s), one app line per request, runtime-metrics memory
// and load samples every 20 s per dyno, an H12 a minute and an R14 every
// ten minutes.
func sizeHour(start time.Time) [][]byte {
	var bodies [][]byte
	var b strings.Builder
	frame := func(pri int, t time.Time, app, proc, msg string) {
		m := fmt.Sprintf("<%d>1 %s host %s %s - %s", pri, t.Format("2006-01-02T15:04:05.000000+00:00"), app, proc, msg)
		fmt.Fprintf(&b, "%d %s\n", len(m)+1, m)
	}
	paths := []string{"/", "/login", "/api/items", "/api/search", "/assets/app.js"}
	n := 0
	for s := 0; s < 3600; s++ {
		t := start.Add(time.Duration(s) * time.Second)
		for r := 0; r < 100; r++ {
			n++
			dyno := fmt.Sprintf("web.%d", 1+n%10)
			path := paths[n%len(paths)]
			if n%12 < 11 {
				path = fmt.Sprintf("/api/v%d/items/%d", n%11, n)
			}
			status, service := 200, 20+n%180
			switch {
			case n%50 == 0:
				status = 404
			case n%400 == 0:
				status = 500
			}
			rt := t.Add(time.Duration(r) * 10 * time.Millisecond)
			frame(158, rt, "heroku", "router", fmt.Sprintf(`at=info method=GET path="%s" host=app.example.com request_id=%08x-aaaa-bbbb-cccc-%012x fwd="203.0.113.%d" dyno=%s connect=%dms service=%dms status=%d bytes=%d protocol=https`,
				path, n, n, n%250, dyno, n%3, service, status, 500+n%5000))
			frame(190, rt, "app", dyno, fmt.Sprintf(`method=GET path=%s format=json controller=ItemsController action=show status=%d duration=%d.12 view=1.01 db=3.40`, path, status, service))
		}
		if s%20 == 0 {
			for d := 1; d <= 10; d++ {
				dyno := fmt.Sprintf("web.%d", d)
				frame(45, t, "heroku", dyno, fmt.Sprintf("source=%s dyno=heroku.123456.%08x-9e45-4e8a-9f53-6a06d5e5c3b1 sample#memory_total=%d.43MB sample#memory_rss=180.05MB sample#memory_cache=0.38MB sample#memory_swap=0.00MB sample#memory_pgpgin=84329pages sample#memory_pgpgout=38101pages sample#memory_quota=512.00MB", dyno, d, 200+s%100))
				frame(45, t, "heroku", dyno, fmt.Sprintf("source=%s dyno=heroku.123456.%08x-9e45-4e8a-9f53-6a06d5e5c3b1 sample#load_avg_1m=0.21 sample#load_avg_5m=0.10 sample#load_avg_15m=0.01", dyno, d))
			}
		}
		if s%60 == 30 {
			frame(158, t, "heroku", "router", `at=error code=H12 desc="Request timeout" method=GET path="/slow" host=x request_id=b fwd="1.2.3.4" dyno=web.2 connect=0ms service=30000ms status=503 bytes=0 protocol=https`)
		}
		if s%600 == 300 {
			frame(45, t, "heroku", "web.3", "Error R14 (Memory quota exceeded)")
		}
		bodies = append(bodies, []byte(b.String()))
		b.Reset()
	}
	return bodies
}

// BenchmarkSizePerDay stores an hour of sizeHour, as the daemon does
// (rollups flushed every second, minutes folded into hours), and reports
// each kind of history's bytes per day on disk (tables, indexes, TOAST),
// for docs/deploy.md's size table.
func BenchmarkSizePerDay(b *testing.B) {
	ctx := context.Background()
	start := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	bodies := sizeHour(start)
	for b.Loop() {
		db, err := Open(ctx, pgtest.NewDB(b), Options{})
		if err != nil {
			b.Fatal(err)
		}
		w, err := NewWriter(db, WriterOptions{FlushEvery: time.Hour})
		if err != nil {
			b.Fatal(err)
		}
		for i, body := range bodies {
			events, _ := parser.ParseBody(body, 0, nil)
			if _, err := w.Write(ctx, &store.Batch{App: "app", FrameID: fmt.Sprint(i), Events: events}); err != nil {
				b.Fatal(err)
			}
			if i%4 == 3 { // a flush a second: the bench's bodies are ~4 a second of log time here
				if err := w.Flush(ctx); err != nil {
					b.Fatal(err)
				}
			}
		}
		if err := w.Flush(ctx); err != nil {
			b.Fatal(err)
		}
		// Fold as the leader would, with the newest minute an hour on.
		if _, err := db.pool.Exec(ctx, `INSERT INTO request_rollups (app, res, start, dyno, path, class, count, errors, bytes, codes)
			VALUES ('x', 60, $1, 'web.1', '/', '2xx', 1, 0, 0, '')`, start.Add(2*time.Hour).UnixMicro()); err != nil {
			b.Fatal(err)
		}
		if err := db.Fold(ctx); err != nil {
			b.Fatal(err)
		}
		db.pool.Exec(ctx, `DELETE FROM request_rollups WHERE app = 'x'`)
		db.pool.Exec(ctx, `DELETE FROM alert_feed`)
		if _, err := db.pool.Exec(ctx, `VACUUM FULL`); err != nil {
			b.Fatal(err)
		}
		size := func(q string) float64 {
			var n int64
			if err := db.pool.QueryRow(ctx, q).Scan(&n); err != nil {
				b.Fatal(err)
			}
			return float64(n) * 24
		}
		rel := func(t string) float64 { return size(fmt.Sprintf(`SELECT pg_total_relation_size('%s')`, t)) }
		rollups := rel("request_rollups")
		minuteShare := size(`SELECT COALESCE(SUM(pg_column_size(r.*)) FILTER (WHERE res = 60), 0)::bigint FROM request_rollups r`) /
			size(`SELECT SUM(pg_column_size(r.*))::bigint FROM request_rollups r`)
		b.ReportMetric(rollups*minuteShare, "minute-rollup-B/day")
		b.ReportMetric(rollups*(1-minuteShare), "hour-rollup-B/day")
		b.ReportMetric(rel("memory")+rel("load"), "memory+load-B/day")
		b.ReportMetric(rel("errors")+rel("events"), "errors+events-B/day")
		b.ReportMetric(rel("app_logs"), "app-lines-B/day")
		b.ReportMetric(rel("frames"), "frame-ids-B/day") // kept a day
		w.Close()
		db.Close()
	}
}
