package postgres

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/drainwatch/drainwatch/store"
	"github.com/drainwatch/drainwatch/store/rollup"
)

// rollupWhere selects rollup rows of resolution res with bucket starts in
// [from, to) (zero: unbounded), for f's app and dyno; unfoldedOnly keeps the
// minute rows not yet folded into their hour.
func rollupWhere(f store.Filter, res int64, from, to time.Time, unfoldedOnly bool) (string, []any) {
	conds := []string{"res = ?"}
	args := []any{res}
	if unfoldedOnly {
		conds = append(conds, "NOT folded")
	}
	if f.App != "" {
		conds = append(conds, "app = ?")
		args = append(args, f.App)
	}
	if f.Dyno != "" {
		conds = append(conds, "dyno = ?")
		args = append(args, f.Dyno)
	}
	if !from.IsZero() {
		conds = append(conds, "start >= ?")
		args = append(args, from.UnixMicro())
	}
	if !to.IsZero() {
		conds = append(conds, "start < ?")
		args = append(args, to.UnixMicro())
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

// rollupUnion is the WHERE clause of the rollup rows that cover f's range
// (rollup.Ranges): hour rows and the minute rows not folded into them yet
// for the whole hours, minute rows at the edges.
func rollupUnion(f store.Filter) (string, []any) {
	type part struct {
		res      int64
		from, to time.Time
		unfolded bool
	}
	var parts []part
	hours, hourFrom, hourTo, minutes := rollup.Ranges(f.Since, f.Until)
	if hours {
		parts = append(parts, part{rollup.Hour, hourFrom, hourTo, false}, part{rollup.Minute, hourFrom, hourTo, true})
	}
	for _, m := range minutes {
		parts = append(parts, part{rollup.Minute, m[0], m[1], false})
	}
	var ors []string
	var args []any
	for _, p := range parts {
		w, a := rollupWhere(store.Filter{}, p.res, p.from, p.to, p.unfolded)
		ors = append(ors, "("+strings.TrimPrefix(w, " WHERE ")+")")
		args = append(args, a...)
	}
	where := " WHERE (" + strings.Join(ors, " OR ") + ")"
	if f.App != "" {
		where += " AND app = ?"
		args = append(args, f.App)
	}
	if f.Dyno != "" {
		where += " AND dyno = ?"
		args = append(args, f.Dyno)
	}
	return where, args
}

// RequestStats groups the router lines matching f by "path" (template),
// "status" (class: 2xx…) or "dyno", from the rollups, and returns the top
// groups by count (all when top is 0), then, when there are more, one
// store.OtherGroups row summing the rest. The top groups are chosen in SQL, and
// only their rows are read, so a long tail of groups (random paths) costs
// a sort in SQLite, not memory here. Percentiles come from merged
// DDSketches: within 1% of the true value.
func (db *DB) RequestStats(ctx context.Context, f store.Filter, by string, top int) ([]store.RequestGroup, error) {
	db.sync(ctx)
	var keyCol string
	switch by {
	case "path", "":
		keyCol = "path"
	case "status":
		keyCol = "class"
	case "dyno":
		keyCol = "dyno"
	default:
		return nil, fmt.Errorf("group by %q: want path, status or dyno", by)
	}
	where, args := rollupUnion(f)
	var keys []any // the top groups' keys, when top > 0
	var other store.RequestGroup
	exact := map[string]store.RequestGroup{} // the top groups' counts, from SQL
	var sampleEvery int64                    // > 0: merge the sketches of every sampleEvery-th minute
	if top > 0 {
		rows, err := db.query(ctx, `SELECT k, n, e, b, f, l, r, COUNT(*) OVER (), (SUM(n) OVER ())::bigint, (SUM(e) OVER ())::bigint, (SUM(b) OVER ())::bigint, MIN(f) OVER (), MAX(l) OVER ()
			FROM (SELECT `+keyCol+` AS k, SUM(count)::bigint AS n, SUM(errors)::bigint AS e, SUM(bytes)::bigint AS b, MIN(start) AS f, MAX(start + res * 1000000) AS l, COUNT(*) AS r
				FROM request_rollups`+where+` GROUP BY k) AS g
			ORDER BY n DESC, k LIMIT ?`, append(args, top)...)
		if err != nil {
			return nil, fmt.Errorf("query requests: %w", err)
		}
		var topCount, topRows int64
		for rows.Next() {
			var k string
			var n, e, b, f, l, r, first, last int64
			if err := rows.Scan(&k, &n, &e, &b, &f, &l, &r, &other.Groups, &other.Count, &other.Errors, &other.Bytes, &first, &last); err != nil {
				rows.Close()
				return nil, fmt.Errorf("query requests: %w", err)
			}
			keys = append(keys, k)
			exact[k] = store.RequestGroup{Count: n, Errors: e, Bytes: b, First: time.UnixMicro(f).UTC(), Last: time.UnixMicro(l).UTC()}
			topCount += n
			topRows += r
			other.First, other.Last = time.UnixMicro(first).UTC(), time.UnixMicro(last).UTC()
		}
		if topRows > sketchRows {
			// Too many rows to merge every sketch in time: the sketches of
			// every Kth minute, counts and codes from all rows.
			sampleEvery = (topRows + sketchRows - 1) / sketchRows
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("query requests: %w", err)
		}
		if len(keys) == 0 {
			return []store.RequestGroup{}, nil
		}
		other.Groups -= int64(len(keys))
		other.Count -= topCount
		where += " AND " + keyCol + " IN (" + strings.TrimSuffix(strings.Repeat("?, ", len(keys)), ", ") + ")"
		args = append(args, keys...)
	}
	sampled := "TRUE"
	if sampleEvery > 0 {
		sampled = fmt.Sprintf("(start / 60000000) %% %d = 0", sampleEvery)
		where += " AND (" + sampled + " OR codes != '')"
	}
	type acc struct {
		g    store.RequestGroup
		roll *rollup.Acc
	}
	groups := map[string]*acc{}
	rows, err := db.query(ctx, `SELECT `+keyCol+`, res, start, count, errors, bytes, codes, `+sampled+`, service, connect FROM request_rollups`+where, args...)
	if err != nil {
		return nil, fmt.Errorf("query requests: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var key, codes string
		var res, start, count, errs, nbytes int64
		var inSample bool
		var service, connect []byte
		if err := rows.Scan(&key, &res, &start, &count, &errs, &nbytes, &codes, &inSample, &service, &connect); err != nil {
			return nil, fmt.Errorf("query requests: %w", err)
		}
		if !inSample {
			service, connect = nil, nil
		}
		if key == "" {
			key = "-"
		}
		a := groups[key]
		if a == nil {
			a = &acc{g: store.RequestGroup{Key: key}, roll: rollup.NewAcc()}
			groups[key] = a
		}
		first := time.UnixMicro(start).UTC()
		last := first.Add(time.Duration(res) * time.Second)
		if a.g.First.IsZero() || first.Before(a.g.First) {
			a.g.First = first
		}
		if last.After(a.g.Last) {
			a.g.Last = last
		}
		a.g.Count += count
		a.g.Errors += errs
		a.g.Bytes += nbytes
		a.g.Codes = rollup.DecodeCodes(codes, a.g.Codes)
		if len(service) > 0 {
			if err := a.roll.Service.DecodeAndMergeWith(service); err != nil {
				return nil, fmt.Errorf("query requests: sketch: %w", err)
			}
		}
		if len(connect) > 0 {
			if err := a.roll.Connect.DecodeAndMergeWith(connect); err != nil {
				return nil, fmt.Errorf("query requests: sketch: %w", err)
			}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("query requests: %w", err)
	}
	for k := range exact {
		key := k
		if key == "" {
			key = "-"
		}
		if groups[key] == nil { // no row in the sample: counts only
			groups[key] = &acc{g: store.RequestGroup{Key: key}, roll: rollup.NewAcc()}
		}
	}
	out := make([]store.RequestGroup, 0, len(groups)+1)
	for k, a := range groups {
		g := a.g
		if sampleEvery > 0 {
			if k == "-" {
				k = ""
			}
			e := exact[k]
			g.Count, g.Errors, g.Bytes, g.First, g.Last = e.Count, e.Errors, e.Bytes, e.First, e.Last
			g.PercentilesSampled = 1 / float64(sampleEvery)
		}
		if g.Count == 0 {
			continue
		}
		g.ErrorRate = float64(g.Errors) / float64(g.Count)
		g.ServiceP50, g.ServiceP95, g.ServiceP99 = rollup.Quantiles(a.roll.Service)
		g.ConnectP50, g.ConnectP95, g.ConnectP99 = rollup.Quantiles(a.roll.Connect)
		out = append(out, g)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Key < out[j].Key
	})
	if top > 0 && len(out) > top {
		out = out[:top]
	}
	if other.Groups > 0 {
		for _, g := range out {
			other.Errors -= g.Errors
			other.Bytes -= g.Bytes
		}
		other.Key = store.OtherGroups
		if other.Count > 0 {
			other.ErrorRate = float64(other.Errors) / float64(other.Count)
		}
		out = append(out, other)
	}
	return out, nil
}

// RequestSeries returns, per dyno, request counts and p95 service time in
// buckets of step over [f.Since, f.Until) (both required), from minute
// rollups when they cover the range, else from hour rollups. Buckets with
// no requests are left out.
func (db *DB) RequestSeries(ctx context.Context, f store.Filter, step time.Duration) ([]store.SeriesPoint, error) {
	db.sync(ctx)
	if f.Since.IsZero() || f.Until.IsZero() || step <= 0 {
		return nil, fmt.Errorf("request series: a range and a step are needed")
	}
	series := rollup.NewSeries(f.Since, step)
	// Counts summed in SQL; the p95 from the sketches of every row, or of
	// every Nth minute's past sketchRows rows.
	read := func(res int64, unfoldedOnly bool) error {
		where, args := rollupWhere(f, res, f.Since.Truncate(time.Duration(res)*time.Second), f.Until, unfoldedOnly)
		rows, err := db.query(ctx, `SELECT dyno, start, SUM(count)::bigint, COUNT(*) FROM request_rollups`+where+` GROUP BY dyno, start`, args...)
		if err != nil {
			return fmt.Errorf("request series: %w", err)
		}
		var n int64
		for rows.Next() {
			var dyno string
			var start, count, r int64
			if err := rows.Scan(&dyno, &start, &count, &r); err != nil {
				rows.Close()
				return fmt.Errorf("request series: %w", err)
			}
			series.Add(dyno, start, count)
			n += r
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("request series: %w", err)
		}
		if n > sketchRows {
			where += fmt.Sprintf(" AND (start / 60000000) %% %d = 0", (n+sketchRows-1)/sketchRows)
		}
		rows, err = db.query(ctx, `SELECT dyno, start, service FROM request_rollups`+where+` AND service IS NOT NULL`, args...)
		if err != nil {
			return fmt.Errorf("request series: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var dyno string
			var start int64
			var service []byte
			if err := rows.Scan(&dyno, &start, &service); err != nil {
				return fmt.Errorf("request series: %w", err)
			}
			if err := series.MergeService(dyno, start, service); err != nil {
				return fmt.Errorf("request series: %w", err)
			}
		}
		return rows.Err()
	}
	var err error
	if rollup.SeriesFromMinutes(f.Since, f.Until) {
		err = read(rollup.Minute, false)
	} else {
		if err = read(rollup.Hour, false); err == nil {
			err = read(rollup.Minute, true)
		}
	}
	if err != nil {
		return nil, err
	}
	return series.Points(), nil
}

// sketchRows is how many rollup rows' sketches a query merges at most
// (about 20 µs each): past it, a sample of the minutes. A variable for
// tests.
var sketchRows int64 = 50000
