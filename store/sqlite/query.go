package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/drainwatch/drainwatch/store"
	"github.com/drainwatch/drainwatch/store/rollup"
)

func limit(f store.Filter) string {
	if f.Limit > 0 {
		return fmt.Sprintf(" LIMIT %d", f.Limit)
	}
	return ""
}

// newest is the rest of a query after "SELECT … FROM from": the rows where
// selects, oldest first by order (ascending columns, "time, rowid"); with
// limit > 0 only the newest limit of them, still oldest first.
func newest(from, where, order string, limit int) string {
	if limit <= 0 {
		return where + " ORDER BY " + order
	}
	desc := strings.ReplaceAll(order, ",", " DESC,") + " DESC"
	return fmt.Sprintf(" WHERE rowid IN (SELECT rowid FROM %s%s ORDER BY %s LIMIT %d) ORDER BY %s", from, where, desc, limit, order)
}

// Memory returns memory samples matching f, oldest first (with f.Limit,
// the newest f.Limit).
func (db *DB) Memory(ctx context.Context, f store.Filter) ([]store.MemorySample, error) {
	db.sync(ctx)
	where, args := whereClause(f)
	return db.memory(ctx, where, f.Limit, args)
}

// memory reads memory samples with a WHERE clause, oldest first (with
// limit > 0, the newest limit).
func (db *DB) memory(ctx context.Context, where string, limit int, args []any) ([]store.MemorySample, error) {
	return collect(ctx, db.ro, "query memory", memoryQuery+newest("memory", where, "time, app, dyno", limit), args,
		func(r *sql.Rows) (s store.MemorySample, err error) { return s, scanMemory(r, &s) })
}

// memoryQuery selects the columns scanMemory reads.
const memoryQuery = `SELECT time, app, dyno, boot, total_mb, rss_mb, cache_mb, swap_mb, pgpgin, pgpgout, quota_mb FROM memory`

func scanMemory(r *sql.Rows, s *store.MemorySample) error {
	var t int64
	*s = store.MemorySample{}
	err := r.Scan(&t, &s.App, &s.Dyno, &s.Boot, &s.TotalMB, &s.RSSMB, &s.CacheMB, &s.SwapMB, &s.PgpgIn, &s.PgpgOut, &s.QuotaMB)
	s.Time = micros(t)
	return err
}

// Errors returns error events matching f, oldest first (with f.Limit, the
// newest f.Limit). codes, when given,
// keeps only those codes (e.g. "R14", "H12", "mem", "crash").
func (db *DB) Errors(ctx context.Context, f store.Filter, codes ...string) ([]store.ErrorEvent, error) {
	db.sync(ctx)
	c := new(conds).filter(f)
	if len(codes) > 0 {
		args := make([]any, len(codes))
		for i, code := range codes {
			args[i] = code
		}
		c.add("code IN ("+strings.TrimSuffix(strings.Repeat("?, ", len(codes)), ", ")+")", args...)
	}
	return collect(ctx, db.ro, "query errors", `SELECT time, app, dyno, code, message, mem_mb, percent, dropped
		FROM errors`+newest("errors", c.where(), "time, rowid", f.Limit), c.args,
		func(r *sql.Rows) (e store.ErrorEvent, err error) {
			var t int64
			err = r.Scan(&t, &e.App, &e.Dyno, &e.Code, &e.Message, &e.MemMB, &e.Percent, &e.Dropped)
			e.Time = micros(t)
			return e, err
		})
}

// Counts returns how many rows each table holds, how many router lines the
// rollups hold ("router_lines") and how many app lines are kept
// ("app_lines"): a summary for tests and health checks.
func (db *DB) Counts(ctx context.Context) (map[string]int64, error) {
	db.sync(ctx)
	out := map[string]int64{}
	for _, t := range []string{"memory", "load", "requests", "errors", "events", "samples", "logs", "frames"} {
		var n int64
		if err := db.ro.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+t).Scan(&n); err != nil {
			return nil, fmt.Errorf("count %s: %w", t, err)
		}
		out[t] = n
	}
	var routed int64
	if err := db.ro.QueryRowContext(ctx, "SELECT COALESCE(SUM(count), 0) FROM request_rollups WHERE res = 60").Scan(&routed); err != nil {
		return nil, fmt.Errorf("count rollups: %w", err)
	}
	out["router_lines"] = routed
	var appLines int64
	if err := db.ro.QueryRowContext(ctx, "SELECT COALESCE(SUM(lines), 0) FROM app_logs").Scan(&appLines); err != nil {
		return nil, fmt.Errorf("count app lines: %w", err)
	}
	out["app_lines"] = appLines
	return out, nil
}

// RequestsPerMinute counts router requests per (app, dyno, minute) matching
// f, oldest first, from the minute rollups.
func (db *DB) RequestsPerMinute(ctx context.Context, f store.Filter) ([]store.MinuteCount, error) {
	db.sync(ctx)
	where, args := rollupWhere(f, rollup.Minute, f.Since, f.Until, false)
	return collect(ctx, db.ro, "query requests per minute", `SELECT app, dyno, start, SUM(count) FROM request_rollups`+where+
		` GROUP BY app, dyno, start ORDER BY start, app, dyno`, args,
		func(r *sql.Rows) (c store.MinuteCount, err error) {
			var start int64
			err = r.Scan(&c.App, &c.Dyno, &start, &c.N)
			c.T = micros(start)
			return c, err
		})
}

// RequestsPerMinuteByPath counts router requests per (app, dyno, path
// template, minute) matching f, from the minute rollups (kept 2 days).
func (db *DB) RequestsPerMinuteByPath(ctx context.Context, f store.Filter) ([]store.PathMinuteCount, error) {
	db.sync(ctx)
	where, args := rollupWhere(f, rollup.Minute, f.Since, f.Until, false)
	return collect(ctx, db.ro, "query requests per path", `SELECT app, dyno, path, start, SUM(count) FROM request_rollups`+where+
		` GROUP BY app, dyno, path, start ORDER BY start`, args, scanPathMinute)
}

func scanPathMinute(r *sql.Rows) (c store.PathMinuteCount, err error) {
	var start int64
	err = r.Scan(&c.App, &c.Dyno, &c.Path, &start, &c.N)
	c.T = micros(start)
	return c, err
}

// RequestsPerMinuteTopPaths is RequestsPerMinuteByPath for the top paths
// templates by requests, with every other path counted as store.OtherGroups: a
// long tail of paths (random slugs) costs a sort in SQLite, not rows here.
// It also returns how many path templates there were in all.
func (db *DB) RequestsPerMinuteTopPaths(ctx context.Context, f store.Filter, top int) ([]store.PathMinuteCount, int, error) {
	db.sync(ctx)
	where, args := rollupWhere(f, rollup.Minute, f.Since, f.Until, false)
	var paths int
	if err := db.ro.QueryRowContext(ctx, `SELECT COUNT(DISTINCT path) FROM request_rollups`+where, args...).Scan(&paths); err != nil {
		return nil, 0, fmt.Errorf("query requests per path: %w", err)
	}
	q := `WITH top AS (SELECT path FROM request_rollups` + where + ` GROUP BY path ORDER BY SUM(count) DESC, path LIMIT ?)
		SELECT app, dyno, CASE WHEN path IN (SELECT path FROM top) THEN path ELSE ? END AS p, start, SUM(count)
		FROM request_rollups` + where + ` GROUP BY app, dyno, p, start ORDER BY start`
	all := append(append(append([]any{}, args...), top, store.OtherGroups), args...)
	out, err := collect(ctx, db.ro, "query requests per path", q, all, scanPathMinute)
	return out, paths, err
}
