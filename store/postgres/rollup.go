package postgres

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/DataDog/sketches-go/ddsketch"
	"github.com/jackc/pgx/v5"

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

// rollupMerge adds a delta to a rollup row, in SQL: counts add up, H-codes
// merge (dw_codes_merge), and the sketches are concatenated, which
// sketches-go decodes as their merge. Every rollup write is one, so a row
// written by any process, at any time, is never lost; nothing caches a
// row's total. It returns whether the row is a minute already folded into
// its hour: the delta is then added to the hour too.
const rollupMerge = `INSERT INTO request_rollups AS r (app, res, start, dyno, path, class, count, errors, bytes, codes, service, connect)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
	ON CONFLICT (app, res, start, dyno, path, class) DO UPDATE SET count = r.count + excluded.count,
	errors = r.errors + excluded.errors, bytes = r.bytes + excluded.bytes, codes = dw_codes_merge(r.codes, excluded.codes),
	service = COALESCE(r.service, ''::bytea) || COALESCE(excluded.service, ''::bytea),
	connect = COALESCE(r.connect, ''::bytea) || COALESCE(excluded.connect, ''::bytea)
	RETURNING folded`

// encodeSketches is a's sketches in sketches-go's encoding (store/sqlite's).
func (a *rollAcc) encodeSketches() (service, connect []byte) {
	var buf []byte
	a.service.Encode(&buf, false)
	n := len(buf)
	a.connect.Encode(&buf, false)
	return buf[:n:n], buf[n:]
}

func (a *rollAcc) args(k rollKey) []any {
	service, connect := a.encodeSketches()
	return []any{k.app, k.res, k.start, k.dyno, k.path, k.class, a.count, a.errors, a.bytes, encodeCodes(a.codes), service, connect}
}

// sortedKeys are the keys of m in one order for every transaction — the
// order rows are locked in, so that two writers merging into the same rows
// never deadlock: minutes before hours, then by app, start, dyno, path,
// class, bytewise (the SQL side orders with COLLATE "C").
func sortedKeys(m map[rollKey]*rollAcc) []rollKey {
	keys := make([]rollKey, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keyLess(keys[i], keys[j]) })
	return keys
}

func keyLess(a, b rollKey) bool {
	if a.res != b.res {
		return a.res < b.res
	}
	if a.app != b.app {
		return a.app < b.app
	}
	if a.start != b.start {
		return a.start < b.start
	}
	if a.dyno != b.dyno {
		return a.dyno < b.dyno
	}
	if a.path != b.path {
		return a.path < b.path
	}
	return a.class < b.class
}

// mergeRollups adds the deltas to their rows in tx, in key order, and
// the deltas of minutes already folded to their hours.
func mergeRollups(ctx context.Context, tx pgx.Tx, deltas map[rollKey]*rollAcc) error {
	if len(deltas) == 0 {
		return nil
	}
	keys := sortedKeys(deltas)
	b := &pgx.Batch{}
	for _, k := range keys {
		b.Queue(rollupMerge, deltas[k].args(k)...)
	}
	res := tx.SendBatch(ctx, b)
	late := map[rollKey]*rollAcc{}
	for _, k := range keys {
		var folded bool
		if err := res.QueryRow().Scan(&folded); err != nil {
			res.Close()
			return err
		}
		if folded && k.res == resMinute {
			hk := k
			hk.res, hk.start = resHour, k.start-k.start%(resHour*1e6)
			if h := late[hk]; h != nil {
				if err := h.merge(deltas[k]); err != nil {
					res.Close()
					return err
				}
			} else {
				late[hk] = deltas[k]
			}
		}
	}
	if err := res.Close(); err != nil {
		return err
	}
	if len(late) == 0 {
		return nil
	}
	return mergeRollups(ctx, tx, late)
}

