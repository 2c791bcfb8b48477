package pending

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drainwatch/drainwatch/parser"
)

// routerBody frames one router line per entry of paths (path, dyno, status
// each), at t plus i seconds, as logplex sends them.
func routerBody(t0 time.Time, lines ...[3]string) []byte {
	var b strings.Builder
	for i, l := range lines {
		ts := t0.Add(time.Duration(i) * time.Second).Format("2006-01-02T15:04:05.000000+00:00")
		m := fmt.Sprintf(`<158>1 %s host heroku router - at=info method=GET path=%q host=example.herokuapp.com request_id=%d fwd="203.0.113.9" dyno=%s connect=1ms service=12ms status=%s bytes=512 protocol=https`,
			ts, l[0], i, l[1], l[2])
		fmt.Fprintf(&b, "%d %s\n", len(m)+1, m)
	}
	return []byte(b.String())
}

func parseBody(t testing.TB, body []byte) []parser.Event {
	t.Helper()
	events, st := parser.ParseBody(body, 0, nil)
	if st.Skipped() != 0 || st.Parsed == 0 {
		t.Fatalf("parse: %+v", st)
	}
	return events
}

// rows counts an encoded batch's router lines by (path, dyno, class).
func rows(t testing.TB, p Batch, into map[[3]string]int) {
	t.Helper()
	err := DecodeRouter(p.Router, func(l *RouterLine) error {
		into[[3]string{l.Path, l.Dyno, fmt.Sprintf("%dxx", l.Status/100)}]++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Beyond the limit, new templates fold into one OtherPaths row per status
// class, every line counted exactly; the templates given rows keep them.
func TestFolderFoldsTheLongTail(t *testing.T) {
	f := NewFolder(3)
	t0 := time.Date(2026, 11, 20, 10, 0, 5, 0, time.UTC)
	words := []string{"alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet"}
	var lines [][3]string
	for i, w := range words {
		lines = append(lines, [3]string{"/" + w + "/page", "web.1", []string{"200", "404", "500"}[i%3]})
	}
	// The first three again, after the others: they have rows.
	lines = append(lines, [3]string{"/alpha/page?x=1", "web.1", "200"}, [3]string{"/bravo/page", "web.2", "404"})
	got := map[[3]string]int{}
	rows(t, Encode("shop", parseBody(t, routerBody(t0, lines...)), f), got)
	want := map[[3]string]int{
		{"/alpha/page", "web.1", "2xx"}: 2, {"/bravo/page", "web.1", "4xx"}: 1, {"/bravo/page", "web.2", "4xx"}: 1,
		{"/charlie/page", "web.1", "5xx"}: 1,
		// delta..juliet: 200, 404, 500, 200, 404, 500, 200
		{OtherPaths, "web.1", "2xx"}: 3, {OtherPaths, "web.1", "4xx"}: 2, {OtherPaths, "web.1", "5xx"}: 2,
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("rows\n got %v\nwant %v", got, want)
	}
	if n := f.Folded.Load(); n != 7 {
		t.Errorf("Folded = %d, want 7", n)
	}
	// Another app has its own limit.
	got = map[[3]string]int{}
	rows(t, Encode("blog", parseBody(t, routerBody(t0, lines[5:8]...)), f), got)
	if len(got) != 3 || got[[3]string{OtherPaths, "web.1", "2xx"}] != 0 {
		t.Errorf("another app: %v", got)
	}
}

// The templates an app used on two lines or more in the last hour keep
// their rows the next hour however many new ones come first; new ones get
// the room left; a late line for the hour gone by keeps its row only if
// its template had one.
func TestFolderKeepsEstablishedTemplates(t *testing.T) {
	f := NewFolder(4)
	h0 := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	ok := func(p string) [3]string { return [3]string{p, "web.1", "200"} }
	Encode("shop", parseBody(t, routerBody(h0, ok("/cart"), ok("/cart"), ok("/checkout"), ok("/checkout"), ok("/once"))), f)
	// Next hour: a bot's paths first.
	var lines [][3]string
	for _, w := range []string{"zq", "xv", "kp", "wj", "yb"} {
		lines = append(lines, ok("/"+w+"/wp-login"))
	}
	lines = append(lines, ok("/cart"), ok("/checkout"), ok("/once"))
	got := map[[3]string]int{}
	rows(t, Encode("shop", parseBody(t, routerBody(h0.Add(time.Hour), lines...)), f), got)
	want := map[[3]string]int{
		{"/zq/wp-login", "web.1", "2xx"}: 1, {"/xv/wp-login", "web.1", "2xx"}: 1,
		{"/cart", "web.1", "2xx"}: 1, {"/checkout", "web.1", "2xx"}: 1,
		{OtherPaths, "web.1", "2xx"}: 4, // kp, wj, yb and /once (one line last hour: not established)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("next hour\n got %v\nwant %v", got, want)
	}
	got = map[[3]string]int{}
	late := h0.Add(50 * time.Minute)
	rows(t, Encode("shop", parseBody(t, routerBody(late, ok("/cart"), ok("/brand-new"))), f), got)
	if want := map[[3]string]int{{"/cart", "web.1", "2xx"}: 1, {OtherPaths, "web.1", "2xx"}: 1}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("late lines: %v, want %v", got, want)
	}
	if n := f.Folded.Load(); n != 5 {
		t.Errorf("Folded = %d, want 5", n)
	}
}

// Batches encoded at once from many goroutines fold exactly: every line is
// in a row, the folded ones are counted, and no more than the limit of
// templates have rows.
func TestFolderConcurrentExact(t *testing.T) {
	f := NewFolder(50)
	t0 := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	got := map[[3]string]int{}
	var wg sync.WaitGroup
	for s := 0; s < 8; s++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var lines [][3]string
			for i := 0; i < 200; i++ {
				lines = append(lines, [3]string{fmt.Sprintf("/p%c%c/x", 'a'+s, 'a'+i%26) + strings.Repeat("y", i/26), "web.1", "200"})
			}
			p := Encode("shop", parseBody(t, routerBody(t0, lines...)), f)
			mu.Lock()
			defer mu.Unlock()
			rows(t, p, got)
		}()
	}
	wg.Wait()
	total, named := 0, 0
	for k, n := range got {
		total += n
		if k[0] != OtherPaths {
			named++
		}
	}
	if total != 1600 || named != 50 || int64(got[[3]string{OtherPaths, "web.1", "2xx"}]) != f.Folded.Load() {
		t.Errorf("%d lines, %d templates with rows, %d folded (counter %d)", total, named, got[[3]string{OtherPaths, "web.1", "2xx"}], f.Folded.Load())
	}
}

