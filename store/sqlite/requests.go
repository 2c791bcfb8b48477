package sqlite

import (
	"context"
	"database/sql"
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
	c := rollupConds(res, from, to, unfoldedOnly).match(f.App, f.Dyno, "start", time.Time{}, time.Time{})
	return c.where(), c.args
}

// rollupConds are the conditions of rollup rows of resolution res with
// bucket starts in [from, to), the minute rows not yet folded with
// unfoldedOnly.
func rollupConds(res int64, from, to time.Time, unfoldedOnly bool) *conds {
	c := new(conds).add("res = ?", res)
	if unfoldedOnly {
		c.add("folded = 0")
	}
	return c.match("", "", "start", from, to)
}

// rollupUnion is the conditions of the rollup rows that cover f's range
// (rollup.Ranges): hour rows and the minute rows not folded into them yet
// for the whole hours, minute rows at the edges.
func rollupUnion(f store.Filter) *conds {
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
		c := rollupConds(p.res, p.from, p.to, p.unfolded)
		ors = append(ors, "("+strings.Join(c.list, " AND ")+")")
		args = append(args, c.args...)
	}
	return new(conds).add("("+strings.Join(ors, " OR ")+")", args...).match(f.App, f.Dyno, "start", time.Time{}, time.Time{})
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
	c := rollupUnion(f)
	var t topGroups
	if top > 0 {
		var err error
		if t, err = db.topGroups(ctx, keyCol, c, top); err != nil {
			return nil, err
		}
		if len(t.keys) == 0 {
			return []store.RequestGroup{}, nil
		}
		c.add(keyCol+" IN ("+strings.TrimSuffix(strings.Repeat("?, ", len(t.keys)), ", ")+")", t.keys...)
	}
	groups, err := db.mergeGroups(ctx, keyCol, c, t.sampleEvery)
	if err != nil {
		return nil, err
	}
	return t.finish(groups, top), nil
}

// topGroups are the top groups of a RequestStats, chosen in SQL.
type topGroups struct {
	keys        []any                         // the top groups' keys
	exact       map[string]store.RequestGroup // their counts, from SQL
	other       store.RequestGroup            // the other groups, summed
	sampleEvery int64                         // > 0: merge the sketches of every sampleEvery-th minute
}

// topGroups chooses the top groups by count of the rollup rows c selects,
// and sums the rest into other.
func (db *DB) topGroups(ctx context.Context, keyCol string, c *conds, top int) (topGroups, error) {
	t := topGroups{exact: map[string]store.RequestGroup{}}
	var topCount, topRows int64
	err := eachRow(ctx, db.ro, "query requests", `SELECT k, n, e, b, f, l, r, COUNT(*) OVER (), SUM(n) OVER (), SUM(e) OVER (), SUM(b) OVER (), MIN(f) OVER (), MAX(l) OVER ()
		FROM (SELECT `+keyCol+` AS k, SUM(count) AS n, SUM(errors) AS e, SUM(bytes) AS b, MIN(start) AS f, MAX(start + res * 1000000) AS l, COUNT(*) AS r
			FROM request_rollups`+c.where()+` GROUP BY k)
		ORDER BY n DESC, k LIMIT ?`, append(append([]any{}, c.args...), top), func(r *sql.Rows) error {
		var k string
		var n, e, b, f, l, rows, first, last int64
		if err := r.Scan(&k, &n, &e, &b, &f, &l, &rows, &t.other.Groups, &t.other.Count, &t.other.Errors, &t.other.Bytes, &first, &last); err != nil {
			return err
		}
		t.keys = append(t.keys, k)
		t.exact[k] = store.RequestGroup{Count: n, Errors: e, Bytes: b, First: micros(f), Last: micros(l)}
		topCount += n
		topRows += rows
		t.other.First, t.other.Last = micros(first), micros(last)
		return nil
	})
	if topRows > sketchRows {
		// Too many rows to merge every sketch in time: the sketches of
		// every Kth minute, counts and codes from all rows.
		t.sampleEvery = (topRows + sketchRows - 1) / sketchRows
	}
	t.other.Groups -= int64(len(t.keys))
	t.other.Count -= topCount
	return t, err
}

