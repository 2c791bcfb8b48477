package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/drainwatch/drainwatch/store/rollup"
)

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
func mergeRollup(stmt *sql.Stmt, k rollup.Key, a *rollup.Acc, buf *[]byte) error {
	service, connect := a.EncodeSketches(buf)
	var folded bool
	err := stmt.QueryRow(k.App, k.Res, k.Start, k.Dyno, k.Path, k.Class, a.Count, a.Errors, a.Bytes,
		rollup.EncodeCodes(a.Codes), service, connect).Scan(&folded)
	if err != nil || !folded || k.Res != rollup.Minute {
		return err
	}
	k.Res, k.Start = rollup.Hour, k.Start-k.Start%(rollup.Hour*1e6)
	return stmt.QueryRow(k.App, k.Res, k.Start, k.Dyno, k.Path, k.Class, a.Count, a.Errors, a.Bytes,
		rollup.EncodeCodes(a.Codes), service, connect).Scan(&folded)
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
	s := rollup.NewSketch()
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
	return rollup.MergeCodes(a, b)
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
	hours := map[rollup.Key]*rollup.Acc{}
	var minutes []rollup.Key
	err = eachRow(context.Background(), tx, "fold minutes", `SELECT app, start, dyno, path, class, count, errors, bytes, codes, service, connect
		FROM request_rollups WHERE res = 60 AND folded = 0 AND start < ? ORDER BY start LIMIT ?`, []any{cutoff, limit}, func(rows *sql.Rows) error {
		k := rollup.Key{Res: rollup.Minute}
		m := rollup.NewAcc()
		var codes string
		var service, connect []byte
		if err := rows.Scan(&k.App, &k.Start, &k.Dyno, &k.Path, &k.Class, &m.Count, &m.Errors, &m.Bytes, &codes, &service, &connect); err != nil {
			return err
		}
		if err := m.Decode(codes, service, connect); err != nil {
			return err
		}
		minutes = append(minutes, k)
		hk := k
		hk.Res = rollup.Hour
		hk.Start = k.Start - k.Start%(rollup.Hour*1e6)
		h := hours[hk]
		if h == nil {
			h = rollup.NewAcc()
			hours[hk] = h
		}
		return h.Merge(m)
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
		if _, err := mark.Exec(k.App, k.Start, k.Dyno, k.Path, k.Class); err != nil {
			return 0, err
		}
	}
	return len(minutes), tx.Commit()
}