// One-off dynos' router lines roll up under their process type; their
// memory samples and errors keep the dyno's name.
func TestRollupDynoOneOffs(t *testing.T) {
	for in, want := range map[string]string{
		"web.1": "web.1", "run.2660": "run", "scheduler.4321": "scheduler", "release.7": "release",
		"worker.12": "worker.12", "run": "run", "run.": "run.", "run.x1": "run.x1", "": "",
	} {
		if got := string(RollupDyno([]byte(in))); got != want {
			t.Errorf("RollupDyno(%q) = %q, want %q", in, got, want)
		}
	}
	t0 := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	body := routerBody(t0, [3]string{"/", "run.2660", "200"}, [3]string{"/", "run.2661", "200"}, [3]string{"/", "web.1", "200"})
	sample := "<45>1 2026-11-20T10:00:20.000000+00:00 host heroku run.2660 - source=run.2660 dyno=heroku.1.6e0e4a2a-2d4b-4d9c-8ac3-0a3e6a0a8d1f sample#memory_total=21.00MB sample#memory_rss=20.00MB sample#memory_quota=512.00MB"
	body = append(body, fmt.Sprintf("%d %s\n", len(sample)+1, sample)...)
	p := Encode("shop", parseBody(t, body), NewFolder(0))
	got := map[[3]string]int{}
	rows(t, p, got)
	if want := map[[3]string]int{{"/", "run", "2xx"}: 2, {"/", "web.1", "2xx"}: 1}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("rollup rows %v, want %v", got, want)
	}
	rest, err := DecodeRest(p.Rest, nil)
	if err != nil || len(rest) != 1 || rest[0].Kind != parser.KindMemory || string(rest[0].Dyno) != "run.2660" {
		t.Fatalf("memory sample: %v %+v", err, rest)
	}
}

// One batch across an hour's end: each hour has its own limit.
func TestFolderBatchAcrossHours(t *testing.T) {
	f := NewFolder(1)
	t0 := time.Date(2026, 11, 20, 10, 59, 59, 0, time.UTC)
	ok := func(p string) [3]string { return [3]string{p, "web.1", "200"} }
	got := map[[3]string]int{}
	rows(t, Encode("shop", parseBody(t, routerBody(t0, ok("/a"), ok("/b"), ok("/a"), ok("/c"))), f), got)
	// 10:59:59 /a has the hour's row; at 11:00 /b takes the new hour's.
	if want := map[[3]string]int{{"/a", "web.1", "2xx"}: 1, {"/b", "web.1", "2xx"}: 1, {OtherPaths, "web.1", "2xx"}: 2}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("rows %v, want %v", got, want)
	}
}
