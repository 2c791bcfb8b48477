package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/drainwatch/drainwatch/store"
	"github.com/drainwatch/drainwatch/store/postgres/pgtest"
	"github.com/drainwatch/drainwatch/store/rollup"
	"github.com/drainwatch/drainwatch/store/storetest"
)

func openTest(t *testing.T) (*DB, *Writer) {
	t.Helper()
	db, err := Open(context.Background(), pgtest.NewDB(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	w, err := NewWriter(db, WriterOptions{FlushEvery: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close(); db.Close() })
	return db, w
}

// TestFoldCompactsAndTakesLateLines: a minute row holds a delta from each
// flush until folding writes it back merged into one sketch; the hour row
// then answers for the minutes, and a line that comes after its minute
// was folded is added to both.
func TestFoldCompactsAndTakesLateLines(t *testing.T) {
	ctx := context.Background()
	db, w := openTest(t)
	const flushes = 20
	for range flushes {
		if _, err := w.Write(ctx, storetest.Batch(t, "f", "", storetest.RouterBody(0, 10))); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	sketchLen := func(minute int) int {
		var n int
		err := db.pool.QueryRow(ctx, `SELECT octet_length(service) FROM request_rollups WHERE app = 'f' AND res = 60 AND start = $1 AND dyno = 'web.1'`,
			storetest.T0.Add(time.Duration(minute)*time.Minute).UnixMicro()).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	hour := store.Filter{App: "f", Since: storetest.T0, Until: storetest.T0.Add(time.Hour)}
	stats := func() []store.RequestGroup {
		g, err := db.RequestStats(ctx, hour, "path", 0)
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	before, lenBefore := stats(), sketchLen(0)
	if err := db.Fold(ctx); err != nil {
		t.Fatal(err)
	}
	var folded, unfolded int
	if err := db.pool.QueryRow(ctx, `SELECT COUNT(*) FILTER (WHERE folded), COUNT(*) FILTER (WHERE NOT folded) FROM request_rollups WHERE res = 60`).Scan(&folded, &unfolded); err != nil {
		t.Fatal(err)
	}
	// The newest minute is 9: minutes before 6 are settled and folded.
	if folded == 0 || unfolded == 0 {
		t.Fatalf("%d minute rows folded, %d not", folded, unfolded)
	}
	if after := sketchLen(0); after*5 > lenBefore {
		t.Errorf("minute sketch %d bytes after folding, %d before", after, lenBefore)
	}
	after := stats()
	if len(after) != 2 || after[0].Count != before[0].Count || after[0].Count != flushes*60 || after[1].Codes["H12"] != flushes*10 ||
		after[0].ServiceP99 != before[0].ServiceP99 || after[1].ServiceP50 != before[1].ServiceP50 {
		t.Errorf("after folding %+v\nbefore %+v", after, before)
	}
	// A late line of minute 1, folded already.
	if _, err := w.Write(ctx, storetest.Batch(t, "f", "", storetest.RouterBody(1, 2))); err != nil {
		t.Fatal(err)
	}
	if g := stats(); g[0].Count != flushes*60+6 || g[1].Count != flushes*10+1 {
		t.Errorf("with a late minute: %+v", g)
	}
	perMin, err := db.RequestsPerMinute(ctx, store.Filter{App: "f", Dyno: "web.2"})
	if err != nil || len(perMin) != 10 || perMin[1].N != flushes+1 {
		t.Errorf("per minute %+v %v", perMin, err)
	}
}

func TestCodesMergeInSQL(t *testing.T) {
	db, _ := openTest(t)
	for _, c := range [][3]string{
		{"H12=3,H10=1", "H12=2,H13=1", "H10=1,H12=5,H13=1"},
		{"", "H12=2", "H12=2"},
		{"H12=2", "", "H12=2"},
	} {
		var got string
		if err := db.pool.QueryRow(context.Background(), `SELECT dw_codes_merge($1, $2)`, c[0], c[1]).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != c[2] || got != rollup.EncodeCodes(rollup.DecodeCodes(c[1], rollup.DecodeCodes(c[0], nil))) {
			t.Errorf("dw_codes_merge(%q, %q) = %q, want %q", c[0], c[1], got, c[2])
		}
	}
}
