package postgres

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/drainwatch/drainwatch/store"
)

// Load returns load samples matching f, oldest first (with f.Limit, the
// newest f.Limit).
func (db *DB) Load(ctx context.Context, f store.Filter) ([]store.LoadSample, error) {
	db.sync(ctx)
	where, args := whereClause(f)
	rows, err := db.query(ctx, newest(`SELECT time, app, dyno, boot, avg1m, avg5m, avg15m FROM load`, where, "time, app, dyno", f.Limit), args...)
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

// Apps lists the apps with memory samples, by name.
func (db *DB) Apps(ctx context.Context) ([]store.AppSummary, error) {
	db.sync(ctx)
	rows, err := db.query(ctx, `SELECT app, MAX(time) FROM memory GROUP BY app ORDER BY app COLLATE "C"`)
	if err != nil {
		return nil, fmt.Errorf("query apps: %w", err)
	}
	defer rows.Close()
	var out []store.AppSummary
	for rows.Next() {
		var a store.AppSummary
		var last int64
		if err := rows.Scan(&a.App, &last); err != nil {
			return nil, fmt.Errorf("query apps: %w", err)
		}
		a.Last = time.UnixMicro(last).UTC()
		out = append(out, a)
	}
	return out, rows.Err()
}

// EachMemory calls fn with each memory sample matching f, oldest first,
// without holding them all.
func (db *DB) EachMemory(ctx context.Context, f store.Filter, fn func(*store.MemorySample) error) error {
	db.sync(ctx)
	where, args := whereClause(f)
	rows, err := db.query(ctx, newest(memoryColumns, where, "time, app, dyno", f.Limit), args...)
	if err != nil {
		return fmt.Errorf("query memory: %w", err)
	}
	defer rows.Close()
	var s store.MemorySample
	for rows.Next() {
		var t int64
		s = store.MemorySample{}
		if err := rows.Scan(&t, &s.App, &s.Dyno, &s.Boot, &s.TotalMB, &s.RSSMB, &s.CacheMB, &s.SwapMB, &s.PgpgIn, &s.PgpgOut, &s.QuotaMB); err != nil {
			return fmt.Errorf("query memory: %w", err)
		}
		s.Time = time.UnixMicro(t).UTC()
		if err := fn(&s); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("query memory: %w", err)
	}
	return nil
}

// Dynos summarises each dyno with memory samples matching f (Dyno, App,
// Since, Until), ordered by app and dyno. With f.Limit, only the f.Limit
// dynos with the highest memory are summarised (chosen in SQL), and each
// app with more gets an store.OtherDynos row after its dynos.
func (db *DB) Dynos(ctx context.Context, f store.Filter) ([]store.DynoSummary, error) {
	db.sync(ctx)
	where, args := whereClause(f)
	var chosen [][2]string // app, dyno
	var others map[string]store.DynoSummary
	if f.Limit > 0 {
		var err error
		if chosen, others, err = db.topDynos(ctx, where, args, f.Limit); err != nil {
			return nil, err
		}
	}
	var out []store.DynoSummary
	boots := func(where string, args []any) error {
		rows, err := db.query(ctx, `SELECT app, dyno, boot, MIN(time), MAX(time), COUNT(*), MAX(total_mb) FROM memory`+where+
			` GROUP BY app, dyno, boot ORDER BY app COLLATE "C", dyno COLLATE "C", MIN(time)`, args...)
		if err != nil {
			return fmt.Errorf("query dynos: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var app, dyno string
			var b store.BootSummary
			var first, last int64
			var peak *float64
			if err := rows.Scan(&app, &dyno, &b.Boot, &first, &last, &b.Samples, &peak); err != nil {
				return fmt.Errorf("query dynos: %w", err)
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
			if peak != nil && (d.PeakMB == nil || *peak > *d.PeakMB) {
				d.PeakMB = peak
			}
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("query dynos: %w", err)
		}
		return nil
	}
	if f.Limit <= 0 {
		if err := boots(where, args); err != nil {
			return nil, err
		}
	}
	for _, c := range chosen {
		w, a := whereClause(store.Filter{App: c[0], Dyno: c[1], Since: f.Since, Until: f.Until})
		if err := boots(w, a); err != nil {
			return nil, err
		}
	}
	for i := range out {
		d := &out[i]
		d.Restarts = len(d.Boots) - 1
		sort.Slice(d.Boots, func(a, b int) bool { return d.Boots[a].First.Before(d.Boots[b].First) })
		err := db.queryRow(ctx, `SELECT total_mb, quota_mb FROM memory WHERE app = ? AND dyno = ? AND time = ?`,
			d.App, d.Dyno, d.Last.UnixMicro()).Scan(&d.LastMB, &d.LastQuotaMB)
		if err != nil {
			return nil, fmt.Errorf("query dynos: %w", err)
		}
		ef := store.Filter{App: d.App, Dyno: d.Dyno, Since: f.Since, Until: f.Until}
		ew, eargs := whereClause(ef)
		if err := db.queryRow(ctx, `SELECT COUNT(*) FROM errors`+ew+` AND code IN ('R14', 'R15')`, eargs...).Scan(&d.Errors); err != nil {
			return nil, fmt.Errorf("query dynos: %w", err)
		}
	}
	silent, err := db.dynosWithoutMemory(ctx, f)
	if err != nil {
		return nil, err
	}
	if len(others) > 0 {
		if err := db.otherErrors(ctx, f, chosen, others); err != nil {
			return nil, err
		}
	}
	return store.ListDynos(out, silent, others), nil
}

// dynosWithoutMemory summarises the dynos matching f that have error lines
// (R14, H-codes, crashes…) but no memory sample in f's range: those whose
// runtime metrics are off. With f.Limit, the f.Limit with the most R14/R15,
// then the most errors.
func (db *DB) dynosWithoutMemory(ctx context.Context, f store.Filter) ([]store.DynoSummary, error) {
	where, args := whereClause(f)
	if where == "" {
		where = " WHERE TRUE"
	}
	during, args := memoryDuring(f, args)
	rows, err := db.query(ctx, `SELECT app, dyno, MIN(time), MAX(time), COUNT(*) FILTER (WHERE code IN ('R14', 'R15')), COUNT(*) FROM errors`+where+
		` AND dyno <> '' AND NOT EXISTS (SELECT 1 FROM memory m WHERE m.app = errors.app AND m.dyno = errors.dyno`+during+`)
		GROUP BY app, dyno ORDER BY 5 DESC, 6 DESC, app COLLATE "C", dyno COLLATE "C"`+limit(f), args...)
	if err != nil {
		return nil, fmt.Errorf("query dynos without memory samples: %w", err)
	}
	defer rows.Close()
	var out []store.DynoSummary
	for rows.Next() {
		d := store.DynoSummary{Boots: []store.BootSummary{}, NoMemorySamples: true}
		var first, last, all int64
		if err := rows.Scan(&d.App, &d.Dyno, &first, &last, &d.Errors, &all); err != nil {
			return nil, fmt.Errorf("query dynos without memory samples: %w", err)
		}
		d.First, d.Last = time.UnixMicro(first).UTC(), time.UnixMicro(last).UTC()
		out = append(out, d)
	}
	return out, rows.Err()
}

// topDynosQuery groups the memory samples of a WHERE clause by dyno once,
// and answers from that both the dynos with the highest memory (a row each,
// dyno set, up to LIMIT ?) and, per app, the others summed (dyno NULL): how
// many, first and last seen, peak. As in store/sqlite: ties by app and dyno
// bytewise (COLLATE "C"), as SQLite and store.FoldDynos order them.
const topDynosQuery = `WITH d AS MATERIALIZED (
		SELECT app, dyno, MIN(time) AS first, MAX(time) AS last, MAX(total_mb) AS peak FROM memory%s GROUP BY app, dyno),
	top AS MATERIALIZED (SELECT app, dyno FROM d ORDER BY peak DESC NULLS LAST, app COLLATE "C", dyno COLLATE "C" LIMIT ?)
	SELECT app, dyno, 0::bigint, 0::bigint, NULL::double precision, 0::bigint FROM top
	UNION ALL
	SELECT app, NULL, MIN(first), MAX(last), MAX(peak), COUNT(*) FROM d
	WHERE NOT EXISTS (SELECT 1 FROM top WHERE top.app = d.app AND top.dyno = d.dyno) GROUP BY app`

// topDynos returns the n dynos with the highest memory the WHERE clause
// selects, by app and dyno, and per app with more an store.OtherDynos row
// summing the others (their R14/R15 not yet counted: otherErrors).
func (db *DB) topDynos(ctx context.Context, where string, args []any, n int) ([][2]string, map[string]store.DynoSummary, error) {
	rows, err := db.query(ctx, fmt.Sprintf(topDynosQuery, where), append(args, n)...)
	if err != nil {
		return nil, nil, fmt.Errorf("query dynos: %w", err)
	}
	defer rows.Close()
	var chosen [][2]string
	others := map[string]store.DynoSummary{}
	for rows.Next() {
		var app string
		var dyno *string
		var first, last, count int64
		var peak *float64
		if err := rows.Scan(&app, &dyno, &first, &last, &peak, &count); err != nil {
			return nil, nil, fmt.Errorf("query dynos: %w", err)
		}
		if dyno != nil {
			chosen = append(chosen, [2]string{app, *dyno})
			continue
		}
		others[app] = store.DynoSummary{App: app, Dyno: store.OtherDynos, First: time.UnixMicro(first).UTC(), Last: time.UnixMicro(last).UTC(),
			PeakMB: peak, Dynos: int(count), Boots: []store.BootSummary{}}
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("query dynos: %w", err)
	}
	sort.Slice(chosen, func(i, j int) bool {
		if chosen[i][0] != chosen[j][0] {
			return chosen[i][0] < chosen[j][0]
		}
		return chosen[i][1] < chosen[j][1]
	})
	return chosen, others, nil
}

// otherErrors adds to each app's (other) row the R14/R15 in f's range of
// the dynos it sums: those with memory samples in the range, but not in
// chosen (dynos without memory samples are listed apart).
func (db *DB) otherErrors(ctx context.Context, f store.Filter, chosen [][2]string, others map[string]store.DynoSummary) error {
	skip := make(map[[2]string]bool, len(chosen))
	for _, c := range chosen {
		skip[c] = true
	}
	where, args := whereClause(f)
	if where == "" {
		where = " WHERE TRUE"
	}
	during, args := memoryDuring(f, args)
	rows, err := db.query(ctx, `SELECT app, dyno, COUNT(*) FROM errors`+where+` AND code IN ('R14', 'R15')
		AND EXISTS (SELECT 1 FROM memory m WHERE m.app = errors.app AND m.dyno = errors.dyno`+during+`) GROUP BY app, dyno`, args...)
	if err != nil {
		return fmt.Errorf("query dynos: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var app, dyno string
		var n int64
		if err := rows.Scan(&app, &dyno, &n); err != nil {
			return fmt.Errorf("query dynos: %w", err)
		}
		if d, ok := others[app]; ok && !skip[[2]string{app, dyno}] {
			d.Errors += n
			others[app] = d
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("query dynos: %w", err)
	}
	return nil
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
		where = " WHERE TRUE"
	}
	// Runtime metrics come every ~20 s: the samples within the first 20 s of
	// each bucket are about one a bucket.
	where += fmt.Sprintf(" AND time %% %d < %d", step.Microseconds(), (20 * time.Second).Microseconds())
	return db.memory(ctx, where, 0, args)
}

// memoryDuring is the condition on memory rows m within f's range, for a
// subquery, with args extended by its values.
func memoryDuring(f store.Filter, args []any) (string, []any) {
	during := ""
	if !f.Since.IsZero() {
		during += " AND m.time >= ?"
		args = append(args, f.Since.UnixMicro())
	}
	if !f.Until.IsZero() {
		during += " AND m.time < ?"
		args = append(args, f.Until.UnixMicro())
	}
	return during, args
}