// foldMinutes folds minute rows whose minute ended more than settle before
// the newest minute stored into their hour rows, in one transaction: marks
// them folded and writes their sketches back merged (a minute row holds a
// delta from each flush until then), and merges them into their hours.
// A query reads hour rows for whole hours, plus the minute rows not folded
// yet. Only the elected process folds.
func (db *DB) foldMinutes(ctx context.Context, settle time.Duration, limit int) (int, error) {
	tx, err := db.pool.Begin(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback(ctx)
	var newest *int64
	if err := tx.QueryRow(ctx, `SELECT MAX(start) FROM request_rollups WHERE res = 60 AND NOT folded`).Scan(&newest); err != nil {
		return 0, err
	}
	if newest == nil {
		return 0, nil
	}
	cutoff := time.UnixMicro(*newest).Add(-settle).Add(-time.Minute).UnixMicro()
	rows, err := tx.Query(ctx, `SELECT app, start, dyno, path, class, count, errors, bytes, codes, service, connect
		FROM request_rollups WHERE res = 60 AND NOT folded AND start < $1
		ORDER BY app COLLATE "C", start, dyno COLLATE "C", path COLLATE "C", class COLLATE "C" LIMIT $2 FOR UPDATE`, cutoff, limit)
	if err != nil {
		return 0, err
	}
	hours := map[rollKey]*rollAcc{}
	type minute struct {
		k                rollKey
		service, connect []byte
	}
	var minutes []minute
	for rows.Next() {
		k := rollKey{res: resMinute}
		m := newRollAcc()
		var codes string
		var service, connect []byte
		if err := rows.Scan(&k.app, &k.start, &k.dyno, &k.path, &k.class, &m.count, &m.errors, &m.bytes, &codes, &service, &connect); err != nil {
			rows.Close()
			return 0, err
		}
		if err := m.decode(codes, service, connect); err != nil {
			rows.Close()
			return 0, err
		}
		mn := minute{k: k}
		mn.service, mn.connect = m.encodeSketches()
		minutes = append(minutes, mn)
		hk := k
		hk.res = resHour
		hk.start = k.start - k.start%(resHour*1e6)
		h := hours[hk]
		if h == nil {
			h = newRollAcc()
			hours[hk] = h
		}
		if err := h.merge(m); err != nil {
			rows.Close()
			return 0, err
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	if len(minutes) == 0 {
		return 0, nil
	}
	b := &pgx.Batch{}
	for _, m := range minutes {
		b.Queue(`UPDATE request_rollups SET folded = TRUE, service = $6, connect = $7
			WHERE app = $1 AND res = 60 AND start = $2 AND dyno = $3 AND path = $4 AND class = $5`,
			m.k.app, m.k.start, m.k.dyno, m.k.path, m.k.class, m.service, m.connect)
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return 0, err
	}
	if err := mergeRollups(ctx, tx, hours); err != nil {
		return 0, err
	}
	if err := compactHours(ctx, tx, sortedKeys(hours)); err != nil {
		return 0, err
	}
	return len(minutes), tx.Commit(ctx)
}

// compactHours writes the hour rows of keys (locked by tx already) back
// with their sketches merged: each fold appends to them.
func compactHours(ctx context.Context, tx pgx.Tx, keys []rollKey) error {
	b := &pgx.Batch{}
	for _, k := range keys {
		b.Queue(`SELECT service, connect FROM request_rollups WHERE app = $1 AND res = $2 AND start = $3 AND dyno = $4 AND path = $5 AND class = $6`,
			k.app, k.res, k.start, k.dyno, k.path, k.class)
	}
	res := tx.SendBatch(ctx, b)
	up := &pgx.Batch{}
	for _, k := range keys {
		var service, connect []byte
		if err := res.QueryRow().Scan(&service, &connect); err != nil {
			res.Close()
			return err
		}
		a := newRollAcc()
		if err := a.decode("", service, connect); err != nil {
			res.Close()
			return err
		}
		s, c := a.encodeSketches()
		if len(s)+len(c) < len(service)+len(connect) {
			up.Queue(`UPDATE request_rollups SET service = $7, connect = $8
				WHERE app = $1 AND res = $2 AND start = $3 AND dyno = $4 AND path = $5 AND class = $6`,
				k.app, k.res, k.start, k.dyno, k.path, k.class, s, c)
		}
	}
	if err := res.Close(); err != nil {
		return err
	}
	if up.Len() == 0 {
		return nil
	}
	return tx.SendBatch(ctx, up).Close()
}
