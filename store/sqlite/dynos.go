package sqlite

import (
	"context"
	"database/sql"
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
	return collect(ctx, db.ro, "query load", `SELECT time, app, dyno, boot, avg1m, avg5m, avg15m FROM load`+newest("load", where, "time, app, dyno", f.Limit), args,
		func(r *sql.Rows) (s store.LoadSample, err error) {
			var t int64
			err = r.Scan(&t, &s.App, &s.Dyno, &s.Boot, &s.Avg1m, &s.Avg5m, &s.Avg15m)
			s.Time = micros(t)
			return s, err
		})
}

// Apps lists the apps with memory samples, by name.
func (db *DB) Apps(ctx context.Context) ([]store.AppSummary, error) {
	db.sync(ctx)
	return collect(ctx, db.ro, "query apps", `SELECT app, MAX(time) FROM memory GROUP BY app ORDER BY app`, nil,
		func(r *sql.Rows) (a store.AppSummary, err error) {
			var last int64
			err = r.Scan(&a.App, &last)
			a.Last = micros(last)
			return a, err
		})
}

// EachMemory calls fn with each memory sample matching f, oldest first
// (with f.Limit, the newest f.Limit), without holding them all.
func (db *DB) EachMemory(ctx context.Context, f store.Filter, fn func(*store.MemorySample) error) error {
	db.sync(ctx)
	where, args := whereClause(f)
	var s store.MemorySample
	return eachRow(ctx, db.ro, "query memory", memoryQuery+newest("memory", where, "time, app, dyno", f.Limit), args, func(r *sql.Rows) error {
		if err := scanMemory(r, &s); err != nil {
			return err
		}
		return fn(&s)
	})
}

