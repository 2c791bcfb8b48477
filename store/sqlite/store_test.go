package sqlite

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drainwatch/drainwatch/parser"

	"github.com/drainwatch/drainwatch/store"
)

func openTest(t testing.TB) (*DB, *Writer) {
	t.Helper()
	db, err := Open(context.Background(), filepath.Join(t.TempDir(), "test.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	w, err := NewWriter(db, WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		w.Close()
		db.Close()
	})
	return db, w
}

// fixtureBatch parses the parser package's real-format drain body.
func fixtureBatch(t testing.TB, app, frameID string) *store.Batch {
	t.Helper()
	body, err := os.ReadFile("../../parser/testdata/drain.logplex")
	if err != nil {
		t.Fatal(err)
	}
	events, st := parser.ParseBody(body, 0, nil)
	if st.Skipped() != 0 {
		t.Fatalf("fixture: %+v", st)
	}
	return &store.Batch{App: app, FrameID: frameID, Events: events}
}

func TestWriteFixtureAndQuery(t *testing.T) {
	ctx := context.Background()
	db, w := openTest(t)
	b := fixtureBatch(t, "myapp", "f00d")
	res, err := w.Write(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	if res.Stored != len(b.Events) || res.Duplicate {
		t.Fatalf("result %+v", res)
	}
	counts, err := db.Counts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// 39 lines: 6 router, 3 memory, 1 load, 6 coded errors + 3 mem reports +
	// 3 router codes + 1 crash in errors, 12 lifecycle + 2 releases + 1 scale,
	// 4 app lines in logs, 16 add-on + 3 l2met… samples.
	// Router lines are rolled up, not stored one row each (RawRequests off).
	// App lines are kept as text, one row a batch (app_logs); l2met tokens in
	// them are not stored as samples.
	want := map[string]int64{"requests": 0, "memory": 3, "load": 1, "errors": 13, "events": 15, "logs": 0, "app_lines": 4, "frames": 1}
	for k, n := range want {
		if counts[k] != n {
			t.Errorf("%s: %d rows, want %d", k, counts[k], n)
		}
	}
	if counts["samples"] != 16 { // the add-on's
		t.Errorf("samples: %d", counts["samples"])
	}

	mem, err := db.Memory(ctx, store.Filter{App: "myapp", Dyno: "web.1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(mem) != 1 {
		t.Fatalf("%d web.1 samples", len(mem))
	}
	m := mem[0]
	if *m.TotalMB != 180.43 || *m.RSSMB != 180.05 || *m.SwapMB != 0 || *m.QuotaMB != 512 || *m.PgpgIn != 84329 ||
		m.Boot != "63c5abfd-9e45-4e8a-9f53-6a06d5e5c3b1" || !m.Time.Equal(time.Date(2026, 11, 20, 10, 0, 20, 0, time.UTC)) {
		t.Errorf("sample %+v", m)
	}
	all, _ := db.Memory(ctx, store.Filter{App: "myapp"})
	if len(all) != 3 || all[1].Dyno != "run.2660" || all[1].QuotaMB != nil {
		t.Errorf("one-off dyno without quota: %+v", all)
	}
	if other, _ := db.Memory(ctx, store.Filter{App: "otherapp"}); len(other) != 0 {
		t.Errorf("other app sees %d samples", len(other))
	}

	errs, err := db.Errors(ctx, store.Filter{App: "myapp", Dyno: "worker.1"})
	if err != nil {
		t.Fatal(err)
	}
	var codes []string
	for _, e := range errs {
		codes = append(codes, e.Code)
	}
	wantCodes := []string{"mem", "R14", "R14", "mem", "mem", "R15", "crash"}
	if len(codes) != len(wantCodes) {
		t.Fatalf("codes %v, want %v", codes, wantCodes)
	}
	for i := range codes {
		if codes[i] != wantCodes[i] {
			t.Fatalf("codes %v, want %v", codes, wantCodes)
		}
	}
	if *errs[0].MemMB != 680 || *errs[0].Percent != 133 || errs[0].Message != "Process running mem=680M(133.0%)" {
		t.Errorf("mem row %+v", errs[0])
	}
	h, _ := db.Errors(ctx, store.Filter{App: "myapp"}, "H12", "L10")
	if len(h) != 2 || h[0].Code != "H12" || h[1].Code != "L10" || *h[1].Dropped != 1431 {
		t.Errorf("H12/L10: %+v", h)
	}
	since, _ := db.Errors(ctx, store.Filter{App: "myapp", Since: time.Date(2026, 11, 20, 10, 1, 0, 0, time.UTC), Until: time.Date(2026, 11, 20, 10, 2, 0, 0, time.UTC)})
	if len(since) != 3 { // mem, R15, crash at 10:01:02
		t.Errorf("time window: %d rows", len(since))
	}
	lim, _ := db.Errors(ctx, store.Filter{App: "myapp", Limit: 2})
	if len(lim) != 2 {
		t.Errorf("limit: %d rows", len(lim))
	}
}

func TestRetriedFrameIDStoredOnce(t *testing.T) {
	ctx := context.Background()
	db, w := openTest(t)
	for i := 0; i < 3; i++ {
		res, err := w.Write(ctx, fixtureBatch(t, "myapp", "0123456789abcdef0123456789abcdef"))
		if err != nil {
			t.Fatal(err)
		}
		if (i > 0) != res.Duplicate {
			t.Errorf("write %d: %+v", i, res)
		}
	}
	// The same frame id for another app is another batch.
	if res, _ := w.Write(ctx, fixtureBatch(t, "other", "0123456789abcdef0123456789abcdef")); res.Duplicate {
		t.Error("other app's batch taken for a retry")
	}
	// No frame id: always stored.
	w.Write(ctx, fixtureBatch(t, "myapp", ""))
	mem, _ := db.Memory(ctx, store.Filter{App: "myapp"})
	if len(mem) != 6 {
		t.Errorf("%d memory rows, want 6 (two batches)", len(mem))
	}
}

func TestConcurrentWritesAndClose(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "c.db")
	db, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	w, err := NewWriter(db, WriterOptions{QueueLen: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	acked := 0
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				res, err := w.Write(ctx, fixtureBatch(t, "app", ""))
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				acked += res.Stored
				mu.Unlock()
			}
		}(g)
	}
	wg.Wait()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(ctx, fixtureBatch(t, "app", "")); !errors.Is(err, store.ErrClosed) {
		t.Errorf("write after close: %v", err)
	}
	db.Close()

	// Reopen read-only: everything acknowledged is there.
	ro, err := Open(ctx, path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	counts, _ := ro.Counts(ctx)
	total := counts["memory"] + counts["load"] + counts["router_lines"] + counts["events"] + counts["app_lines"]
	// Each fixture batch: 3 memory, 1 load, 6 router, 15 event and 4 app
	// lines; the rest are errors and add-on samples.
	if acked != 160*39 || total != 160*29 {
		t.Errorf("acked %d lines, %d rows", acked, total)
	}
	if _, err := NewWriter(ro, WriterOptions{}); err == nil {
		t.Error("writer on a read-only database")
	}
}

func TestQueueFull(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "q.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	w, err := NewWriter(db, WriterOptions{QueueLen: 1})
	if err != nil {
		t.Fatal(err)
	}
	// Hold the database's one write connection so the writer blocks.
	conn, err := db.rw.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	results := make(chan error, 2)
	write := func() {
		go func() {
			_, err := w.Write(ctx, fixtureBatch(t, "app", ""))
			results <- err
		}()
	}
	until := func(what string, cond func() bool) {
		for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				conn.Close()
				t.Fatal(what)
			}
		}
	}
	// One batch is taken by the writer, which then waits for the connection…
	waited := db.rw.Stats().WaitCount
	write()
	until("the writer never took the first batch", func() bool { return db.rw.Stats().WaitCount > waited })
	// …one waits in the queue…
	write()
	until("the queue never filled", func() bool { return len(w.queue) == 1 })
	// …and a third waits for a place until its deadline, then is refused.
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = w.Write(short, fixtureBatch(t, "app", ""))
	if !errors.Is(err, store.ErrQueueFull) || time.Since(start) < 90*time.Millisecond {
		conn.Close()
		t.Fatalf("got %v after %v, want store.ErrQueueFull after the deadline", err, time.Since(start))
	}
	conn.Close()
	for i := 0; i < 2; i++ {
		if err := <-results; err != nil {
			t.Errorf("queued write: %v", err)
		}
	}
	w.Close()
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	if _, err := Open(ctx, "/nonexistent-dir/x.db", Options{}); err == nil {
		t.Error("missing directory accepted")
	}
	if _, err := Open(ctx, filepath.Join(t.TempDir(), "missing.db"), Options{ReadOnly: true}); err == nil {
		t.Error("read-only open of a missing file accepted")
	}
	notDB := filepath.Join(t.TempDir(), "notes.txt")
	os.WriteFile(notDB, []byte("hello, this is not sqlite at all, not even close to it........................................"), 0o644)
	if _, err := Open(ctx, notDB, Options{ReadOnly: true}); err == nil {
		t.Error("a text file opened as a database")
	}
	if os.Geteuid() != 0 { // root writes anywhere
		ro := t.TempDir()
		os.Chmod(ro, 0o555)
		if _, err := Open(ctx, filepath.Join(ro, "x.db"), Options{}); err == nil {
			t.Error("read-only directory accepted")
		}
	}
}

