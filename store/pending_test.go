package store

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
)

// answers is everything the queries say about router lines.
type answers struct {
	Stats   []RequestGroup
	Status  []RequestGroup
	Series  []SeriesPoint
	PerMin  []MinuteCount
	PerPath []PathMinuteCount
	Routed  int64
}

func queryAll(t *testing.T, db *DB, f Filter) answers {
	t.Helper()
	ctx := context.Background()
	var a answers
	var err error
	if a.Stats, err = db.RequestStats(ctx, f, "path", 0); err != nil {
		t.Fatal(err)
	}
	if a.Status, err = db.RequestStats(ctx, f, "status", 0); err != nil {
		t.Fatal(err)
	}
	if a.Series, err = db.RequestSeries(ctx, f, 10*time.Minute); err != nil {
		t.Fatal(err)
	}
	if a.PerMin, err = db.RequestsPerMinute(ctx, f); err != nil {
		t.Fatal(err)
	}
	if a.PerPath, err = db.RequestsPerMinuteByPath(ctx, f); err != nil {
		t.Fatal(err)
	}
	c, err := db.Counts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	a.Routed = c["router_lines"]
	return a
}

func pendingRows(t *testing.T, db *DB) int {
	t.Helper()
	var n int
	if err := db.ro.QueryRow(`SELECT COUNT(*) FROM pending_requests`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// Router lines are rolled into the minute rows only every FlushEvery, but
// every query answers the same before and after: the acknowledged lines
// are read from the pending rows until then.
func TestPendingLinesAreQueried(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "p.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	w, err := NewWriter(db, WriterOptions{FlushEvery: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	t0 := time.Date(2026, 11, 20, 10, 30, 0, 0, time.UTC)
	f := Filter{App: "p", Since: t0, Until: t0.Add(2 * time.Hour)}
	// The first hour flushed; the second half-hour flushed and then added
	// to (the same minute rows hold flushed and pending lines); the rest
	// pending only.
	for d := time.Duration(0); d < time.Hour; d += 5 * time.Minute {
		w.Write(ctx, routerBatch(t, "p", t0, d, d+5*time.Minute))
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	w.Write(ctx, routerBatch(t, "p", t0, 60*time.Minute, 90*time.Minute))
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	w.Write(ctx, routerBatch(t, "p", t0, 60*time.Minute, 90*time.Minute))
	w.Write(ctx, routerBatch(t, "p", t0, 90*time.Minute, 120*time.Minute))
	if n := pendingRows(t, db); n != 2 {
		t.Fatalf("%d pending rows before the flush, want 2", n)
	}
	before := queryAll(t, db, f)
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if n := pendingRows(t, db); n != 0 {
		t.Fatalf("%d pending rows after the flush", n)
	}
	after := queryAll(t, db, f)
	if !reflect.DeepEqual(before, after) {
		t.Errorf("answers differ:\nbefore %+v\nafter  %+v", before, after)
	}
	// 120 minutes of /users (6 a minute) and /slow (1 a minute), the
	// 60–90 minutes twice.
	want := int64(120*7 + 30*7)
	if after.Routed != want {
		t.Errorf("router lines %d, want %d", after.Routed, want)
	}
	var got int64
	for _, g := range after.Stats {
		got += g.Count
	}
	if got != want || after.Stats[0].Key != "/users/:id" || after.Stats[0].Count != 6*150 {
		t.Errorf("by path %+v", after.Stats)
	}
	if len(after.PerMin) != 2*120 {
		t.Errorf("%d (dyno, minute) counts, want 240", len(after.PerMin))
	}
}

// A crash leaves pending rows; the next writer rolls them up before it
// takes batches, once.
func TestPendingRowsReplayedAfterCrash(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "c.db")
	db, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 20, 10, 30, 0, 0, time.UTC)
	f := Filter{App: "c", Since: t0, Until: t0.Add(time.Hour)}
	w, _ := NewWriter(db, WriterOptions{FlushEvery: time.Hour, crash: true})
	w.Write(ctx, routerBatch(t, "c", t0, 0, 30*time.Minute))
	w.Flush(ctx)
	w.Write(ctx, routerBatch(t, "c", t0, 20*time.Minute, time.Hour))
	want := queryAll(t, db, f)
	w.Close()
	db.Close()

	db, err = Open(ctx, path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if n := pendingRows(t, db); n != 1 {
		t.Fatalf("%d pending rows after the crash, want 1", n)
	}
	if got := queryAll(t, db, f); !reflect.DeepEqual(got, want) {
		t.Errorf("read-only, before the replay:\n got %+v\nwant %+v", got, want)
	}
	db.Close()

	var logs bytes.Buffer
	db, _ = Open(ctx, path, Options{})
	defer db.Close()
	// A corrupt pending row is skipped, with an error in the log.
	if _, err := db.rw.Exec(`INSERT INTO pending_requests (app, first, last, lines, body) VALUES ('c', 0, 0, 3, x'01ff')`); err != nil {
		t.Fatal(err)
	}
	w, err = NewWriter(db, WriterOptions{FlushEvery: time.Hour, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if n := pendingRows(t, db); n != 0 {
		t.Fatalf("%d pending rows after the replay", n)
	}
	if got := queryAll(t, db, f); !reflect.DeepEqual(got, want) {
		t.Errorf("after the replay:\n got %+v\nwant %+v", got, want)
	}
	if !strings.Contains(logs.String(), "skipped") {
		t.Errorf("log: %s", logs.String())
	}
}

// Every router line of the real-format fixtures comes back from its
// encoding as the rollups need it.
func TestPendingEncoding(t *testing.T) {
	events := append(fixtureBatch(t, "x", "").Events, routerBatch(t, "x", time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC), 0, 5*time.Minute).Events...)
	p := encodePending(events)
	var want []pendingLine
	for _, ev := range events {
		if ev.Kind != parser.KindRouter {
			continue
		}
		r := ev.Router
		want = append(want, pendingLine{unix: ev.Time.Unix(), dyno: string(ev.Dyno), path: PathTemplate(string(r.Path)),
			code: string(r.Code), status: int64(r.Status), service: r.ServiceMS, connect: r.ConnectMS, len: r.Bytes})
	}
	var got []pendingLine
	if err := decodePending(p.body, func(l *pendingLine) error {
		got = append(got, *l)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if p.lines != len(want) || !reflect.DeepEqual(got, want) {
		t.Errorf("%d lines:\n got %+v\nwant %+v", p.lines, got, want)
	}
	for n := range len(p.body) { // every truncation is an error, not a panic
		if decodePending(p.body[:n], func(*pendingLine) error { return nil }) == nil {
			t.Errorf("truncated at %d of %d: no error", n, len(p.body))
		}
	}
}

func FuzzDecodePending(f *testing.F) {
	f.Add(encodePending(routerBatch(f, "x", time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC), 0, time.Minute).Events).body)
	f.Fuzz(func(t *testing.T, body []byte) {
		n := 0
		err := decodePending(body, func(l *pendingLine) error {
			n++
			return nil
		})
		if err == nil && n > len(body) {
			t.Errorf("%d lines from %d bytes", n, len(body))
		}
	})
}