// Dynos summarises each dyno with memory samples matching f (Dyno, App,
// Since, Until), and each with error lines but no memory sample (marked
// NoMemorySamples), ordered by app and dyno. With f.Limit, only the f.Limit
// dynos with the highest memory are summarised (chosen in SQL), and each
// app with more gets an store.OtherDynos row after its dynos; of those
// without memory samples, the f.Limit with the most R14/R15.
func (db *DB) Dynos(ctx context.Context, f store.Filter) ([]store.DynoSummary, error) {
	db.sync(ctx)
	var out []store.DynoSummary
	var chosen [][2]string // app, dyno
	var others map[string]store.DynoSummary
	if f.Limit <= 0 {
		where, args := whereClause(f)
		if err := db.boots(ctx, where, args, &out); err != nil {
			return nil, err
		}
	} else {
		var err error
		if chosen, others, err = db.topDynos(ctx, f); err != nil {
			return nil, err
		}
		for _, c := range chosen {
			bc := new(conds).match(c[0], c[1], "time", f.Since, f.Until)
			if err := db.boots(ctx, bc.where(), bc.args, &out); err != nil {
				return nil, err
			}
		}
	}
	for i := range out {
		if err := db.lastAndErrors(ctx, &out[i], f); err != nil {
			return nil, err
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

// topDynosQuery groups the memory samples of a WHERE clause by dyno once,
// and answers from that both the dynos with the highest memory (a row each,
// dyno set, up to LIMIT ?) and, per app, the others summed (dyno NULL): how
// many, first and last seen, peak. Grouping twice (the top, then the
// others) took twice as long on 100,000 one-off dynos.
const topDynosQuery = `WITH d AS MATERIALIZED (
		SELECT app, dyno, MIN(time) AS first, MAX(time) AS last, MAX(total_mb) AS peak FROM memory%s GROUP BY app, dyno),
	top AS MATERIALIZED (SELECT app, dyno FROM d ORDER BY peak DESC NULLS LAST, app, dyno LIMIT ?)
	SELECT app, dyno, 0, 0, NULL, 0 FROM top
	UNION ALL
	SELECT app, NULL, MIN(first), MAX(last), MAX(peak), COUNT(*) FROM d
	WHERE NOT EXISTS (SELECT 1 FROM top WHERE top.app = d.app AND top.dyno = d.dyno) GROUP BY app`

// topDynos returns the f.Limit dynos with the highest memory in f's range,
// by app and dyno, and per app with more an store.OtherDynos row summing the
// others (their R14/R15 not yet counted: otherErrors).
func (db *DB) topDynos(ctx context.Context, f store.Filter) ([][2]string, map[string]store.DynoSummary, error) {
	where, args := whereClause(f)
	var chosen [][2]string
	others := map[string]store.DynoSummary{}
	err := eachRow(ctx, db.ro, "query dynos", fmt.Sprintf(topDynosQuery, where), append(args, f.Limit), func(r *sql.Rows) error {
		var app string
		var dyno *string
		var first, last int64
		var peak *float64
		var n int
		if err := r.Scan(&app, &dyno, &first, &last, &peak, &n); err != nil {
			return err
		}
		if dyno != nil {
			chosen = append(chosen, [2]string{app, *dyno})
			return nil
		}
		others[app] = store.DynoSummary{App: app, Dyno: store.OtherDynos, First: micros(first), Last: micros(last),
			PeakMB: peak, Dynos: n, Boots: []store.BootSummary{}}
		return nil
	})
	sort.Slice(chosen, func(i, j int) bool {
		if chosen[i][0] != chosen[j][0] {
			return chosen[i][0] < chosen[j][0]
		}
		return chosen[i][1] < chosen[j][1]
	})
	return chosen, others, err
}

// boots appends to out a summary of each dyno with memory samples the
// WHERE clause selects, with its boots: first and last seen, samples, peak.
func (db *DB) boots(ctx context.Context, where string, args []any, out *[]store.DynoSummary) error {
	return eachRow(ctx, db.ro, "query dynos", `SELECT app, dyno, boot, MIN(time), MAX(time), COUNT(*), MAX(total_mb) FROM memory`+where+
		` GROUP BY app, dyno, boot ORDER BY app, dyno, MIN(time)`, args, func(r *sql.Rows) error {
		var app, dyno string
		var b store.BootSummary
		var first, last int64
		var peak *float64
		if err := r.Scan(&app, &dyno, &b.Boot, &first, &last, &b.Samples, &peak); err != nil {
			return err
		}
		b.First, b.Last = micros(first), micros(last)
		if peak != nil {
			b.PeakMB = *peak
		}
		if n := len(*out); n == 0 || (*out)[n-1].App != app || (*out)[n-1].Dyno != dyno {
			*out = append(*out, store.DynoSummary{App: app, Dyno: dyno, First: b.First})
		}
		d := &(*out)[len(*out)-1]
		d.Boots = append(d.Boots, b)
		if b.Last.After(d.Last) {
			d.Last = b.Last
		}
		if peak != nil && (d.PeakMB == nil || *peak > *d.PeakMB) {
			d.PeakMB = peak
		}
		return nil
	})
}

// lastAndErrors completes d: its restarts, its last sample against the
// quota, and its R14/R15 in f's range.
func (db *DB) lastAndErrors(ctx context.Context, d *store.DynoSummary, f store.Filter) error {
	d.Restarts = len(d.Boots) - 1
	sort.Slice(d.Boots, func(a, b int) bool { return d.Boots[a].First.Before(d.Boots[b].First) })
	err := db.ro.QueryRowContext(ctx, `SELECT total_mb, quota_mb FROM memory WHERE app = ? AND dyno = ? AND time = ?`,
		d.App, d.Dyno, d.Last.UnixMicro()).Scan(&d.LastMB, &d.LastQuotaMB)
	if err != nil {
		return fmt.Errorf("query dynos: %w", err)
	}
	ec := new(conds).match(d.App, d.Dyno, "time", f.Since, f.Until).add("code IN ('R14', 'R15')")
	if err := db.ro.QueryRowContext(ctx, `SELECT COUNT(*) FROM errors`+ec.where(), ec.args...).Scan(&d.Errors); err != nil {
		return fmt.Errorf("query dynos: %w", err)
	}
	return nil
}

// dynosWithoutMemory summarises the dynos matching f that have error lines
// (R14, H-codes, crashes…) but no memory sample in f's range: those whose
// runtime metrics are off. With f.Limit, the f.Limit with the most R14/R15,
// then the most errors.
func (db *DB) dynosWithoutMemory(ctx context.Context, f store.Filter) ([]store.DynoSummary, error) {
	sampled := new(conds).add("m.app = errors.app").add("m.dyno = errors.dyno").match("", "", "m.time", f.Since, f.Until)
	c := new(conds).filter(f).add("dyno != ''").add("NOT EXISTS (SELECT 1 FROM memory m"+sampled.where()+")", sampled.args...)
	return collect(ctx, db.ro, "query dynos without memory samples", `SELECT app, dyno, MIN(time), MAX(time), SUM(code IN ('R14', 'R15')), COUNT(*)
		FROM errors`+c.where()+` GROUP BY app, dyno ORDER BY 5 DESC, 6 DESC, app, dyno`+limit(f), c.args,
		func(r *sql.Rows) (store.DynoSummary, error) {
			d := store.DynoSummary{Boots: []store.BootSummary{}, NoMemorySamples: true}
			var first, last, all int64
			err := r.Scan(&d.App, &d.Dyno, &first, &last, &d.Errors, &all)
			d.First, d.Last = micros(first), micros(last)
			return d, err
		})
}

// otherErrors adds to each app's (other) row the R14/R15 in f's range of
// the dynos it sums: those with memory samples in the range, but not in
// chosen (dynos without memory samples are listed apart).
func (db *DB) otherErrors(ctx context.Context, f store.Filter, chosen [][2]string, others map[string]store.DynoSummary) error {
	skip := make(map[[2]string]bool, len(chosen))
	for _, c := range chosen {
		skip[c] = true
	}
	sampled := new(conds).add("m.app = errors.app").add("m.dyno = errors.dyno").match("", "", "m.time", f.Since, f.Until)
	ec := new(conds).filter(f).add("code IN ('R14', 'R15')").add("EXISTS (SELECT 1 FROM memory m"+sampled.where()+")", sampled.args...)
	return eachRow(ctx, db.ro, "query dynos", `SELECT app, dyno, COUNT(*) FROM errors`+ec.where()+` GROUP BY app, dyno`, ec.args, func(r *sql.Rows) error {
		var app, dyno string
		var n int64
		if err := r.Scan(&app, &dyno, &n); err != nil {
			return err
		}
		if d, ok := others[app]; ok && !skip[[2]string{app, dyno}] {
			d.Errors += n
			others[app] = d
		}
		return nil
	})
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
	// Runtime metrics come every ~20 s: the samples within the first 20 s of
	// each bucket are about one a bucket.
	c := new(conds).filter(f).add("time % ? < ?", step.Microseconds(), (20 * time.Second).Microseconds())
	return db.memory(ctx, c.where(), 0, c.args)
}