func TestMigrationsIdempotent(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "m.db")
	for i := 0; i < 2; i++ {
		db, err := Open(ctx, path, Options{})
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		var n int
		db.ro.QueryRow("SELECT COUNT(*) FROM schema_migrations").Scan(&n)
		files, _ := migrations.ReadDir("migrations")
		if n != len(files) || n < 2 {
			t.Errorf("open %d: %d migrations recorded, %d files", i, n, len(files))
		}
		var mode string
		db.rw.QueryRow("PRAGMA journal_mode").Scan(&mode)
		if mode != "wal" {
			t.Errorf("journal mode %q", mode)
		}
		db.Close()
	}
}

// routerBatch is router lines of app from t0+from to t0+to: /users/:id every
// 10 s on web.1 (200, connect 1 ms, service 100 ms, 10 bytes), and /slow
// every 60 s on web.2 (503 H12, service 30 s).
func routerBatch(t testing.TB, app string, t0 time.Time, from, to time.Duration) *store.Batch {
	t.Helper()
	var body strings.Builder
	for d := from; d < to; d += 10 * time.Second {
		ts := t0.Add(d).Format("2006-01-02T15:04:05.000000+00:00")
		m := fmt.Sprintf("<158>1 %s host heroku router - at=info method=GET path=\"/users/%d\" dyno=web.1 connect=1ms service=100ms status=200 bytes=10 protocol=https", ts, int(d.Seconds()))
		fmt.Fprintf(&body, "%d %s\n", len(m)+1, m)
		if int(d.Seconds())%60 == 0 {
			m = fmt.Sprintf("<158>1 %s host heroku router - at=error code=H12 desc=\"Request timeout\" method=GET path=\"/slow\" dyno=web.2 connect= service=30000ms status=503 bytes=0 protocol=https", ts)
			fmt.Fprintf(&body, "%d %s\n", len(m)+1, m)
		}
	}
	events, st := parser.ParseBody([]byte(body.String()), 0, nil)
	if st.Skipped() != 0 {
		t.Fatalf("%+v", st)
	}
	return &store.Batch{App: app, Events: events}
}

