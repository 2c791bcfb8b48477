package sqlite

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/drainwatch/drainwatch/store"
)

// Load returns load samples matching f, oldest first.
func (db *DB) Load(ctx context.Context, f store.Filter) ([]store.LoadSample, error) {
	db.sync(ctx)
	where, args := whereClause(f)
	rows, err := db.ro.QueryContext(ctx, `SELECT time, app, dyno, boot, avg1m, avg5m, avg15m FROM load`+where+` ORDER BY time, app, dyno`+limit(f), args...)
	if err != nil {
		return nil, fmt.Errorf("query load: %w", err)
	}
	defer rows.Close()
	out := []store.LoadSample{}
	for rows.Next() {
		var s store.LoadSample
		var t int64
		if err := rows.Scan(&t, &s.App, &s.Dyno, &s.Boot, &s.Avg1m, &s.Avg5m, &s.Avg15m); err != nil {
			return nil, fmt.Errorf("query load: %w", err)
		}
		s.Time = time.UnixMicro(t).UTC()
		out = append(out, s)
	}
	return out, rows.Err()
}

// Dynos summarises each dyno with memory samples matching f (Dyno, App,
// Since, Until), ordered by app and dyno.
func (db *DB) Dynos(ctx context.Context, f store.Filter) ([]store.DynoSummary, error) {
	db.sync(ctx)
	where, args := whereClause(f)
	rows, err := db.ro.QueryContext(ctx, `SELECT app, dyno, boot, MIN(time), MAX(time), COUNT(*), MAX(total_mb) FROM memory`+where+
		` GROUP BY app, dyno, boot ORDER BY app, dyno, MIN(time)`, args...)
	if err != nil {
		return nil, fmt.Errorf("query dynos: %w", err)
	}
	defer rows.Close()
	var out []store.DynoSummary
	for rows.Next() {
		var app, dyno string
		var b store.BootSummary
		var first, last int64
		var peak *float64
		if err := rows.Scan(&app, &dyno, &b.Boot, &first, &last, &b.Samples, &peak); err != nil {
			return nil, fmt.Errorf("query dynos: %w", err)
		}
		b.First, b.Last = time.UnixMicro(first).UTC(), time.UnixMicro(last).UTC()
		if peak != nil {
			b.PeakMB = *peak
		}
		if n := len(out); n == 0 || out[n-1].App != app || out[n-1].Dyno != dyno {
			out = append(out, store.DynoSummary{App: app, Dyno: dyno, First: b.First})
		}
		d := &out[len(out)-1]
		d.Boots = append(d.Boots, b)
		if b.Last.After(d.Last) {
			d.Last = b.Last
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("query dynos: %w", err)
	}
	rows.Close()
	for i := range out {
		d := &out[i]
		d.Restarts = len(d.Boots) - 1
		sort.Slice(d.Boots, func(a, b int) bool { return d.Boots[a].First.Before(d.Boots[b].First) })
		err := db.ro.QueryRowContext(ctx, `SELECT total_mb, quota_mb FROM memory WHERE app = ? AND dyno = ? AND time = ?`,
			d.App, d.Dyno, d.Last.UnixMicro()).Scan(&d.LastMB, &d.LastQuotaMB)
		if err != nil {
			return nil, fmt.Errorf("query dynos: %w", err)
		}
		ef := store.Filter{App: d.App, Dyno: d.Dyno, Since: f.Since, Until: f.Until}
		ew, eargs := whereClause(ef)
		if err := db.ro.QueryRowContext(ctx, `SELECT COUNT(*) FROM errors`+ew+` AND code IN ('R14', 'R15')`, eargs...).Scan(&d.Errors); err != nil {
			return nil, fmt.Errorf("query dynos: %w", err)
		}
	}
	if out == nil {
		out = []store.DynoSummary{}
	}
	return out, nil
}

// MemoryBuckets returns memory samples for a chart of buckets of step: all
// of them for short ranges, and for long ones thinned in SQL to about one
// per (dyno, bucket) — those in the first 20 s of each bucket — so that the
// dashboard draws a month of 20-second samples without reading them all.
// Spikes between the samples kept do not show; R14/R15 marks come from the
// error lines, not from here.
func (db *DB) MemoryBuckets(ctx context.Context, f store.Filter, step time.Duration) ([]store.MemorySample, error) {
	db.sync(ctx)
	if step <= 5*time.Minute {
		// Up to about two days: every sample (a few thousand a dyno).
		return db.Memory(ctx, f)
	}
	where, args := whereClause(f)
	if where == "" {
		where = " WHERE 1"
	}
	// Runtime metrics come every ~20 s: the samples within the first 20 s of
	// each bucket are about one a bucket.
	where += fmt.Sprintf(" AND time %% %d < %d", step.Microseconds(), (20 * time.Second).Microseconds())
	return db.memory(ctx, where, "", args)
}
