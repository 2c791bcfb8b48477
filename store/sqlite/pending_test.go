package sqlite

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/drainwatch/drainwatch/parser"
	"github.com/drainwatch/drainwatch/store/pending"
	"github.com/drainwatch/drainwatch/store/rollup"

	"github.com/drainwatch/drainwatch/store"
)

// answers is what the queries say about an app's lines.
type answers struct {
	Stats   []store.RequestGroup
	Status  []store.RequestGroup
	Series  []store.SeriesPoint
	PerMin  []store.MinuteCount
	PerPath []store.PathMinuteCount
	Memory  []store.MemorySample
	Errors  []store.ErrorEvent
	Load    []store.LoadSample
	Counts  map[string]int64
}

func queryAll(t *testing.T, db *DB, f store.Filter) answers {
	t.Helper()
	ctx := context.Background()
	var a answers
	var err error
	check := func(e error) {
		t.Helper()
		if e != nil {
			t.Fatal(e)
		}
	}
	a.Stats, err = db.RequestStats(ctx, f, "path", 0)
	check(err)
	a.Status, err = db.RequestStats(ctx, f, "status", 0)
	check(err)
	a.Series, err = db.RequestSeries(ctx, f, 10*time.Minute)
	check(err)
	a.PerMin, err = db.RequestsPerMinute(ctx, f)
	check(err)
	a.PerPath, err = db.RequestsPerMinuteByPath(ctx, f)
	check(err)
	a.Memory, err = db.Memory(ctx, store.Filter{App: f.App})
	check(err)
	a.Errors, err = db.Errors(ctx, store.Filter{App: f.App})
	check(err)
	a.Load, err = db.Load(ctx, store.Filter{App: f.App})
	check(err)
	a.Counts, err = db.Counts(ctx)
	check(err)
	delete(a.Counts, "frames") // the crash test stores its batches without frame ids twice
	return a
}

