package sqlite

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/drainwatch/drainwatch/store"
	"github.com/drainwatch/drainwatch/store/rollup"
)

// BenchmarkQueries30Days builds a month of history for 10 dynos at 100
// requests/s (as the retention keeps it: memory samples every 20 s for 30
// days, hourly request rollups for 30 days, minute rollups for the last 2
// days; 20 path templates) and times the two questions people ask most:
// one dyno's memory over 7 days, and the top 20 paths over 24 hours.
// Target: each under 300 ms.
//
//	go test ./store/sqlite -run XXX -bench Queries30Days -benchtime 10x
func BenchmarkQueries30Days(b *testing.B) { benchQueries30Days(b, false) }

// BenchmarkQueries30DaysNoHours is the same month as minute rows only, as
// it would be stored without hour folding (and minute rollups kept 30
// days): what the hour rows save the queries.
func BenchmarkQueries30DaysNoHours(b *testing.B) { benchQueries30Days(b, true) }

func benchQueries30Days(b *testing.B, minutesOnly bool) {
	ctx := context.Background()
	path := filepath.Join(b.TempDir(), "month.db")
	db, err := Open(ctx, path, Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	end := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	start := end.Add(-30 * 24 * time.Hour)
	rng := rand.New(rand.NewPCG(1, 1))
	dynos := 10
	templates := 20
	perMinute := 100 * 60 / dynos / templates // requests per minute per (dyno, template)

	// Sketches of realistic service and connect times, encoded once.
	var sketches [8][]byte
	for i := range sketches {
		s := rollup.NewSketch()
		for j := 0; j < perMinute*60; j++ {
			s.Add(float64(5 + rng.IntN(200) + rng.IntN(20)*rng.IntN(50)))
		}
		s.Encode(&sketches[i], false)
	}
	conn := rollup.NewSketch()
	for j := 0; j < 100; j++ {
		conn.Add(float64(rng.IntN(3)))
	}
	var connect []byte
	conn.Encode(&connect, false)
	// A minute's sketches, for the minute rows of the month without hours.
	var minuteSketches [8][]byte
	for i := range minuteSketches {
		s := rollup.NewSketch()
		for j := 0; j < perMinute; j++ {
			s.Add(float64(5 + rng.IntN(200) + rng.IntN(20)*rng.IntN(50)))
		}
		s.Encode(&minuteSketches[i], false)
	}

	setup := time.Now()
	tx, _ := db.rw.Begin()
	mem, _ := tx.Prepare(`INSERT INTO memory (app, time, dyno, boot, total_mb, rss_mb, cache_mb, swap_mb, pgpgin, pgpgout, quota_mb) VALUES ('app', ?, ?, ?, ?, ?, 1, 0, 100, 10, 512)`)
	for t := start; t.Before(end); t = t.Add(20 * time.Second) {
		for d := 1; d <= dynos; d++ {
			day := int(t.Sub(start).Hours() / 24)
			mb := 250 + float64(t.Sub(start.Add(time.Duration(day)*24*time.Hour)).Minutes())/20
			mem.Exec(t.UnixMicro(), fmt.Sprintf("web.%d", d), fmt.Sprintf("boot-%d-%d", d, day), mb, mb-5)
		}
	}
	roll, _ := tx.Prepare(`INSERT INTO request_rollups (app, res, start, dyno, path, class, count, errors, bytes, codes, service, connect, folded)
		VALUES ('app', ?, ?, ?, ?, '2xx', ?, ?, ?, ?, ?, ?, 1)`)
	if minutesOnly {
		unfolded, _ := tx.Prepare(`INSERT INTO request_rollups (app, res, start, dyno, path, class, count, errors, bytes, codes, service, connect, folded)
			VALUES ('app', 60, ?, ?, ?, '2xx', ?, 0, ?, '', ?, ?, 0)`)
		for t := start; t.Before(end); t = t.Add(time.Minute) {
			for d := 1; d <= dynos; d++ {
				for p := 0; p < templates; p++ {
					unfolded.Exec(t.UnixMicro(), fmt.Sprintf("web.%d", d), fmt.Sprintf("/resource%d/:id", p), perMinute, perMinute*2000, minuteSketches[(d*p)%8], connect)
				}
			}
		}
	}
	for t := start; t.Before(end) && !minutesOnly; t = t.Add(time.Hour) {
		for d := 1; d <= dynos; d++ {
			for p := 0; p < templates; p++ {
				roll.Exec(3600, t.UnixMicro(), fmt.Sprintf("web.%d", d), fmt.Sprintf("/resource%d/:id", p), perMinute*60, 1, perMinute*60*2000, "H12=1", sketches[(d+p)%8], connect)
			}
		}
	}
	for t := end.Add(-48 * time.Hour); t.Before(end) && !minutesOnly; t = t.Add(time.Minute) {
		for d := 1; d <= dynos; d++ {
			for p := 0; p < templates; p++ {
				roll.Exec(60, t.UnixMicro(), fmt.Sprintf("web.%d", d), fmt.Sprintf("/resource%d/:id", p), perMinute, 0, perMinute*2000, "", sketches[(d*p)%8], connect)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	db.rw.Exec("PRAGMA wal_checkpoint(TRUNCATE)")
	st, _ := os.Stat(path)
	b.Logf("history built in %v: %.0f MB", time.Since(setup).Round(time.Second), float64(st.Size())/(1<<20))

	now := end.Add(-17 * time.Minute) // "now" is not on an hour boundary
	b.Run("mem/one-dyno/7d", func(b *testing.B) {
		for b.Loop() {
			rows, err := db.Memory(ctx, store.Filter{App: "app", Dyno: "web.3", Since: now.Add(-7 * 24 * time.Hour), Until: now})
			if err != nil || len(rows) < 30000 {
				b.Fatalf("%d rows, %v", len(rows), err)
			}
		}
	})
	b.Run("requests/top20/24h", func(b *testing.B) {
		for b.Loop() {
			groups, err := db.RequestStats(ctx, store.Filter{App: "app", Since: now.Add(-24 * time.Hour), Until: now}, "path", 20)
			if err != nil || len(groups) != 20 || groups[0].ServiceP99 == 0 {
				b.Fatalf("%d groups, %v", len(groups), err)
			}
		}
	})
	b.Run("dashboard/30d/all-dynos", func(b *testing.B) {
		f := store.Filter{App: "app", Since: now.Add(-30 * 24 * time.Hour), Until: now}
		for b.Loop() {
			mem, err := db.MemoryBuckets(ctx, f, 30*24*time.Hour/600)
			if err != nil || len(mem) < 5000 {
				b.Fatalf("%d buckets, %v", len(mem), err)
			}
			series, err := db.RequestSeries(ctx, f, 30*24*time.Hour/600)
			if err != nil || len(series) < 5000 {
				b.Fatalf("%d points, %v", len(series), err)
			}
		}
	})
	b.Run("requests/top20/24h/by-dyno", func(b *testing.B) {
		for b.Loop() {
			groups, err := db.RequestStats(ctx, store.Filter{App: "app", Since: now.Add(-24 * time.Hour), Until: now}, "dyno", 20)
			if err != nil || len(groups) != dynos {
				b.Fatalf("%d groups, %v", len(groups), err)
			}
		}
	})
}

// BenchmarkDynosOneOff times Dynos with a limit (the 100 dynos with the
// highest memory, and the others summed in one (other) row) on the
// many-dyno load of drainwatch-bench --adversarial: 100,000 one-off dynos
// (run.N) with two memory samples each, in a 6-hour range as the page asks.
//
//	go test ./store/sqlite -run XXX -bench DynosOneOff -benchtime 10x
func BenchmarkDynosOneOff(b *testing.B) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(b.TempDir(), "oneoff.db"), Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	end := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	const n = 100000
	tx, _ := db.rw.Begin()
	mem, _ := tx.Prepare(`INSERT INTO memory (app, time, dyno, boot, total_mb, rss_mb, quota_mb) VALUES ('app', ?, ?, ?, ?, ?, 512)`)
	for i := range n {
		for j := range 2 {
			t := end.Add(-2*time.Minute + time.Duration(i*2+j)*600*time.Microsecond)
			mb := float64(100 + (i*7919)%400 + j)
			mem.Exec(t.UnixMicro(), fmt.Sprintf("run.%d", i), fmt.Sprintf("boot-%d", i), mb, mb-5)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	f := store.Filter{App: "app", Since: end.Add(-6 * time.Hour), Until: end, Limit: 100}
	for b.Loop() {
		dynos, err := db.Dynos(ctx, f)
		if err != nil || len(dynos) != 101 || dynos[100].Dynos != n-100 {
			b.Fatalf("%d dynos, %v", len(dynos), err)
		}
	}
}
