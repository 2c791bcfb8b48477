package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/DataDog/sketches-go/ddsketch"

	"github.com/drainwatch/drainwatch/store/pending"
)

// sketchAccuracy is the relative accuracy of the latency sketches: a p99 of
// 2000 ms is reported within ±20 ms.
const sketchAccuracy = 0.01

// Rollup resolutions, in seconds.
const (
	resMinute = 60
	resHour   = 3600
)

type rollKey struct {
	app               string
	res               int64 // seconds
	start             int64 // Unix microseconds
	dyno, path, class string
}

// rollAcc is one rollup row being built.
type rollAcc struct {
	count, errors, bytes int64
	codes                map[string]int64
	service, connect     *ddsketch.DDSketch
}

func newSketch() *ddsketch.DDSketch {
	s, err := ddsketch.NewDefaultDDSketch(sketchAccuracy)
	if err != nil {
		panic(err) // only for an invalid accuracy constant
	}
	return s
}

func newRollAcc() *rollAcc {
	return &rollAcc{service: newSketch(), connect: newSketch()}
}

func (a *rollAcc) merge(b *rollAcc) error {
	a.count += b.count
	a.errors += b.errors
	a.bytes += b.bytes
	for c, n := range b.codes {
		if a.codes == nil {
			a.codes = map[string]int64{}
		}
		a.codes[c] += n
	}
	if err := a.service.MergeWith(b.service); err != nil {
		return err
	}
	return a.connect.MergeWith(b.connect)
}

func encodeCodes(codes map[string]int64) string {
	if len(codes) == 0 {
		return ""
	}
	keys := make([]string, 0, len(codes))
	for k := range codes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(strconv.FormatInt(codes[k], 10))
	}
	return b.String()
}

func decodeCodes(s string, into map[string]int64) map[string]int64 {
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			continue
		}
		n, _ := strconv.ParseInt(v, 10, 64)
		if into == nil {
			into = map[string]int64{}
		}
		into[k] += n
	}
	return into
}

var statusClasses = [...]string{"-", "1xx", "2xx", "3xx", "4xx", "5xx"}

func statusClass(status int) string { return statusClasses[statusClassIndex(status)] }

func statusClassIndex(status int) int {
	if status < 100 || status > 599 {
		return 0
	}
	return status / 100
}

// rollupMerge adds a delta to a rollup row: counts add up, H-codes and
// latency sketches merge (dw_codes_merge, dw_sketch_merge: store.go). Every
// rollup write is one, so a row written by any writer, at any time, is
// never lost; nothing caches a row's total. It returns whether the row is
// a minute already folded into its hour: the delta is then added to the
// hour too.
const rollupMerge = `INSERT INTO request_rollups (app, res, start, dyno, path, class, count, errors, bytes, codes, service, connect)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT (app, res, start, dyno, path, class) DO UPDATE SET count = count + excluded.count,
	errors = errors + excluded.errors, bytes = bytes + excluded.bytes, codes = dw_codes_merge(codes, excluded.codes),
	service = dw_sketch_merge(service, excluded.service), connect = dw_sketch_merge(connect, excluded.connect)
	RETURNING folded`

// mergeRollup adds the delta a to the row k, and to its hour row when the
// minute row was folded already (a line that came late).
func mergeRollup(stmt *sql.Stmt, k rollKey, a *rollAcc, buf *[]byte) error {
	*buf = (*buf)[:0]
	a.service.Encode(buf, false)
	n := len(*buf)
	a.connect.Encode(buf, false)
	service, connect := (*buf)[:n:n], (*buf)[n:]
	var folded bool
	err := stmt.QueryRow(k.app, k.res, k.start, k.dyno, k.path, k.class, a.count, a.errors, a.bytes,
		encodeCodes(a.codes), service, connect).Scan(&folded)
	if err != nil || !folded || k.res != resMinute {
		return err
	}
	k.res, k.start = resHour, k.start-k.start%(resHour*1e6)
	return stmt.QueryRow(k.app, k.res, k.start, k.dyno, k.path, k.class, a.count, a.errors, a.bytes,
		encodeCodes(a.codes), service, connect).Scan(&folded)
}

