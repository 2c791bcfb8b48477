package store

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Filter narrows a query. Zero values mean "any".
type Filter struct {
	App   string
	Dyno  string
	Since time.Time // inclusive
	Until time.Time // exclusive
	Limit int       // 0: no limit
}

// where builds the WHERE clause for f over a table with app, dyno and time
// columns.
func (f Filter) where() (string, []any) {
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

func (f Filter) limit() string {
	if f.Limit > 0 {
		return fmt.Sprintf(" LIMIT %d", f.Limit)
	}
	return ""
}

// MemorySample is one runtime-metrics memory sample. Pointer fields are nil
// where the line did not say (no quota on old lines).
type MemorySample struct {
	Time    time.Time `json:"time"`
	App     string    `json:"app"`
	Dyno    string    `json:"dyno"`
	Boot    string    `json:"boot"`
	TotalMB *float64  `json:"memory_total_mb"`
	RSSMB   *float64  `json:"memory_rss_mb"`
	CacheMB *float64  `json:"memory_cache_mb"`
	SwapMB  *float64  `json:"memory_swap_mb"`
	PgpgIn  *int64    `json:"memory_pgpgin_pages"`
	PgpgOut *int64    `json:"memory_pgpgout_pages"`
	QuotaMB *float64  `json:"memory_quota_mb"`
}

// Memory returns memory samples matching f, oldest first.
func (db *DB) Memory(ctx context.Context, f Filter) ([]MemorySample, error) {
	db.sync(ctx)
	where, args := f.where()
	return db.memory(ctx, where, f.limit(), args)
}

// memory reads memory samples with a WHERE clause, oldest first.
func (db *DB) memory(ctx context.Context, where, limit string, args []any) ([]MemorySample, error) {
	rows, err := db.ro.QueryContext(ctx, `SELECT time, app, dyno, boot, total_mb, rss_mb, cache_mb, swap_mb, pgpgin, pgpgout, quota_mb
		FROM memory`+where+` ORDER BY time, app, dyno`+limit, args...)
	if err != nil {
		return nil, fmt.Errorf("query memory: %w", err)
	}
	defer rows.Close()
	out := []MemorySample{}
	for rows.Next() {
		var s MemorySample
		var t int64
		if err := rows.Scan(&t, &s.App, &s.Dyno, &s.Boot, &s.TotalMB, &s.RSSMB, &s.CacheMB, &s.SwapMB, &s.PgpgIn, &s.PgpgOut, &s.QuotaMB); err != nil {
			return nil, fmt.Errorf("query memory: %w", err)
		}
		s.Time = time.UnixMicro(t).UTC()
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("query memory: %w", err)
	}
	return out, nil
}

// ErrorEvent is a memory error, platform error, router error or crash.
type ErrorEvent struct {
	Time    time.Time `json:"time"`
	App     string    `json:"app"`
	Dyno    string    `json:"dyno"`
	Code    string    `json:"code"`
	Message string    `json:"message"`
	MemMB   *float64  `json:"mem_mb,omitempty"`
	Percent *float64  `json:"percent,omitempty"`
	Dropped *int64    `json:"dropped,omitempty"`
}

// Errors returns error events matching f, oldest first. codes, when given,
// keeps only those codes (e.g. "R14", "H12", "mem", "crash").
func (db *DB) Errors(ctx context.Context, f Filter, codes ...string) ([]ErrorEvent, error) {
	db.sync(ctx)
	where, args := f.where()
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
	rows, err := db.ro.QueryContext(ctx, `SELECT time, app, dyno, code, message, mem_mb, percent, dropped
		FROM errors`+where+` ORDER BY time, rowid`+f.limit(), args...)
	if err != nil {
		return nil, fmt.Errorf("query errors: %w", err)
	}
	defer rows.Close()
	out := []ErrorEvent{}
	for rows.Next() {
		var e ErrorEvent
		var t int64
		if err := rows.Scan(&t, &e.App, &e.Dyno, &e.Code, &e.Message, &e.MemMB, &e.Percent, &e.Dropped); err != nil {
			return nil, fmt.Errorf("query errors: %w", err)
		}
		e.Time = time.UnixMicro(t).UTC()
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("query errors: %w", err)
	}
	return out, nil
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

// MinuteCount is how many requests a dyno served in one minute.
type MinuteCount struct {
	App  string
	Dyno string
	T    time.Time // the minute's start
	N    int
}

// RequestsPerMinute counts router requests per (app, dyno, minute) matching
// f, oldest first, from the minute rollups.
func (db *DB) RequestsPerMinute(ctx context.Context, f Filter) ([]MinuteCount, error) {
	db.sync(ctx)
	where, args := rollupWhere(f, resMinute, f.Since, f.Until, false)
	rows, err := db.ro.QueryContext(ctx, `SELECT app, dyno, start, SUM(count) FROM request_rollups`+where+
		` GROUP BY app, dyno, start ORDER BY start, app, dyno`, args...)
	if err != nil {
		return nil, fmt.Errorf("query requests per minute: %w", err)
	}
	defer rows.Close()
	var out []MinuteCount
	for rows.Next() {
		var c MinuteCount
		var start int64
		if err := rows.Scan(&c.App, &c.Dyno, &start, &c.N); err != nil {
			return nil, fmt.Errorf("query requests per minute: %w", err)
		}
		c.T = time.UnixMicro(start).UTC()
		out = append(out, c)
	}
	return out, rows.Err()
}

// PathMinuteCount is how many requests one dyno served for one path
// template in one minute.
type PathMinuteCount struct {
	App  string
	Dyno string
	Path string
	T    time.Time
	N    int
}

// RequestsPerMinuteByPath counts router requests per (app, dyno, path
// template, minute) matching f, from the minute rollups (kept 2 days).
func (db *DB) RequestsPerMinuteByPath(ctx context.Context, f Filter) ([]PathMinuteCount, error) {
	db.sync(ctx)
	where, args := rollupWhere(f, resMinute, f.Since, f.Until, false)
	rows, err := db.ro.QueryContext(ctx, `SELECT app, dyno, path, start, SUM(count) FROM request_rollups`+where+
		` GROUP BY app, dyno, path, start ORDER BY start`, args...)
	if err != nil {
		return nil, fmt.Errorf("query requests per path: %w", err)
	}
	defer rows.Close()
	var out []PathMinuteCount
	for rows.Next() {
		var c PathMinuteCount
		var start int64
		if err := rows.Scan(&c.App, &c.Dyno, &c.Path, &start, &c.N); err != nil {
			return nil, fmt.Errorf("query requests per path: %w", err)
		}
		c.T = time.UnixMicro(start).UTC()
		out = append(out, c)
	}
	return out, rows.Err()
}
