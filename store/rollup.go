package store

import (
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/DataDog/sketches-go/ddsketch"
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

// rollupCache keeps the minute rows of recent buckets in memory, so that a
// bucket written by every batch for a minute is read from the database once
// and each commit writes only the rows its batches touched.
type rollupCache struct {
	rows   map[rollKey]*rollAcc
	dirty  map[rollKey]bool
	newest int64 // newest minute start seen, Unix microseconds
	max    int   // rows kept after a flush; 0 is cacheMaxRows
}

// rollupUpsert writes a whole rollup row. A minute row already folded into
// its hour stays marked folded: lines that arrive more than a couple of
// minutes late are counted in the minute row but not in the hour row.
const rollupUpsert = `INSERT INTO request_rollups (app, res, start, dyno, path, class, count, errors, bytes, codes, service, connect)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT (app, res, start, dyno, path, class) DO UPDATE SET count = excluded.count, errors = excluded.errors,
	bytes = excluded.bytes, codes = excluded.codes, service = excluded.service, connect = excluded.connect`

// rollupGet reads one whole rollup row.
const rollupGet = `SELECT count, errors, bytes, codes, service, connect FROM request_rollups
	WHERE app = ? AND res = ? AND start = ? AND dyno = ? AND path = ? AND class = ?`

// cacheKeep is how long a minute bucket stays cached after the newest one:
// lines come seconds after they were logged, and one more than a couple of
// minutes late is late for the hour rows too (foldMinutes). A line for a
// row no longer cached reads it back from the database.
const cacheKeep = int64(3 * 60 * 1e6)

// cacheMaxRows bounds the cache whatever the number of apps, dynos and path
// templates: a minute row with its two sketches takes about 4 KB once it has
// seen a few thousand lines, so the bound is about 10 MB of heap. With 15
// minutes kept, as before, the bench's 800 rows a minute grew the daemon's
// RSS from 45 MB after the first minute to 96 MB after ten; with 3 minutes
// and 4000 rows it stayed at 58-59 MB from the third minute on, peak 61 MB,
// too near the 64 MB target for an app with more rows. Past the bound, a
// flush drops the oldest rows first: the rows of the last two minutes, where
// lines still arrive, stay unless an app makes over 1250 rows a minute.
const cacheMaxRows = 2500

// row returns the cached row of k (loading it from the database the first
// time), marked dirty: the caller adds to it.
func (c *rollupCache) row(get *sql.Stmt, k rollKey) (*rollAcc, error) {
	if c.rows == nil {
		c.rows, c.dirty = map[rollKey]*rollAcc{}, map[rollKey]bool{}
	}
	a := c.rows[k]
	if a == nil {
		var err error
		if a, err = loadRollup(get, k); err != nil {
			return nil, err
		}
		c.rows[k] = a
	}
	c.dirty[k] = true
	if k.start > c.newest {
		c.newest = k.start
	}
	return a, nil
}

// flush writes the dirty rows with put; clean marks them written once the
// transaction has committed.
func (c *rollupCache) flush(put *sql.Stmt) error {
	var buf []byte
	for k := range c.dirty {
		if err := upsertRollup(put, k, c.rows[k], &buf); err != nil {
			return err
		}
	}
	return nil
}

func (c *rollupCache) clean() {
	clear(c.dirty)
	c.evict()
}

func upsertRollup(stmt *sql.Stmt, k rollKey, a *rollAcc, buf *[]byte) error {
	*buf = (*buf)[:0]
	a.service.Encode(buf, false)
	service := append([]byte(nil), *buf...)
	*buf = (*buf)[:0]
	a.connect.Encode(buf, false)
	_, err := stmt.Exec(k.app, k.res, k.start, k.dyno, k.path, k.class, a.count, a.errors, a.bytes,
		encodeCodes(a.codes), service, append([]byte(nil), *buf...))
	return err
}

// evict drops buckets that no longer receive lines, then the oldest rows
// past the bound. It runs in clean, after a flush, when no row is dirty.
func (c *rollupCache) evict() {
	for k := range c.rows {
		if k.start < c.newest-cacheKeep {
			delete(c.rows, k)
		}
	}
	limit := c.max
	if limit <= 0 {
		limit = cacheMaxRows
	}
	if len(c.rows) <= limit {
		return
	}
	keys := make([]rollKey, 0, len(c.rows))
	for k := range c.rows {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].start < keys[j].start })
	for _, k := range keys[:len(keys)-limit] {
		delete(c.rows, k)
	}
}

func loadRollup(get *sql.Stmt, k rollKey) (*rollAcc, error) {
	a := newRollAcc()
	var codes string
	var service, connect []byte
	err := get.QueryRow(k.app, k.res, k.start, k.dyno, k.path, k.class).Scan(&a.count, &a.errors, &a.bytes, &codes, &service, &connect)
	if errors.Is(err, sql.ErrNoRows) {
		return a, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load rollup: %w", err)
	}
	if err := a.decode(codes, service, connect); err != nil {
		return nil, err
	}
	return a, nil
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
	rows, err := tx.Query(`SELECT app, start, dyno, path, class, count, errors, bytes, codes, service, connect
		FROM request_rollups WHERE res = 60 AND folded = 0 AND start < ? ORDER BY start LIMIT ?`, cutoff, limit)
	if err != nil {
		return 0, err
	}
	hours := map[rollKey]*rollAcc{}
	var minutes []rollKey
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
		minutes = append(minutes, k)
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
	get, err := tx.Prepare(rollupGet)
	if err != nil {
		return 0, err
	}
	defer get.Close()
	put, err := tx.Prepare(rollupUpsert)
	if err != nil {
		return 0, err
	}
	defer put.Close()
	var buf []byte
	for hk, add := range hours {
		cur, err := loadRollup(get, hk)
		if err != nil {
			return 0, err
		}
		if err := cur.merge(add); err != nil {
			return 0, err
		}
		if err := upsertRollup(put, hk, cur, &buf); err != nil {
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