// sketchMergeSQL is dw_sketch_merge(a, b): the encoded DDSketch holding
// both encoded sketches' values. NULL or empty is an empty sketch.
func sketchMergeSQL(a, b any) ([]byte, error) {
	ab, _ := a.([]byte)
	bb, _ := b.([]byte)
	if len(bb) == 0 {
		return ab, nil
	}
	if len(ab) == 0 {
		return bb, nil
	}
	s := newSketch()
	if err := s.DecodeAndMergeWith(ab); err != nil {
		return nil, fmt.Errorf("rollup sketch: %w", err)
	}
	if err := s.DecodeAndMergeWith(bb); err != nil {
		return nil, fmt.Errorf("rollup sketch: %w", err)
	}
	var out []byte
	s.Encode(&out, false)
	return out, nil
}

// codesMergeSQL is dw_codes_merge(a, b): the H-code counts of both
// ("H12=3,H10=1"), added up.
func codesMergeSQL(a, b string) string {
	if b == "" {
		return a
	}
	if a == "" {
		return b
	}
	return encodeCodes(decodeCodes(b, decodeCodes(a, nil)))
}

// decode merges a stored row's codes and sketches into a.
func (a *rollAcc) decode(codes string, service, connect []byte) error {
	a.codes = decodeCodes(codes, a.codes)
	if len(service) > 0 {
		if err := a.service.DecodeAndMergeWith(service); err != nil {
			return fmt.Errorf("rollup sketch: %w", err)
		}
	}
	if len(connect) > 0 {
		if err := a.connect.DecodeAndMergeWith(connect); err != nil {
			return fmt.Errorf("rollup sketch: %w", err)
		}
	}
	return nil
}

// foldMinutes folds minute rows whose minute ended more than settle ago into
// their hour rows, and marks them folded, in one transaction: a query reads
// hour rows for whole hours, plus the minute rows not folded yet.
func (db *DB) foldMinutes(now time.Time, settle time.Duration, limit int) (int, error) {
	tx, err := db.rw.Begin()
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	cutoff := now.Add(-settle).Add(-time.Minute).UnixMicro()
	hours := map[rollKey]*rollAcc{}
	var minutes []rollKey
	err = eachRow(context.Background(), tx, "fold minutes", `SELECT app, start, dyno, path, class, count, errors, bytes, codes, service, connect
		FROM request_rollups WHERE res = 60 AND folded = 0 AND start < ? ORDER BY start LIMIT ?`, []any{cutoff, limit}, func(rows *sql.Rows) error {
		k := rollKey{res: resMinute}
		m := newRollAcc()
		var codes string
		var service, connect []byte
		if err := rows.Scan(&k.app, &k.start, &k.dyno, &k.path, &k.class, &m.count, &m.errors, &m.bytes, &codes, &service, &connect); err != nil {
			return err
		}
		if err := m.decode(codes, service, connect); err != nil {
			return err
		}
		minutes = append(minutes, k)
		hk := k
		hk.res = resHour
		hk.start = k.start - k.start%(resHour*1e6)
		h := hours[hk]
		if h == nil {
			h = newRollAcc()
			hours[hk] = h
		}
		return h.merge(m)
	})
	if err != nil {
		return 0, err
	}
	if len(minutes) == 0 {
		return 0, nil
	}
	put, err := tx.Prepare(rollupMerge)
	if err != nil {
		return 0, err
	}
	defer put.Close()
	var buf []byte
	for hk, add := range hours {
		if err := mergeRollup(put, hk, add, &buf); err != nil {
			return 0, err
		}
	}
	mark, err := tx.Prepare(`UPDATE request_rollups SET folded = 1 WHERE app = ? AND res = 60 AND start = ? AND dyno = ? AND path = ? AND class = ?`)
	if err != nil {
		return 0, err
	}
	defer mark.Close()
	for _, k := range minutes {
		if _, err := mark.Exec(k.app, k.start, k.dyno, k.path, k.class); err != nil {
			return 0, err
		}
	}
	return len(minutes), tx.Commit()
}

// keyOf is the minute rollup row of app a router line belongs to.
func keyOf(app string, l *pending.RouterLine) rollKey {
	return rollKey{app: app, res: resMinute, start: (l.Unix - l.Unix%60) * 1e6, dyno: l.Dyno, path: l.Path,
		class: statusClass(int(l.Status))}
}

// add counts one router line into a.
func (a *rollAcc) add(l *pending.RouterLine) {
	a.count++
	if l.Code != "" || l.Status >= 500 {
		a.errors++
	}
	if l.Code != "" {
		if a.codes == nil {
			a.codes = map[string]int64{}
		}
		a.codes[l.Code]++
	}
	if l.Len > 0 {
		a.bytes += l.Len
	}
	if l.Service >= 0 {
		a.service.Add(float64(l.Service))
	}
	if l.Connect >= 0 {
		a.connect.Add(float64(l.Connect))
	}
}