func TestRequestRollups(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "roll.db")
	db, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	w, _ := NewWriter(db, WriterOptions{RawRequests: true})
	// Two hours and a half of router lines: /users/:id every 10 s (200, 100 ms),
	// /slow every 60 s (503 H12, 30 s), across two writers (a restart) so the
	// second must merge with rows the first stored.
	t0 := time.Date(2026, 11, 20, 10, 30, 0, 0, time.UTC)
	batch := func(from, to time.Duration) *store.Batch { return routerBatch(t, "r", t0, from, to) }
	for d := time.Duration(0); d < 75*time.Minute; d += 5 * time.Minute {
		if _, err := w.Write(ctx, batch(d, d+5*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	w2, _ := NewWriter(db, WriterOptions{})
	for d := 75 * time.Minute; d < 150*time.Minute; d += 5 * time.Minute {
		if _, err := w2.Write(ctx, batch(d, d+5*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	w2.Close()
	defer db.Close()

	check := func(name string, f store.Filter, users, slow int64) {
		t.Helper()
		groups, err := db.RequestStats(ctx, f, "path", 0)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]store.RequestGroup{}
		for _, g := range groups {
			got[g.Key] = g
		}
		u, s := got["/users/:id"], got["/slow"]
		if u.Count != users || s.Count != slow {
			t.Fatalf("%s: /users/:id %d (want %d), /slow %d (want %d)", name, u.Count, users, s.Count, slow)
		}
		if users > 0 && (math.Abs(u.ServiceP99-100) > 1 || u.ConnectP50 != 1 || u.Errors != 0 || u.Bytes != 10*users) {
			t.Errorf("%s: /users/:id %+v", name, u)
		}
		if slow > 0 && (math.Abs(s.ServiceP50-30000) > 300 || s.Errors != slow || s.Codes["H12"] != slow || s.ErrorRate != 1) {
			t.Errorf("%s: /slow %+v", name, s)
		}
	}
	check("all history, nothing folded", store.Filter{App: "r"}, 900, 150)
	check("across hours, nothing folded", store.Filter{App: "r", Since: t0.Add(15 * time.Minute), Until: t0.Add(105 * time.Minute)}, 540, 90)
	// Fold the first 100 minutes into hours; the same answers after.
	if n, err := db.foldMinutes(t0.Add(102*time.Minute), 2*time.Minute, 100000); err != nil || n == 0 {
		t.Fatalf("fold: %d %v", n, err)
	}
	// Folding again folds nothing twice.
	if n, _ := db.foldMinutes(t0.Add(102*time.Minute), 2*time.Minute, 100000); n != 0 {
		t.Errorf("folded %d rows twice", n)
	}
	check("all history", store.Filter{App: "r"}, 900, 150)
	// 10:45–12:15: hour rows for 11:00–12:00, minute rows at both edges.
	check("across hours", store.Filter{App: "r", Since: t0.Add(15 * time.Minute), Until: t0.Add(105 * time.Minute)}, 540, 90)
	check("within an hour", store.Filter{App: "r", Since: t0.Add(35 * time.Minute), Until: t0.Add(40 * time.Minute)}, 30, 5)
	check("one dyno", store.Filter{App: "r", Dyno: "web.2"}, 0, 150)

	byStatus, _ := db.RequestStats(ctx, store.Filter{App: "r"}, "status", 0)
	if len(byStatus) != 2 || byStatus[0].Key != "2xx" || byStatus[1].Key != "5xx" {
		t.Errorf("by status %+v", byStatus)
	}
	perMin, _ := db.RequestsPerMinute(ctx, store.Filter{App: "r", Dyno: "web.1"})
	if len(perMin) != 150 || perMin[0].N != 6 {
		t.Errorf("per minute: %d minutes, first %+v", len(perMin), perMin[0])
	}
	// RawRequests kept the first half's lines as rows.
	c, _ := db.Counts(ctx)
	if c["requests"] != 450+75 {
		t.Errorf("raw rows %d", c["requests"])
	}
}

func TestRetentionPrunesOldHistory(t *testing.T) {
	ctx := context.Background()
	db, w := openTest(t)
	// The fixture is from 2026-11-20; "now" is 40 days later.
	now := time.Date(2026, 12, 30, 0, 0, 0, 0, time.UTC)
	w.Write(ctx, fixtureBatch(t, "old", ""))
	fresh := fixtureBatch(t, "new", "")
	for i := range fresh.Events {
		fresh.Events[i].Time = now.Add(-time.Hour)
	}
	w.Write(ctx, fresh)
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := db.foldMinutes(now, 2*time.Minute, 100000); err != nil {
		t.Fatal(err)
	}
	before, _ := db.Counts(ctx)
	for {
		_, done, err := db.prune(ctx, store.Retention{}, now, 1)
		if err != nil {
			t.Fatal(err)
		}
		if done {
			break
		}
	}
	after, _ := db.Counts(ctx)
	for _, table := range []string{"memory", "load", "errors", "events", "logs", "samples"} {
		if after[table]*2 != before[table] {
			t.Errorf("%s: %d rows before, %d after; want half", table, before[table], after[table])
		}
	}
	if after["router_lines"]*2 != before["router_lines"] {
		t.Errorf("minute rollups: %d lines before, %d after", before["router_lines"], after["router_lines"])
	}
	if mem, _ := db.Memory(ctx, store.Filter{App: "old"}); len(mem) != 0 {
		t.Errorf("old app keeps %d samples", len(mem))
	}
	if mem, _ := db.Memory(ctx, store.Filter{App: "new"}); len(mem) != 3 {
		t.Errorf("new app keeps %d samples", len(mem))
	}
}

// A batch is acknowledged only after its commit, and SQLite runs with
// synchronous=FULL: the commit returns once the WAL holding it is synced,
// so an acknowledged line survives power loss. NoSync: NORMAL. The roller's
// commits run under NORMAL (roller.begin) and leave the write connection
// as they found it.
func TestWriteWaitsForTheDisk(t *testing.T) {
	ctx := context.Background()
	for noSync, want := range map[bool]int{false: 2, true: 1} {
		db, err := Open(ctx, filepath.Join(t.TempDir(), "s.db"), Options{NoSync: noSync})
		if err != nil {
			t.Fatal(err)
		}
		check := func(when string) {
			t.Helper()
			var got int
			if err := db.rw.QueryRow("PRAGMA synchronous").Scan(&got); err != nil || got != want {
				t.Errorf("NoSync %v, %s: synchronous = %d (%v), want %d", noSync, when, got, err, want)
			}
		}
		check("open")
		w, err := NewWriter(db, WriterOptions{FlushEvery: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(ctx, fixtureBatch(t, "app", "f1")); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		var pendingRows int
		if err := db.rw.QueryRow("SELECT COUNT(*) FROM pending_batches").Scan(&pendingRows); err != nil || pendingRows != 0 {
			t.Fatalf("after a flush: %d pending rows (%v)", pendingRows, err)
		}
		check("after the roller's commit")
		w.Close()
		db.Close()
	}
}

// A line that comes after its minute was folded into its hour is added to
// the hour row too (two writers on one file: storetest's RollupsMerge).
func TestLateLineReachesFoldedHour(t *testing.T) {
	ctx := context.Background()
	db, w := openTest(t)
	t0 := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	if _, err := w.Write(ctx, routerBatch(t, "late", t0, 0, 10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if n, err := db.foldMinutes(t0.Add(time.Hour), 2*time.Minute, 100000); err != nil || n == 0 {
		t.Fatalf("fold: %d %v", n, err)
	}
	if _, err := w.Write(ctx, routerBatch(t, "late", t0, 0, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	hour := store.Filter{App: "late", Since: t0, Until: t0.Add(time.Hour)} // read from the hour row alone
	stats, err := db.RequestStats(ctx, hour, "path", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(stats) != 2 || stats[0].Count != 60+1 || stats[1].Count != 10+1 {
		t.Errorf("the hour after a late line: %+v", stats)
	}
}

// Queries that come while a flush runs share the next one: eight at once
// make one flush, not eight queued behind each other.
func TestConcurrentQueriesShareAFlush(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "q.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	w, err := NewWriter(db, WriterOptions{FlushEvery: time.Hour}) // no flush but the queries'
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := w.Write(ctx, fixtureBatch(t, "q", "")); err != nil {
		t.Fatal(err)
	}
	w.roll.mu.Lock() // a flush is running
	before := w.roll.begun.Load()
	var wg sync.WaitGroup
	counts := make([]map[string]int64, 8)
	for i := range counts {
		wg.Go(func() { counts[i], _ = db.Counts(ctx) })
	}
	for w.roll.waiting.Load() < 8 {
		runtime.Gosched()
	}
	w.roll.mu.Unlock()
	wg.Wait()
	if n := w.roll.begun.Load() - before; n != 1 {
		t.Errorf("%d flushes for 8 concurrent queries, want 1", n)
	}
	for i, c := range counts {
		if c["memory"] != 3 {
			t.Errorf("query %d saw %d memory rows, want 3", i, c["memory"])
		}
	}
}

// A database file deleted under the writer: its next commits go to a file
// no later start sees, so they are not acknowledged.
func TestWriteRefusedWhenTheFileIsGone(t *testing.T) {
	ctx := context.Background()
	db, w := openTest(t)
	if _, err := w.Write(ctx, fixtureBatch(t, "g", "1")); err != nil {
		t.Fatal(err)
	}
	for _, suffix := range []string{"", "-wal", "-shm"} {
		os.Remove(db.Path() + suffix)
	}
	if _, err := w.Write(ctx, fixtureBatch(t, "g", "2")); err == nil || !strings.Contains(err.Error(), "deleted or replaced") {
		t.Errorf("write after the file was deleted: %v", err)
	}
}