// groupAcc is a RequestStats group being summed.
type groupAcc struct {
	g    store.RequestGroup
	roll *rollup.Acc
}

// mergeGroups sums the rollup rows c selects by keyCol: counts, codes and
// sketches (with sampleEvery > 0, the sketches of every sampleEvery-th
// minute only).
func (db *DB) mergeGroups(ctx context.Context, keyCol string, c *conds, sampleEvery int64) (map[string]*groupAcc, error) {
	sampled := "1"
	if sampleEvery > 0 {
		sampled = fmt.Sprintf("(start / 60000000) %% %d = 0", sampleEvery)
		c.add("(" + sampled + " OR codes != '')")
	}
	groups := map[string]*groupAcc{}
	err := eachRow(ctx, db.ro, "query requests", `SELECT `+keyCol+`, res, start, count, errors, bytes, codes, `+sampled+`, service, connect FROM request_rollups`+c.where(), c.args, func(r *sql.Rows) error {
		var key, codes string
		var res, start, count, errs, nbytes int64
		var inSample bool
		var service, connect []byte
		if err := r.Scan(&key, &res, &start, &count, &errs, &nbytes, &codes, &inSample, &service, &connect); err != nil {
			return err
		}
		if !inSample {
			service, connect = nil, nil
		}
		if key == "" {
			key = "-"
		}
		a := groups[key]
		if a == nil {
			a = &groupAcc{g: store.RequestGroup{Key: key}, roll: rollup.NewAcc()}
			groups[key] = a
		}
		first := micros(start)
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
				return fmt.Errorf("sketch: %w", err)
			}
		}
		if len(connect) > 0 {
			if err := a.roll.Connect.DecodeAndMergeWith(connect); err != nil {
				return fmt.Errorf("sketch: %w", err)
			}
		}
		return nil
	})
	return groups, err
}

// finish turns the summed groups into RequestStats' answer: percentiles,
// the exact counts of sampled groups, the top ones by count, then the
// (other) row.
func (t topGroups) finish(groups map[string]*groupAcc, top int) []store.RequestGroup {
	for k := range t.exact {
		key := k
		if key == "" {
			key = "-"
		}
		if groups[key] == nil { // no row in the sample: counts only
			groups[key] = &groupAcc{g: store.RequestGroup{Key: key}, roll: rollup.NewAcc()}
		}
	}
	out := make([]store.RequestGroup, 0, len(groups)+1)
	for k, a := range groups {
		g := a.g
		if t.sampleEvery > 0 {
			if k == "-" {
				k = ""
			}
			e := t.exact[k]
			g.Count, g.Errors, g.Bytes, g.First, g.Last = e.Count, e.Errors, e.Bytes, e.First, e.Last
			g.PercentilesSampled = 1 / float64(t.sampleEvery)
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
	if other := t.other; other.Groups > 0 {
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
	return out
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
		c := rollupConds(res, f.Since.Truncate(time.Duration(res)*time.Second), f.Until, unfoldedOnly).match(f.App, f.Dyno, "start", time.Time{}, time.Time{})
		var n int64
		err := eachRow(ctx, db.ro, "request series", `SELECT dyno, start, SUM(count), COUNT(*) FROM request_rollups`+c.where()+` GROUP BY dyno, start`, c.args, func(r *sql.Rows) error {
			var dyno string
			var start, count, rows int64
			if err := r.Scan(&dyno, &start, &count, &rows); err != nil {
				return err
			}
			series.Add(dyno, start, count)
			n += rows
			return nil
		})
		if err != nil {
			return err
		}
		if n > sketchRows {
			c.add(fmt.Sprintf("(start / 60000000) %% %d = 0", (n+sketchRows-1)/sketchRows))
		}
		c.add("service IS NOT NULL")
		return eachRow(ctx, db.ro, "request series", `SELECT dyno, start, service FROM request_rollups`+c.where(), c.args, func(r *sql.Rows) error {
			var dyno string
			var start int64
			var service []byte
			if err := r.Scan(&dyno, &start, &service); err != nil {
				return err
			}
			return series.MergeService(dyno, start, service)
		})
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
