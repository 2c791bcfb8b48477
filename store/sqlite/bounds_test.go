package sqlite

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/drainwatch/drainwatch/parser"
	"github.com/drainwatch/drainwatch/store"
)

// pathsBatch is n router lines at t0, one per word path /w<i> (no digit to
// fold: all distinct), path /w<i> seen i%7+1 times, errors on every 5th.
func pathsBatch(t testing.TB, app string, t0 time.Time, n int) *store.Batch {
	t.Helper()
	var body strings.Builder
	ts := t0.Format("2006-01-02T15:04:05.000000+00:00")
	for i := 0; i < n; i++ {
		word := strings.Repeat(string(rune('a'+i%26)), 1+i/26)
		for j := 0; j <= i%7; j++ {
			status := 200
			if i%5 == 0 {
				status = 500
			}
			m := fmt.Sprintf("<158>1 %s host heroku router - at=info method=GET path=\"/%s\" dyno=web.%d connect=1ms service=%dms status=%d bytes=10 protocol=https", ts, word, 1+j%3, 10+i, status)
			fmt.Fprintf(&body, "%d %s\n", len(m)+1, m)
		}
	}
	events, st := parser.ParseBody([]byte(body.String()), 0, nil)
	if st.Skipped() != 0 {
		t.Fatalf("%+v", st)
	}
	return &store.Batch{App: app, Events: events}
}

// TestRequestStatsTopAndOther: with top N, the N largest groups come whole
// (as without a limit) and one (other) row sums the rest.
func TestRequestStatsTopAndOther(t *testing.T) {
	db, w := openTest(t)
	ctx := context.Background()
	t0 := time.Now().Add(-3 * time.Hour).Truncate(time.Hour).Add(30 * time.Minute).UTC()
	for k := 0; k < 3; k++ {
		if _, err := w.Write(ctx, pathsBatch(t, "p", t0.Add(time.Duration(k)*50*time.Minute), 60)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for _, f := range []store.Filter{{App: "p"}, {App: "p", Since: t0.Add(-time.Minute), Until: t0.Add(3 * time.Hour)}, {App: "p", Dyno: "web.2"}} {
		all, err := db.RequestStats(ctx, f, "path", 0)
		if err != nil {
			t.Fatal(err)
		}
		top, err := db.RequestStats(ctx, f, "path", 5)
		if err != nil {
			t.Fatal(err)
		}
		if len(top) != 6 || top[5].Key != store.OtherGroups {
			t.Fatalf("%+v: %d rows, last %q; want 5 and (other)", f, len(top), top[len(top)-1].Key)
		}
		var count, errs, bytes int64
		for i, g := range all {
			if i < 5 {
				if fmt.Sprint(g) != fmt.Sprint(top[i]) {
					t.Errorf("%+v: group %d is\n%+v\nwithout a limit\n%+v", f, i, top[i], g)
				}
				continue
			}
			count, errs, bytes = count+g.Count, errs+g.Errors, bytes+g.Bytes
		}
		o := top[5]
		if o.Groups != int64(len(all)-5) || o.Count != count || o.Errors != errs || o.Bytes != bytes {
			t.Errorf("%+v: (other) %+v, want %d groups, %d requests, %d errors, %d bytes", f, o, len(all)-5, count, errs, bytes)
		}
	}
	// Fewer groups than the top: no (other) row.
	st, err := db.RequestStats(ctx, store.Filter{App: "p"}, "status", 5)
	if err != nil || len(st) != 2 || st[0].Key != "2xx" || st[1].Key != "5xx" {
		t.Errorf("by status: %+v %v", st, err)
	}
}

// TestRequestsPerMinuteTopPaths: the top paths as RequestsPerMinuteByPath
// gives them, the others summed per dyno and minute as (other).
func TestRequestsPerMinuteTopPaths(t *testing.T) {
	db, w := openTest(t)
	ctx := context.Background()
	t0 := time.Now().Add(-3 * time.Hour).Truncate(time.Hour).Add(30 * time.Minute).UTC()
	for k := 0; k < 3; k++ {
		if _, err := w.Write(ctx, pathsBatch(t, "p", t0.Add(time.Duration(k)*time.Minute), 40)); err != nil {
			t.Fatal(err)
		}
	}
	f := store.Filter{App: "p"}
	all, err := db.RequestsPerMinuteByPath(ctx, f)
	if err != nil {
		t.Fatal(err)
	}
	top, paths, err := db.RequestsPerMinuteTopPaths(ctx, f, 3)
	if err != nil {
		t.Fatal(err)
	}
	if paths != 40 {
		t.Errorf("%d paths in all, want 40", paths)
	}
	stats, _ := db.RequestStats(ctx, f, "path", 3)
	keep := map[string]bool{stats[0].Key: true, stats[1].Key: true, stats[2].Key: true}
	want := map[string]int{}
	for _, c := range all {
		p := c.Path
		if !keep[p] {
			p = store.OtherGroups
		}
		want[fmt.Sprint(c.Dyno, p, c.T.Unix())] += c.N
	}
	got := map[string]int{}
	for _, c := range top {
		got[fmt.Sprint(c.Dyno, c.Path, c.T.Unix())] += c.N
	}
	if fmt.Sprint(got) != fmt.Sprint(want) || len(top) != len(want) {
		t.Errorf("got %v\nwant %v", got, want)
	}
}

// TestRequestStatsSampledSketches: past sketchRows rows, the counts stay
// exact and the percentiles come from a sample of the minutes.
func TestRequestStatsSampledSketches(t *testing.T) {
	db, w := openTest(t)
	ctx := context.Background()
	defer func(n int64) { sketchRows = n }(sketchRows)
	sketchRows = 1000
	t0 := time.Now().Add(-3 * time.Hour).Truncate(time.Hour).UTC()
	// 10 minutes of 200 distinct paths: 2,000 minute rows and more, over
	// sketchRows.
	for m := 0; m < 10; m++ {
		if _, err := w.Write(ctx, pathsBatch(t, "s", t0.Add(time.Duration(m)*time.Minute), 200)); err != nil {
			t.Fatal(err)
		}
	}
	got, err := db.RequestStats(ctx, store.Filter{App: "s"}, "status", 5)
	if err != nil {
		t.Fatal(err)
	}
	var all, errs int64
	for _, g := range got {
		all += g.Count
		errs += g.Errors
		if g.PercentilesSampled <= 0 || g.PercentilesSampled >= 1 || g.ServiceP50 == 0 {
			t.Errorf("%s: percentiles sampled %v, p50 %v; want from a share of the minutes", g.Key, g.PercentilesSampled, g.ServiceP50)
		}
	}
	// pathsBatch: path i seen i%7+1 times; every 5th path a 500.
	var want, wantErrs int64
	for i := 0; i < 200; i++ {
		want += int64(i%7 + 1)
		if i%5 == 0 {
			wantErrs += int64(i%7 + 1)
		}
	}
	if all != 10*want || errs != 10*wantErrs {
		t.Errorf("%d requests, %d errors; want %d, %d (exact)", all, errs, 10*want, 10*wantErrs)
	}
}
