// Package storetest is the conformance suite of drainwatch's storage
// backends: what any store.DB and store.Writer must do, whatever keeps the
// data. A backend runs it from its own tests:
//
//	func TestConformance(t *testing.T) { storetest.Run(t, storetest.Backend{Open: …}) }
package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drainwatch/drainwatch/parser"
	"github.com/drainwatch/drainwatch/store"
)

// Backend is how the suite reaches the backend under test.
type Backend struct {
	// Open opens the database called name for writing, with a writer: the
	// same name is the same database, and each call is a new handle, as
	// another process's would be. The backend closes both at the end of
	// t; the suite may close them sooner.
	Open func(t *testing.T, name string, opts Options) (store.DB, store.Writer)
	// Prune runs retention on db now, to the end.
	Prune func(t *testing.T, db store.DB, r store.Retention, now time.Time)
	// Crash, if set, stops w as a crash would: what it acknowledged is
	// durable, nothing else happens (no last flush). The suite then opens
	// the database again and expects every acknowledged line, once.
	Crash func(t *testing.T, db store.DB, w store.Writer)
}

// Options are what the suite asks of a writer.
type Options struct {
	RawRequests bool // also a row per router line
}

// Run runs the whole suite.
func Run(t *testing.T, b Backend) {
	t.Run("EveryKind", func(t *testing.T) { testEveryKind(t, b) })
	t.Run("FrameIDDedup", func(t *testing.T) { testFrameIDDedup(t, b) })
	t.Run("Retention", func(t *testing.T) { testRetention(t, b) })
	t.Run("RollupsMerge", func(t *testing.T) { testRollupsMerge(t, b) })
	t.Run("ConcurrentWriters", func(t *testing.T) { testConcurrentWriters(t, b) })
	t.Run("Alerts", func(t *testing.T) { testAlerts(t, b) })
	t.Run("DynosWithoutMemory", func(t *testing.T) { testDynosWithoutMemory(t, b) })
	t.Run("DynosTopAndOther", func(t *testing.T) { testDynosTopAndOther(t, b) })
	if b.Crash != nil {
		t.Run("CrashRecovery", func(t *testing.T) { testCrashRecovery(t, b) })
	}
}

// T0 is the time of the suite's lines.
var T0 = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)

// frame is one logplex frame of a line at t, from host/app/proc.
func frame(b *strings.Builder, pri int, t time.Time, app, proc, msg string) {
	m := fmt.Sprintf("<%d>1 %s host %s %s - %s", pri, t.Format("2006-01-02T15:04:05.000000+00:00"), app, proc, msg)
	fmt.Fprintf(b, "%d %s\n", len(m)+1, m)
}

// KindsBody is one or more lines of each kind drainwatch keeps, at T0+off.
// What they become is in testEveryKind.
func KindsBody(off time.Duration) []byte {
	var b strings.Builder
	t := T0.Add(off)
	frame(&b, 158, t, "heroku", "router", `at=info method=GET path="/users/12" host=x request_id=a fwd="1.2.3.4" dyno=web.1 connect=1ms service=100ms status=200 bytes=10 protocol=https`)
	frame(&b, 158, t, "heroku", "router", `at=error code=H12 desc="Request timeout" method=GET path="/slow" host=x request_id=b fwd="1.2.3.4" dyno=web.2 connect=0ms service=30000ms status=503 bytes=0 protocol=https`)
	frame(&b, 45, t.Add(time.Second), "heroku", "web.1", "source=web.1 dyno=heroku.1.63c5abfd-9e45-4e8a-9f53-6a06d5e5c3b1 sample#memory_total=180.43MB sample#memory_rss=180.05MB sample#memory_cache=0.38MB sample#memory_swap=0.00MB sample#memory_pgpgin=84329pages sample#memory_pgpgout=38101pages sample#memory_quota=512.00MB")
	frame(&b, 45, t.Add(time.Second), "heroku", "web.1", "source=web.1 dyno=heroku.1.63c5abfd-9e45-4e8a-9f53-6a06d5e5c3b1 sample#load_avg_1m=0.21 sample#load_avg_5m=0.10 sample#load_avg_15m=0.01")
	frame(&b, 45, t.Add(2*time.Second), "heroku", "worker.1", "Process running mem=680M(133.0%)")
	frame(&b, 45, t.Add(2*time.Second), "heroku", "worker.1", "Error R14 (Memory quota exceeded)")
	frame(&b, 45, t.Add(3*time.Second), "heroku", "worker.1", "State changed from up to crashed")
	frame(&b, 45, t.Add(4*time.Second), "app", "api", "Release v9 created by user someone@example.com")
	frame(&b, 134, t.Add(5*time.Second), "app", "heroku-postgres", "source=DATABASE addon=postgresql-curly-12345 sample#db_size=28510083bytes sample#tables=14")
	frame(&b, 190, t.Add(6*time.Second), "app", "web.1", "Completed 200 OK in 18ms")
	frame(&b, 190, t.Add(7*time.Second), "app", "web.1", "another line of the app's own")
	return []byte(b.String())
}