func pendingRows(t *testing.T, db *DB) int {
	t.Helper()
	var n int
	if err := db.ro.QueryRow(`SELECT COUNT(*) FROM pending_batches`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

var pendT0 = time.Date(2026, 11, 20, 10, 30, 0, 0, time.UTC)

// pendingBatches writes two hours of router lines and the fixture (memory
// samples, errors, lifecycle, app lines) to w, the second hour after a
// Flush, so that some minute rows hold flushed and later lines.
func pendingBatches(t *testing.T, w *Writer) {
	t.Helper()
	ctx := context.Background()
	for d := time.Duration(0); d < time.Hour; d += 5 * time.Minute {
		if _, err := w.Write(ctx, routerBatch(t, "p", pendT0, d, d+5*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for _, b := range []*store.Batch{routerBatch(t, "p", pendT0, 55*time.Minute, 90*time.Minute), fixtureBatch(t, "p", ""),
		routerBatch(t, "p", pendT0, 90*time.Minute, 120*time.Minute)} {
		if _, err := w.Write(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
}

var pendFilter = store.Filter{App: "p", Since: pendT0.Add(-time.Hour), Until: pendT0.Add(2 * time.Hour)}

// Batches are stored as rows every FlushEvery; a query in the writer's
// process flushes first and sees every acknowledged line, another process
// sees them after the flush.
func TestQueriesSeeAcknowledgedLines(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "p.db")
	db, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	w, err := NewWriter(db, WriterOptions{FlushEvery: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	pendingBatches(t, w)

	other, err := Open(ctx, path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if n := pendingRows(t, other); n != 3 {
		t.Fatalf("%d pending rows before the flush, want 3", n)
	}
	if mem, _ := other.Memory(ctx, store.Filter{App: "p"}); len(mem) != 0 {
		t.Errorf("another process sees %d memory samples before the flush", len(mem))
	}

	got := queryAll(t, db, pendFilter) // flushes
	if n := pendingRows(t, other); n != 0 {
		t.Fatalf("%d pending rows after a query", n)
	}
	if again := queryAll(t, other, pendFilter); !reflect.DeepEqual(again, got) {
		t.Errorf("another process after the flush:\n got %+v\nwant %+v", again, got)
	}
	// 120 minutes of /users (6 a minute) and /slow (1 a minute), the
	// 55–60 minutes twice; the fixture's 6 router lines.
	want := int64(125*7 + 6)
	if got.Counts["router_lines"] != want {
		t.Errorf("router lines %d, want %d", got.Counts["router_lines"], want)
	}
	if got.Stats[0].Key != "/users/:id" || got.Stats[0].Count != 6*125 {
		t.Errorf("by path %+v", got.Stats)
	}
	// The fixture's rows, as TestWriteFixtureAndQuery finds them, plus
	// 125 H12 router lines (errors).
	for k, n := range map[string]int64{"memory": 3, "load": 1, "errors": 13 + 125, "events": 15, "app_lines": 4} {
		if got.Counts[k] != n {
			t.Errorf("%s: %d, want %d", k, got.Counts[k], n)
		}
	}
}

// A crash leaves pending rows; the next writer stores them before it takes
// batches, once, and the answers are those of a database that never
// crashed.
func TestPendingRowsStoredAfterCrash(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	control, _ := Open(ctx, filepath.Join(dir, "control.db"), Options{})
	defer control.Close()
	cw, _ := NewWriter(control, WriterOptions{})
	pendingBatches(t, cw)
	cw.Close()
	want := queryAll(t, control, pendFilter)

	path := filepath.Join(dir, "crash.db")
	db, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	w, _ := NewWriter(db, WriterOptions{FlushEvery: time.Hour, crash: true})
	pendingBatches(t, w)
	w.Close() // as a crash: nothing flushed
	db.Close()

	var logs bytes.Buffer
	db, _ = Open(ctx, path, Options{})
	defer db.Close()
	if n := pendingRows(t, db); n != 3 {
		t.Fatalf("%d pending rows after the crash, want 3", n)
	}
	// A corrupt pending row is skipped, with an error in the log.
	if _, err := db.rw.Exec(`INSERT INTO pending_batches (app, lines, router, rest) VALUES ('p', 3, x'01ff', x'0105')`); err != nil {
		t.Fatal(err)
	}
	w, err = NewWriter(db, WriterOptions{FlushEvery: time.Hour, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if n := pendingRows(t, db); n != 0 {
		t.Fatalf("%d pending rows after the restart", n)
	}
	if got := queryAll(t, db, pendFilter); !reflect.DeepEqual(got, want) {
		t.Errorf("after the restart:\n got %+v\nwant %+v", got, want)
	}
	if !strings.Contains(logs.String(), "skipped") {
		t.Errorf("log: %s", logs.String())
	}
}

// BenchmarkRollIn: the roller rolling one committed batch's router lines
// into its per-flush deltas.
func BenchmarkRollIn(b *testing.B) {
	body, n := benchBody(b)
	events, st := parser.ParseBody(body, 0, nil)
	if st.Parsed != n {
		b.Fatal("parse")
	}
	pb := pending.Encode("bench", events, nil)
	db, err := Open(context.Background(), filepath.Join(b.TempDir(), "roll.db"), Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	r, err := newRoller(db, time.Second, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer r.close()
	r.deltas = map[rollup.Key]*rollup.Acc{}
	b.ReportAllocs()
	for b.Loop() {
		if err := r.rollIn("bench", pb.Router); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRollerFlush: one flush of 100 pending bodies (~42 k lines, a
// tenth of a second of drainwatch-bench's load) whose minute rows exist
// already, so every rollup write merges into a stored row.
func BenchmarkRollerFlush(b *testing.B) {
	ctx := context.Background()
	body, n := benchBody(b)
	events, st := parser.ParseBody(body, 0, nil)
	if st.Parsed != n {
		b.Fatal("parse")
	}
	db, err := Open(ctx, filepath.Join(b.TempDir(), "flush.db"), Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	w, err := NewWriter(db, WriterOptions{FlushEvery: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	fill := func() {
		for range 100 {
			if _, err := w.Write(ctx, &store.Batch{App: "bench", Events: events}); err != nil {
				b.Fatal(err)
			}
		}
	}
	fill()
	if err := w.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		fill()
		b.StartTimer()
		if err := w.Flush(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
