package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/drainwatch/drainwatch/store"
	"github.com/drainwatch/drainwatch/store/rollup"
)

// whereClause builds the WHERE clause for f over a table with app, dyno and time
// columns.
func whereClause(f store.Filter) (string, []any) {
	var conds []string
	var args []any
	if f.App != "" {
		conds = append(conds, "app = ?")
		args = append(args, f.App)
	}
	if f.Dyno != "" {
		conds = append(conds, "dyno = ?")
		args = append(args, f.Dyno)
	}
	if !f.Since.IsZero() {
		conds = append(conds, "time >= ?")
		args = append(args, f.Since.UnixMicro())
	}
	if !f.Until.IsZero() {
		conds = append(conds, "time < ?")
		args = append(args, f.Until.UnixMicro())
	}
	if len(conds) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

func limit(f store.Filter) string {
	if f.Limit > 0 {
		return fmt.Sprintf(" LIMIT %d", f.Limit)
	}
	return ""
}

// newest is a list query: sel ("SELECT cols FROM table") with where,
// oldest first by order (ascending columns, all among cols); with limit > 0
// only the newest limit rows, still oldest first.
func newest(sel, where, order string, limit int) string {
	if limit <= 0 {
		return sel + where + " ORDER BY " + order
	}
	desc := strings.ReplaceAll(order, ",", " DESC,") + " DESC"
	return fmt.Sprintf("SELECT * FROM (%s%s ORDER BY %s LIMIT %d) AS newest ORDER BY %s", sel, where, desc, limit, order)
}

// newestByID is newest for a table with a unique id column, which order
// ends with but sel need not select.
func newestByID(sel, from, id, where, order string, limit int) string {
	if limit <= 0 {
		return sel + where + " ORDER BY " + order
	}
	desc := strings.ReplaceAll(order, ",", " DESC,") + " DESC"
	return fmt.Sprintf("%s WHERE %s IN (SELECT %s FROM %s%s ORDER BY %s LIMIT %d) ORDER BY %s", sel, id, id, from, where, desc, limit, order)
}

// Memory returns memory samples matching f, oldest first (with f.Limit, the
// newest f.Limit).
func (db *DB) Memory(ctx context.Context, f store.Filter) ([]store.MemorySample, error) {
	db.sync(ctx)
	where, args := whereClause(f)
	return db.memory(ctx, where, f.Limit, args)
}

// memoryColumns selects what a memory sample is read from.
const memoryColumns = `SELECT time, app, dyno, boot, total_mb, rss_mb, cache_mb, swap_mb, pgpgin, pgpgout, quota_mb FROM memory`

// memory reads memory samples with a WHERE clause, oldest first (with
// limit > 0, the newest limit).
func (db *DB) memory(ctx context.Context, where string, limit int, args []any) ([]store.MemorySample, error) {
	return collect(ctx, db, "query memory", newest(memoryColumns, where, "time, app, dyno", limit), args, func(r pgx.CollectableRow) (store.MemorySample, error) {
		var s store.MemorySample
		var t int64
		err := r.Scan(&t, &s.App, &s.Dyno, &s.Boot, &s.TotalMB, &s.RSSMB, &s.CacheMB, &s.SwapMB, &s.PgpgIn, &s.PgpgOut, &s.QuotaMB)
		s.Time = time.UnixMicro(t).UTC()
		return s, err
	})
}

// Errors returns error events matching f, oldest first. codes, when given,
// keeps only those codes (e.g. "R14", "H12", "mem", "crash").
func (db *DB) Errors(ctx context.Context, f store.Filter, codes ...string) ([]store.ErrorEvent, error) {
	db.sync(ctx)
	where, args := whereClause(f)
	if len(codes) > 0 {
		ph := strings.TrimSuffix(strings.Repeat("?, ", len(codes)), ", ")
		if where == "" {
			where = " WHERE "
		} else {
			where += " AND "
		}
		where += "code IN (" + ph + ")"
		for _, c := range codes {
			args = append(args, c)
		}
	}
	return collect(ctx, db, "query errors", newestByID(`SELECT time, app, dyno, code, message, mem_mb, percent, dropped
		FROM errors`, "errors", "id", where, "time, id", f.Limit), args, func(r pgx.CollectableRow) (store.ErrorEvent, error) {
		var e store.ErrorEvent
		var t int64
		err := r.Scan(&t, &e.App, &e.Dyno, &e.Code, &e.Message, &e.MemMB, &e.Percent, &e.Dropped)
		e.Time = time.UnixMicro(t).UTC()
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
		if err := db.queryRow(ctx, "SELECT COUNT(*) FROM "+t).Scan(&n); err != nil {
			return nil, fmt.Errorf("count %s: %w", t, err)
		}
		out[t] = n
	}
	var routed int64
	if err := db.queryRow(ctx, "SELECT COALESCE(SUM(count), 0)::bigint FROM request_rollups WHERE res = 60").Scan(&routed); err != nil {
		return nil, fmt.Errorf("count rollups: %w", err)
	}
	out["router_lines"] = routed
	var appLines int64
	if err := db.queryRow(ctx, "SELECT COALESCE(SUM(lines), 0)::bigint FROM app_logs").Scan(&appLines); err != nil {
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
	return collect(ctx, db, "query requests per minute", `SELECT app, dyno, start, SUM(count)::bigint FROM request_rollups`+where+
		` GROUP BY app, dyno, start ORDER BY start, app, dyno`, args, func(r pgx.CollectableRow) (store.MinuteCount, error) {
		var c store.MinuteCount
		var start int64
		err := r.Scan(&c.App, &c.Dyno, &start, &c.N)
		c.T = time.UnixMicro(start).UTC()
		return c, err
	})
}

// RequestsPerMinuteByPath counts router requests per (app, dyno, path
// template, minute) matching f, from the minute rollups (kept 2 days).
func (db *DB) RequestsPerMinuteByPath(ctx context.Context, f store.Filter) ([]store.PathMinuteCount, error) {
	db.sync(ctx)
	where, args := rollupWhere(f, rollup.Minute, f.Since, f.Until, false)
	return collect(ctx, db, "query requests per path", `SELECT app, dyno, path, start, SUM(count)::bigint FROM request_rollups`+where+
		` GROUP BY app, dyno, path, start ORDER BY start`, args, scanPathMinute)
}

func scanPathMinute(r pgx.CollectableRow) (store.PathMinuteCount, error) {
	var c store.PathMinuteCount
	var start int64
	err := r.Scan(&c.App, &c.Dyno, &c.Path, &start, &c.N)
	c.T = time.UnixMicro(start).UTC()
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
	if err := db.queryRow(ctx, `SELECT COUNT(DISTINCT path) FROM request_rollups`+where, args...).Scan(&paths); err != nil {
		return nil, 0, fmt.Errorf("query requests per path: %w", err)
	}
	q := `WITH top AS (SELECT path FROM request_rollups` + where + ` GROUP BY path ORDER BY SUM(count) DESC, path LIMIT ?)
		SELECT app, dyno, CASE WHEN path IN (SELECT path FROM top) THEN path ELSE ?::text END AS p, start, SUM(count)::bigint
		FROM request_rollups` + where + ` GROUP BY app, dyno, p, start ORDER BY start`
	all := append(append(append([]any{}, args...), top, store.OtherGroups), args...)
	out, err := collect(ctx, db, "query requests per path", q, all, scanPathMinute)
	return out, paths, err
}

// collect runs q and returns a T a row, each made by scan; an empty slice,
// not nil, when there is none (JSON answers [], as from the SQLite backend).
func collect[T any](ctx context.Context, db *DB, what, q string, args []any, scan pgx.RowToFunc[T]) ([]T, error) {
	rows, err := db.query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	out, err := pgx.CollectRows(rows, scan)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}