// RouterBody is router lines of the minutes [from, to) after T0: /users/N
// every 10 s on web.1 (200, 100 ms), /slow every minute on web.2 (503 H12,
// 30 s): 7 lines a minute.
func RouterBody(from, to int) []byte {
	var b strings.Builder
	for s := from * 60; s < to*60; s += 10 {
		t := T0.Add(time.Duration(s) * time.Second)
		frame(&b, 158, t, "heroku", "router", fmt.Sprintf(`at=info method=GET path="/users/%d" dyno=web.1 connect=1ms service=100ms status=200 bytes=10 protocol=https`, s))
		if s%60 == 0 {
			frame(&b, 158, t, "heroku", "router", `at=error code=H12 desc="Request timeout" method=GET path="/slow" dyno=web.2 connect= service=30000ms status=503 bytes=0 protocol=https`)
		}
	}
	return []byte(b.String())
}

// Batch parses body into a batch of app.
func Batch(t testing.TB, app, frameID string, body []byte) *store.Batch {
	t.Helper()
	events, st := parser.ParseBody(body, 0, nil)
	if st.Skipped() != 0 {
		t.Fatalf("body: %+v", st)
	}
	return &store.Batch{App: app, FrameID: frameID, Events: events}
}

func write(t testing.TB, w store.Writer, b *store.Batch) store.Result {
	t.Helper()
	res, err := w.Write(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func flush(t testing.TB, w store.Writer) {
	t.Helper()
	if err := w.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func counts(t testing.TB, db store.DB) map[string]int64 {
	t.Helper()
	c, err := db.Counts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func testEveryKind(t *testing.T, b Backend) {
	ctx := context.Background()
	db, w := b.Open(t, "kinds", Options{RawRequests: true})
	batch := Batch(t, "k", "", KindsBody(0))
	if res := write(t, w, batch); res.Stored != len(batch.Events) || res.Duplicate {
		t.Fatalf("result %+v", res)
	}
	flush(t, w)
	c := counts(t, db)
	// H12, mem, R14, crash; lifecycle + release; the add-on's 2 samples;
	// 2 router lines as rows (RawRequests) and in the rollups; 2 app lines.
	for k, n := range map[string]int64{"memory": 1, "load": 1, "errors": 4, "events": 2, "samples": 2, "requests": 2,
		"router_lines": 2, "app_lines": 2} {
		if c[k] != n {
			t.Errorf("%s: %d, want %d", k, c[k], n)
		}
	}
	mem, err := db.Memory(ctx, store.Filter{App: "k"})
	if err != nil {
		t.Fatal(err)
	}
	if len(mem) != 1 || *mem[0].TotalMB != 180.43 || *mem[0].QuotaMB != 512 || *mem[0].PgpgIn != 84329 ||
		mem[0].Boot != "63c5abfd-9e45-4e8a-9f53-6a06d5e5c3b1" || mem[0].Dyno != "web.1" || !mem[0].Time.Equal(T0.Add(time.Second)) {
		t.Errorf("memory %+v", mem)
	}
	if buckets, err := db.MemoryBuckets(ctx, store.Filter{App: "k", Since: T0, Until: T0.Add(time.Hour)}, time.Minute); err != nil || len(buckets) != 1 {
		t.Errorf("memory buckets %v %v", buckets, err)
	}
	if other, _ := db.Memory(ctx, store.Filter{App: "other"}); len(other) != 0 {
		t.Errorf("another app sees %d samples", len(other))
	}
	load, err := db.Load(ctx, store.Filter{App: "k"})
	if err != nil || len(load) != 1 || *load[0].Avg1m != 0.21 {
		t.Errorf("load %+v %v", load, err)
	}
	errs, err := db.Errors(ctx, store.Filter{App: "k"})
	if err != nil {
		t.Fatal(err)
	}
	var codes []string
	for _, e := range errs {
		codes = append(codes, e.Code)
	}
	if strings.Join(codes, ",") != "H12,mem,R14,crash" || *errs[1].MemMB != 680 || *errs[1].Percent != 133 {
		t.Errorf("errors %v %+v", codes, errs)
	}
	if r14, _ := db.Errors(ctx, store.Filter{App: "k"}, "R14"); len(r14) != 1 || r14[0].Dyno != "worker.1" {
		t.Errorf("R14: %+v", r14)
	}
	if lim, _ := db.Errors(ctx, store.Filter{App: "k", Limit: 2}); len(lim) != 2 || lim[0].Code != "R14" || lim[1].Code != "crash" {
		t.Errorf("limit 2: %+v, want the newest two (R14, crash), oldest first", lim)
	}
	dynos, err := db.Dynos(ctx, store.Filter{App: "k"})
	if err != nil || len(dynos) != 3 || dynos[0].Dyno != "web.1" || *dynos[0].LastMB != 180.43 || len(dynos[0].Boots) != 1 || dynos[0].NoMemorySamples ||
		dynos[1].Dyno != "web.2" || !dynos[1].NoMemorySamples || dynos[2].Dyno != "worker.1" || !dynos[2].NoMemorySamples || dynos[2].Errors != 1 {
		t.Errorf("dynos (web.1 with memory; web.2 with an H12 and worker.1 with an R14, without) %+v %v", dynos, err)
	}
	groups, err := db.RequestStats(ctx, store.Filter{App: "k"}, "path", 0)
	if err != nil || len(groups) != 2 {
		t.Fatalf("by path %+v %v", groups, err)
	}
	series, err := db.RequestSeries(ctx, store.Filter{App: "k", Since: T0, Until: T0.Add(time.Hour)}, 10*time.Minute)
	if err != nil || len(series) != 2 {
		t.Errorf("series %+v %v", series, err)
	}
	perPath, err := db.RequestsPerMinuteByPath(ctx, store.Filter{App: "k"})
	if err != nil || len(perPath) != 2 {
		t.Errorf("per path and minute %+v %v", perPath, err)
	}
}

// Dynos lists the dynos with error lines but no memory sample in range
// (runtime metrics off), their R14/R15 counted, and counts their errors in
// no app's (other) row.
func testDynosWithoutMemory(t *testing.T, b Backend) {
	ctx := context.Background()
	db, w := b.Open(t, "silent", Options{})
	var body strings.Builder
	for i := range 3 {
		frame(&body, 45, T0.Add(time.Duration(i)*20*time.Second), "heroku", fmt.Sprintf("web.%d", i+1),
			fmt.Sprintf("source=web.%d dyno=heroku.1.a%d sample#memory_total=%d.00MB sample#memory_quota=512.00MB", i+1, i, 100*(i+1)))
	}
	for i := range 5 { // worker.1: five R14s and a crash, no metrics
		frame(&body, 45, T0.Add(time.Hour+time.Duration(i)*20*time.Second), "heroku", "worker.1", "Error R14 (Memory quota exceeded)")
	}
	frame(&body, 45, T0.Add(2*time.Hour), "heroku", "worker.1", "State changed from up to crashed")
	// web.1 again: an R14 an hour after its sample.
	frame(&body, 45, T0.Add(time.Hour), "heroku", "web.1", "Error R14 (Memory quota exceeded)")
	write(t, w, Batch(t, "s", "", []byte(body.String())))
	flush(t, w)

	dynos, err := db.Dynos(ctx, store.Filter{App: "s"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range dynos {
		got = append(got, fmt.Sprintf("%s:%v:%d", d.Dyno, d.NoMemorySamples, d.Errors))
	}
	if strings.Join(got, " ") != "web.1:false:1 web.2:false:0 web.3:false:0 worker.1:true:5" {
		t.Fatalf("dynos: %v", got)
	}
	if w1 := dynos[3]; !w1.First.Equal(T0.Add(time.Hour)) || !w1.Last.Equal(T0.Add(2*time.Hour)) || w1.LastMB != nil || w1.Boots == nil || len(w1.Boots) != 0 {
		t.Errorf("worker.1: first %s last %s, want its first and last error; %+v", w1.First, w1.Last, w1)
	}
	// In the range of web.1's R14 only, web.1 has no memory sample either.
	dynos, err = db.Dynos(ctx, store.Filter{App: "s", Since: T0.Add(30 * time.Minute), Until: T0.Add(time.Hour + time.Minute)})
	got = got[:0]
	for _, d := range dynos {
		got = append(got, fmt.Sprintf("%s:%v:%d", d.Dyno, d.NoMemorySamples, d.Errors))
	}
	if err != nil || strings.Join(got, " ") != "web.1:true:1 worker.1:true:3" {
		t.Errorf("dynos from 10:30 to 11:01: %v %v", got, err)
	}
	// With a limit: the dyno with the highest memory, an (other) row for the
	// two others (with no R14 of worker.1 in it), and worker.1.
	dynos, err = db.Dynos(ctx, store.Filter{App: "s", Limit: 1})
	got = got[:0]
	for _, d := range dynos {
		got = append(got, fmt.Sprintf("%s:%v:%d", d.Dyno, d.NoMemorySamples, d.Errors))
	}
	if err != nil || strings.Join(got, " ") != "web.3:false:0 worker.1:true:5 "+store.OtherDynos+":false:1" {
		t.Errorf("dynos, limit 1: %v %v", got, err)
	}
}

// Dynos with a limit lists the dynos with the highest memory in range
// (ties by app, then dyno), each as without a limit, and per app one (other)
// row summing the rest: how many, first and last seen, peak, and their
// R14/R15 (not those of the dynos listed, nor of dynos without memory
// samples).
func testDynosTopAndOther(t *testing.T, b Backend) {
	ctx := context.Background()
	db, w := b.Open(t, "topdynos", Options{})
	var body strings.Builder
	sample := func(at time.Duration, app, dyno, boot string, mb int) {
		frame(&body, 45, T0.Add(at), "heroku", dyno, fmt.Sprintf("source=%s dyno=heroku.1.%s sample#memory_total=%d.00MB sample#memory_quota=512.00MB", dyno, boot, mb))
	}
	// app "top": run.1…run.10 peak at 110…200 MB; run.11 ties run.9 (190)
	// and run.12 ties run.10 (200). Two samples each, an hour apart, the
	// second after a restart for the even ones.
	peaks := map[int]int{11: 190, 12: 200}
	for i := 1; i <= 12; i++ {
		peak, ok := peaks[i]
		if !ok {
			peak = 100 + 10*i
		}
		d := time.Duration(i) * time.Second
		sample(d, "top", fmt.Sprintf("run.%d", i), fmt.Sprintf("a%d", i), peak)
		boot := fmt.Sprintf("a%d", i)
		if i%2 == 0 {
			boot = fmt.Sprintf("b%d", i)
		}
		sample(time.Hour+d, "top", fmt.Sprintf("run.%d", i), boot, peak-30)
	}
	for i := range 2 { // run.9's R14s count in (other) when it is not listed
		frame(&body, 45, T0.Add(time.Minute+time.Duration(i)*time.Second), "heroku", "run.9", "Error R14 (Memory quota exceeded)")
	}
	frame(&body, 45, T0.Add(time.Minute), "heroku", "run.10", "Error R15 (Memory quota vastly exceeded)")
	frame(&body, 45, T0.Add(2*time.Hour), "heroku", "run.3", "Error R14 (Memory quota exceeded)") // after run.3's samples, in range
	for i := range 3 {                                                                            // no memory samples: listed apart, never in (other)
		frame(&body, 45, T0.Add(time.Minute+time.Duration(i)*time.Second), "heroku", "worker.1", "Error R14 (Memory quota exceeded)")
	}
	write(t, w, Batch(t, "top", "", []byte(body.String())))
	body.Reset()
	sample(0, "small", "web.1", "c1", 50)
	sample(time.Minute, "small", "web.2", "c2", 60)
	write(t, w, Batch(t, "small", "", []byte(body.String())))
	flush(t, w)

	for _, c := range []struct {
		limit        int
		since, until time.Duration
		want         string
	}{
		{limit: 3, want: "top/run.10 top/run.11 top/run.12 top/worker.1 top/(other):9:190:3 small/(other):2:60:0"},
		{limit: 1, want: "top/run.10 top/worker.1 top/(other):11:200:3 small/(other):2:60:0"},
		{limit: 13, want: "small/web.2 small/(other):1:50:0 top/run.1 top/run.10 top/run.11 top/run.12 top/run.2 top/run.3 top/run.4 top/run.5 top/run.6 top/run.7 top/run.8 top/run.9 top/worker.1"},
		{limit: 14, want: "small/web.1 small/web.2 top/run.1 top/run.10 top/run.11 top/run.12 top/run.2 top/run.3 top/run.4 top/run.5 top/run.6 top/run.7 top/run.8 top/run.9 top/worker.1"},
		// From the second samples on: every peak 30 MB lower; run.3's R14
		// is in range, run.9's are not.
		{limit: 3, since: 30 * time.Minute, until: 3 * time.Hour, want: "top/run.10 top/run.11 top/run.12 top/(other):9:160:1"},
	} {
		f := store.Filter{Limit: c.limit}
		if c.since != 0 {
			f.Since, f.Until = T0.Add(c.since), T0.Add(c.until)
		}
		top, err := db.Dynos(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		f.Limit = 0
		all, err := db.Dynos(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, d := range top {
			s := d.App + "/" + d.Dyno
			if d.Dyno == store.OtherDynos {
				s += fmt.Sprintf(":%d:%.0f:%d", d.Dynos, *d.PeakMB, d.Errors)
			}
			got = append(got, s)
		}
		name := fmt.Sprintf("limit %d, from +%s to +%s", c.limit, c.since, c.until)
		if strings.Join(got, " ") != c.want {
			t.Errorf("%s: got %s\nwant %s", name, strings.Join(got, " "), c.want)
		}
		// What the dashboard's charts do: fold a longer list (here, the
		// whole one and one of 13) to the limit.
		if want := store.FoldDynos(all, c.limit); jsonOf(top) != jsonOf(want) {
			t.Errorf("%s:\n%s\nwant (folded from the dynos without a limit)\n%s", name, jsonOf(top), jsonOf(want))
		}
		f.Limit = 13
		longer, err := db.Dynos(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		if want := store.FoldDynos(longer, c.limit); c.limit <= 13 && jsonOf(top) != jsonOf(want) {
			t.Errorf("%s:\n%s\nwant (folded from the 13 with the highest memory)\n%s", name, jsonOf(top), jsonOf(want))
		}
	}
}

func jsonOf(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func testFrameIDDedup(t *testing.T, b Backend) {
	db, w := b.Open(t, "dedup", Options{})
	body := KindsBody(0)
	for i := range 3 {
		res := write(t, w, Batch(t, "a", "frame-1", body))
		if (i == 0) == res.Duplicate || (i > 0 && res.Stored != 0) {
			t.Errorf("write %d: %+v", i, res)
		}
	}
	if res := write(t, w, Batch(t, "b", "frame-1", body)); res.Duplicate { // another app's frame ids are its own
		t.Errorf("app b: %+v", res)
	}
	if res := write(t, w, Batch(t, "a", "", body)); res.Duplicate { // no frame id: no check
		t.Errorf("no frame id: %+v", res)
	}
	flush(t, w)
	if c := counts(t, db); c["memory"] != 3 || c["router_lines"] != 6 {
		t.Errorf("counts %v", c)
	}
}

func testRetention(t *testing.T, b Backend) {
	ctx := context.Background()
	db, w := b.Open(t, "retention", Options{})
	now := T0.Add(40 * 24 * time.Hour)
	write(t, w, Batch(t, "r", "", KindsBody(0)))                  // 40 days old
	write(t, w, Batch(t, "r", "", KindsBody(39*24*time.Hour)))    // a day old
	write(t, w, Batch(t, "r", "", KindsBody(40*24*time.Hour-10))) // now
	flush(t, w)
	b.Prune(t, db, store.Retention{History: 30 * 24 * time.Hour, Minutes: 48 * time.Hour, Logs: 36 * time.Hour}, now)
	mem, err := db.Memory(ctx, store.Filter{App: "r"})
	if err != nil || len(mem) != 2 || mem[0].Time.Before(now.Add(-30*24*time.Hour)) {
		t.Errorf("memory after retention: %+v %v", mem, err)
	}
	c := counts(t, db)
	// Errors are history; app lines and add-on samples are logs (36 h here).
	if c["errors"] != 8 || c["app_lines"] != 4 || c["samples"] != 4 {
		t.Errorf("counts after retention: %v", c)
	}
	all, err := db.RequestStats(ctx, store.Filter{App: "r"}, "path", 0)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, g := range all {
		n += g.Count
	}
	if n != 4 {
		t.Errorf("%d router lines after retention, want 4", n)
	}
}

// testRollupsMerge: two handles on one database, as two processes, write
// router lines of the same minutes and flush at their own pace; every
// rollup holds the lines of both, exactly. Then a writer restarts and adds
// to the rows stored before.
func testRollupsMerge(t *testing.T, b Backend) {
	ctx := context.Background()
	db1, w1 := b.Open(t, "merge", Options{})
	db2, w2 := b.Open(t, "merge", Options{})
	const rounds = 20
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for _, w := range []store.Writer{w1, w2} {
		wg.Go(func() {
			for i := range rounds {
				events, _ := parser.ParseBody(RouterBody(0, 10), 0, nil)
				if _, err := w.Write(ctx, &store.Batch{App: "m", Events: events}); err != nil {
					errs <- err
					return
				}
				if i%3 == 2 {
					if err := w.Flush(ctx); err != nil {
						errs <- err
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	flush(t, w1)
	flush(t, w2)
	check := func(db store.DB, per int) {
		t.Helper()
		perMin, err := db.RequestsPerMinute(ctx, store.Filter{App: "m", Dyno: "web.1"})
		if err != nil {
			t.Fatal(err)
		}
		if len(perMin) != 10 {
			t.Fatalf("%d minutes, want 10", len(perMin))
		}
		for _, m := range perMin {
			if m.N != per*6 {
				t.Errorf("%s: %d lines, want %d", m.T, m.N, per*6)
			}
		}
		stats, err := db.RequestStats(ctx, store.Filter{App: "m"}, "path", 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(stats) != 2 || stats[0].Count != int64(per*60) || stats[1].Count != int64(per*10) || stats[1].Codes["H12"] != int64(per*10) ||
			stats[1].Errors != int64(per*10) || stats[0].Bytes != int64(per*600) ||
			math.Abs(stats[1].ServiceP50-30000) > 300 || math.Abs(stats[0].ServiceP99-100) > 1 || stats[0].ConnectP50 != 1 {
			t.Errorf("by path %+v", stats)
		}
	}
	check(db1, 2*rounds)
	check(db2, 2*rounds)
	w2.Close()
	db2.Close()
	db3, w3 := b.Open(t, "merge", Options{})
	write(t, w3, Batch(t, "m", "", RouterBody(0, 10)))
	flush(t, w3)
	check(db3, 2*rounds+1)
}

// testConcurrentWriters: eight senders on two handles, each line once.
func testConcurrentWriters(t *testing.T, b Backend) {
	ctx := context.Background()
	db1, w1 := b.Open(t, "concurrent", Options{})
	_, w2 := b.Open(t, "concurrent", Options{})
	const senders, batches = 8, 15
	var wg sync.WaitGroup
	errs := make(chan error, senders)
	for s := range senders {
		w := w1
		if s%2 == 1 {
			w = w2
		}
		wg.Go(func() {
			for i := range batches {
				events, _ := parser.ParseBody(KindsBody(time.Duration(s*batches+i)*time.Minute), 0, nil)
				res, err := w.Write(ctx, &store.Batch{App: "c", FrameID: fmt.Sprintf("%d-%d", s, i), Events: events})
				if err != nil || res.Duplicate {
					errs <- fmt.Errorf("sender %d batch %d: %+v %v", s, i, res, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	flush(t, w1)
	flush(t, w2)
	c := counts(t, db1)
	if n := int64(senders * batches); c["memory"] != n || c["router_lines"] != 2*n || c["errors"] != 4*n || c["app_lines"] != 2*n {
		t.Errorf("counts %v, want %d batches' lines once each", c, n)
	}
}

func testAlerts(t *testing.T, b Backend) {
	ctx := context.Background()
	db, _ := b.Open(t, "alerts", Options{})
	now := T0.Add(time.Hour)
	rec := func(rule, state string, at time.Duration) store.AlertRecord {
		return store.AlertRecord{App: "a", Dyno: "web.1", Rule: rule, State: state, Time: T0.Add(at), Summary: rule + " " + state,
			Details: `{"rule":"` + rule + `"}`, Created: now}
	}
	id1, err := db.InsertAlert(ctx, rec("leak", "firing", 0), true)
	if err != nil {
		t.Fatal(err)
	}
	id2, err := db.InsertAlert(ctx, rec("over-quota", "firing", time.Minute), true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.InsertAlert(ctx, rec("over-quota", "resolved", 2*time.Minute), false); err != nil {
		t.Fatal(err)
	}
	open, err := db.OpenAlerts(ctx)
	if err != nil || len(open) != 1 || open[0].ID != id1 || open[0].Details != `{"rule":"leak"}` || !open[0].Time.Equal(T0) {
		t.Errorf("open alerts %+v %v", open, err)
	}
	all, err := db.Alerts(ctx, store.Filter{App: "a", Since: T0.Add(30 * time.Second)})
	if err != nil || len(all) != 2 || all[0].ID != id2 {
		t.Errorf("alerts since %+v %v", all, err)
	}
	pend, err := db.PendingDeliveries(ctx, 10)
	if err != nil || len(pend) != 2 || pend[0].Alert.ID != id1 {
		t.Fatalf("pending deliveries %+v %v", pend, err)
	}
	if err := db.UpdateDelivery(ctx, id1, store.DeliverySent, 1, now, "", now); err != nil {
		t.Fatal(err)
	}
	if err := db.UpdateDelivery(ctx, id2, store.DeliveryRetry, 1, now.Add(time.Minute), "HTTP 500", now); err != nil {
		t.Fatal(err)
	}
	if st, n, last, err := db.DeliveryStatus(ctx, id2); err != nil || st != store.DeliveryRetry || n != 1 || last != "HTTP 500" {
		t.Errorf("delivery of %d: %s %d %q %v", id2, st, n, last, err)
	}
	pend, _ = db.PendingDeliveries(ctx, 10)
	if len(pend) != 1 || pend[0].Alert.ID != id2 || pend[0].Attempts != 1 || !pend[0].NextAttempt.Equal(now.Add(time.Minute)) {
		t.Errorf("pending after updates %+v", pend)
	}
}

// testCrashRecovery: a writer acknowledges batches and crashes before it
// stores them as rows; the next one stores each line once.
func testCrashRecovery(t *testing.T, b Backend) {
	db, w := b.Open(t, "crash", Options{})
	for i := range 5 {
		write(t, w, Batch(t, "x", fmt.Sprint(i), KindsBody(time.Duration(i)*time.Minute)))
	}
	b.Crash(t, db, w)
	db2, w2 := b.Open(t, "crash", Options{})
	for i := range 6 { // the five again (retries: duplicates) and one more
		res := write(t, w2, Batch(t, "x", fmt.Sprint(i), KindsBody(time.Duration(i)*time.Minute)))
		if res.Duplicate != (i < 5) {
			t.Errorf("batch %d after the crash: %+v", i, res)
		}
	}
	flush(t, w2)
	if c := counts(t, db2); c["memory"] != 6 || c["router_lines"] != 12 || c["errors"] != 24 || c["events"] != 12 || c["app_lines"] != 12 {
		t.Errorf("counts after the crash %v", c)
	}
}
