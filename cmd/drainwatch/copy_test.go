package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drainwatch/drainwatch/store"
	"github.com/drainwatch/drainwatch/store/postgres/pgtest"
	"github.com/drainwatch/drainwatch/store/sqlite"
	"github.com/drainwatch/drainwatch/store/storetest"
)

// history of every kind in a SQLite file: each kind of line over 30
// minutes, router lines over 10 (some folded into their hour), and alerts
// with deliveries.
func copySource(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "src.db")
	db, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	w, err := sqlite.NewWriter(db, sqlite.WriterOptions{RawRequests: true, Retention: store.Retention{Off: true}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		if _, err := w.Write(ctx, storetest.Batch(t, "a", fmt.Sprint(i), storetest.KindsBody(time.Duration(i)*time.Minute))); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.Write(ctx, storetest.Batch(t, "a", "r", storetest.RouterBody(0, 10))); err != nil {
		t.Fatal(err)
	}
	w.Close()
	for i, st := range []string{"firing", "resolved"} {
		if _, err := db.InsertAlert(ctx, store.AlertRecord{App: "a", Dyno: "web.1", Rule: "over-quota", State: st, Time: storetest.T0.Add(time.Duration(i) * time.Minute),
			Summary: "over " + st, Details: `{"x":1}`, Created: storetest.T0}, true); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	return path
}

// snapshot is what the queries answer of a database, as JSON by query.
func snapshot(t *testing.T, db string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for k, v := range snapshotValues(t, db) {
		b, _ := json.Marshal(v)
		out[k] = string(b)
	}
	return out
}

// diff names the queries whose answers differ.
func diff(got, want map[string]string) string {
	var b strings.Builder
	for k, w := range want {
		if g := got[k]; g != w {
			i := 0
			for i < len(g) && i < len(w) && g[i] == w[i] {
				i++
			}
			from := max(i-200, 0)
			fmt.Fprintf(&b, "%s, from byte %d:\n  got  %.400s\n  want %.400s\n", k, from, g[min(from, len(g)):], w[from:])
		}
	}
	return b.String()
}

func snapshotValues(t *testing.T, db string) map[string]any {
	t.Helper()
	d := openRO(t, db)
	defer d.Close()
	ctx := context.Background()
	out := map[string]any{}
	c, err := d.Counts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out["counts"] = c
	for _, by := range []string{"path", "status", "dyno"} {
		g, err := d.RequestStats(ctx, store.Filter{App: "a"}, by, 0)
		if err != nil {
			t.Fatal(err)
		}
		out["requests by "+by] = g
	}
	mem, _ := d.Memory(ctx, store.Filter{App: "a"})
	out["memory"] = mem
	errs, _ := d.Errors(ctx, store.Filter{App: "a"})
	out["errors"] = errs
	alerts, _ := d.Alerts(ctx, store.Filter{App: "a"})
	var al []string
	for _, a := range alerts {
		st, n, _, _ := d.DeliveryStatus(ctx, a.ID)
		al = append(al, fmt.Sprintf("%s %s %s %s %d", a.Rule, a.State, a.Time, st, n))
	}
	out["alerts"] = al
	return out
}

// TestCopyBothWays: SQLite to PostgreSQL, interrupted and resumed, then
// back to a new SQLite file: every query answers the same each time, and
// nothing is copied twice.
func TestCopyBothWays(t *testing.T) {
	ctx := context.Background()
	src := copySource(t)
	pgURL := pgtest.NewDB(t)
	want := snapshot(t, src)

	// Interrupted after three chunks of 7 rows…
	s, err := openCopyEnd(ctx, "sqlite:"+src, false)
	if err != nil {
		t.Fatal(err)
	}
	d, err := openCopyEnd(ctx, pgURL, true)
	if err != nil {
		t.Fatal(err)
	}
	cp := &copier{batch: 7, out: io.Discard, stopAfter: 3}
	if err := cp.run(ctx, s, d); !errors.Is(err, errCopyStopped) {
		t.Fatalf("interrupted copy: %v", err)
	}
	s.close()
	d.close()
	// …and run again from the command line.
	code, out, errOut := run(t, nil, "", "copy", "--from", "sqlite:"+src, "--to", pgURL, "--batch", "7")
	if code != 0 {
		t.Fatalf("copy: %d %s %s", code, out, errOut)
	}
	if !strings.Contains(out, "frames           31 rows (21 before this run)") || !strings.Contains(out, "memory           30 rows\n") {
		t.Errorf("copy said:\n%s", out)
	}
	if d := diff(snapshot(t, pgURL), want); d != "" {
		t.Errorf("PostgreSQL after the copy:\n%s", d)
	}
	// Run again: everything copied already, nothing doubles.
	if code, out, errOut := run(t, nil, "", "copy", "--from", src, "--to", pgURL); code != 0 {
		t.Fatalf("copy again: %d %s %s", code, out, errOut)
	}
	if d := diff(snapshot(t, pgURL), want); d != "" {
		t.Errorf("PostgreSQL after copying again:\n%s", d)
	}

	back := filepath.Join(t.TempDir(), "back.db")
	if code, out, errOut := run(t, nil, "", "copy", "--from", pgURL, "--to", "sqlite:"+back, "--quiet"); code != 0 {
		t.Fatalf("copy back: %d %s %s", code, out, errOut)
	}
	if d := diff(snapshot(t, back), want); d != "" {
		t.Errorf("SQLite copied back:\n%s", d)
	}
}
