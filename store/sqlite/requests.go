package sqlite

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/DataDog/sketches-go/ddsketch"

	"github.com/drainwatch/drainwatch/store"
)

// rollupWhere selects rollup rows of resolution res with bucket starts in
// [from, to) (zero: unbounded), for f's app and dyno; unfoldedOnly keeps the
// minute rows not yet folded into their hour.
func rollupWhere(f store.Filter, res int64, from, to time.Time, unfoldedOnly bool) (string, []any) {
	conds := []string{"res = ?"}
	args := []any{res}
	if unfoldedOnly {
		conds = append(conds, "folded = 0")
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

// rollupRanges splits [f.Since, f.Until) into whole hours — read from hour
// rows, plus the minute rows of those hours not folded yet — and the minutes
// at either edge, read from minute rows: a day is 24 rows a group, not 1440.
func rollupRanges(f store.Filter) (hours bool, hourFrom, hourTo time.Time, minutes [][2]time.Time) {
	since, until := f.Since, f.Until
	hourFrom = since
	if !since.IsZero() {
		hourFrom = since.Truncate(time.Hour)
		if hourFrom.Before(since) {
			hourFrom = hourFrom.Add(time.Hour)
		}
	}
	hourTo = until
	if !until.IsZero() {
		hourTo = until.Truncate(time.Hour)
	}
	if !hourFrom.IsZero() && !hourTo.IsZero() && !hourFrom.Before(hourTo) {
		// Within one hour: minutes only.
		return false, time.Time{}, time.Time{}, [][2]time.Time{{since, until}}
	}
	if !since.IsZero() && since.Before(hourFrom) {
		minutes = append(minutes, [2]time.Time{since, hourFrom})
	}
	if !until.IsZero() && hourTo.Before(until) {
		minutes = append(minutes, [2]time.Time{hourTo, until})
	}
	return true, hourFrom, hourTo, minutes
}

// RequestStats groups the router lines matching f by "path" (template),
// "status" (class: 2xx…) or "dyno", from the rollups, and returns the top
// groups by count (all when top is 0). Percentiles come from merged
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
	type acc struct {
		g    store.RequestGroup
		roll *rollAcc
	}
	groups := map[string]*acc{}
	read := func(res int64, from, to time.Time, unfoldedOnly bool) error {
		where, args := rollupWhere(f, res, from, to, unfoldedOnly)
		rows, err := db.ro.QueryContext(ctx, `SELECT `+keyCol+`, start, count, errors, bytes, codes, service, connect FROM request_rollups`+where, args...)
		if err != nil {
			return fmt.Errorf("query requests: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var key, codes string
			var start, count, errs, nbytes int64
			var service, connect []byte
			if err := rows.Scan(&key, &start, &count, &errs, &nbytes, &codes, &service, &connect); err != nil {
				return fmt.Errorf("query requests: %w", err)
			}
			if key == "" {
				key = "-"
			}
			a := groups[key]
			if a == nil {
				a = &acc{g: store.RequestGroup{Key: key}, roll: newRollAcc()}
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
			a.g.Codes = decodeCodes(codes, a.g.Codes)
			if len(service) > 0 {
				if err := a.roll.service.DecodeAndMergeWith(service); err != nil {
					return fmt.Errorf("query requests: sketch: %w", err)
				}
			}
			if len(connect) > 0 {
				if err := a.roll.connect.DecodeAndMergeWith(connect); err != nil {
					return fmt.Errorf("query requests: sketch: %w", err)
				}
			}
		}
		return rows.Err()
	}
	hours, hourFrom, hourTo, minutes := rollupRanges(f)
	if hours {
		if err := read(resHour, hourFrom, hourTo, false); err != nil {
			return nil, err
		}
		if err := read(resMinute, hourFrom, hourTo, true); err != nil {
			return nil, err
		}
	}
	for _, m := range minutes {
		if err := read(resMinute, m[0], m[1], false); err != nil {
			return nil, err
		}
	}
	out := make([]store.RequestGroup, 0, len(groups))
	for _, a := range groups {
		g := a.g
		if g.Count == 0 {
			continue
		}
		g.ErrorRate = float64(g.Errors) / float64(g.Count)
		g.ServiceP50, g.ServiceP95, g.ServiceP99 = quantiles(a.roll.service)
		g.ConnectP50, g.ConnectP95, g.ConnectP99 = quantiles(a.roll.connect)
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
	return out, nil
}

// quantiles returns p50, p95 and p99 of a sketch, rounded to 0.1 ms.
func quantiles(s *ddsketch.DDSketch) (p50, p95, p99 float64) {
	if s.IsEmpty() {
		return 0, 0, 0
	}
	v, err := s.GetValuesAtQuantiles([]float64{0.5, 0.95, 0.99})
	if err != nil {
		return 0, 0, 0
	}
	r := func(x float64) float64 { return math.Round(x*10) / 10 }
	return r(v[0]), r(v[1]), r(v[2])
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
	type key struct {
		dyno string
		b    int64
	}
	type acc struct {
		count int64
		s     *ddsketch.DDSketch
	}
	buckets := map[key]*acc{}
	read := func(res int64, unfoldedOnly bool) error {
		where, args := rollupWhere(f, res, f.Since.Truncate(time.Duration(res)*time.Second), f.Until, unfoldedOnly)
		rows, err := db.ro.QueryContext(ctx, `SELECT dyno, start, count, service FROM request_rollups`+where, args...)
		if err != nil {
			return fmt.Errorf("request series: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var dyno string
			var start, count int64
			var service []byte
			if err := rows.Scan(&dyno, &start, &count, &service); err != nil {
				return fmt.Errorf("request series: %w", err)
			}
			t := time.UnixMicro(start)
			k := key{dyno, t.Sub(f.Since).Nanoseconds() / int64(step)}
			a := buckets[k]
			if a == nil {
				a = &acc{s: newSketch()}
				buckets[k] = a
			}
			a.count += count
			if len(service) > 0 {
				if err := a.s.DecodeAndMergeWith(service); err != nil {
					return fmt.Errorf("request series: %w", err)
				}
			}
		}
		return rows.Err()
	}
	// Minute rows live 2 days: use them when they reach back far enough.
	var err error
	if time.Since(f.Since) < 47*time.Hour || f.Until.Sub(f.Since) <= 2*time.Hour {
		err = read(resMinute, false)
	} else {
		if err = read(resHour, false); err == nil {
			err = read(resMinute, true)
		}
	}
	if err != nil {
		return nil, err
	}
	out := make([]store.SeriesPoint, 0, len(buckets))
	for k, a := range buckets {
		p := store.SeriesPoint{Dyno: k.dyno, T: f.Since.Add(time.Duration(k.b) * step).UTC(), Count: a.count}
		if !a.s.IsEmpty() {
			if v, err := a.s.GetValueAtQuantile(0.95); err == nil {
				p.ServiceP95 = math.Round(v*10) / 10
			}
		}
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Dyno != out[j].Dyno {
			return out[i].Dyno < out[j].Dyno
		}
		return out[i].T.Before(out[j].T)
	})
	return out, nil
}
