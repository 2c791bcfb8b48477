package postgres

import (
	"context"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/drainwatch/drainwatch/store/rollup"
)

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

// rowArgs are rollupMerge's arguments for row k, delta a.
func rowArgs(k rollup.Key, a *rollup.Acc) []any {
	service, connect := a.EncodeSketches(nil)
	return []any{k.App, k.Res, k.Start, k.Dyno, k.Path, k.Class, a.Count, a.Errors, a.Bytes, rollup.EncodeCodes(a.Codes), service, connect}
}

// sortedKeys are the keys of m in one order for every transaction — the
// order rows are locked in, so that two writers merging into the same rows
// never deadlock: minutes before hours, then by app, start, dyno, path,
// class, bytewise (the SQL side orders with COLLATE "C").
func sortedKeys(m map[rollup.Key]*rollup.Acc) []rollup.Key {
	keys := make([]rollup.Key, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keyLess(keys[i], keys[j]) })
	return keys
}

func keyLess(a, b rollup.Key) bool {
	if a.Res != b.Res {
		return a.Res < b.Res
	}
	if a.App != b.App {
		return a.App < b.App
	}
	if a.Start != b.Start {
		return a.Start < b.Start
	}
	if a.Dyno != b.Dyno {
		return a.Dyno < b.Dyno
	}
	if a.Path != b.Path {
		return a.Path < b.Path
	}
	return a.Class < b.Class
}

// mergeRollups adds the deltas to their rows in tx, in key order, and
// the deltas of minutes already folded to their hours.
func mergeRollups(ctx context.Context, tx pgx.Tx, deltas map[rollup.Key]*rollup.Acc) error {
	if len(deltas) == 0 {
		return nil
	}
	keys := sortedKeys(deltas)
	b := &pgx.Batch{}
	for _, k := range keys {
		b.Queue(rollupMerge, rowArgs(k, deltas[k])...)
	}
	res := tx.SendBatch(ctx, b)
	late := map[rollup.Key]*rollup.Acc{}
	for _, k := range keys {
		var folded bool
		if err := res.QueryRow().Scan(&folded); err != nil {
			res.Close()
			return err
		}
		if folded && k.Res == rollup.Minute {
			hk := k
			hk.Res, hk.Start = rollup.Hour, k.Start-k.Start%(rollup.Hour*1e6)
			if h := late[hk]; h != nil {
				if err := h.Merge(deltas[k]); err != nil {
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
	hours := map[rollup.Key]*rollup.Acc{}
	type minute struct {
		k                rollup.Key
		service, connect []byte
	}
	var minutes []minute
	for rows.Next() {
		k := rollup.Key{Res: rollup.Minute}
		m := rollup.NewAcc()
		var codes string
		var service, connect []byte
		if err := rows.Scan(&k.App, &k.Start, &k.Dyno, &k.Path, &k.Class, &m.Count, &m.Errors, &m.Bytes, &codes, &service, &connect); err != nil {
			rows.Close()
			return 0, err
		}
		if err := m.Decode(codes, service, connect); err != nil {
			rows.Close()
			return 0, err
		}
		mn := minute{k: k}
		mn.service, mn.connect = m.EncodeSketches(nil)
		minutes = append(minutes, mn)
		hk := k
		hk.Res = rollup.Hour
		hk.Start = k.Start - k.Start%(rollup.Hour*1e6)
		h := hours[hk]
		if h == nil {
			h = rollup.NewAcc()
			hours[hk] = h
		}
		if err := h.Merge(m); err != nil {
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
			m.k.App, m.k.Start, m.k.Dyno, m.k.Path, m.k.Class, m.service, m.connect)
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
func compactHours(ctx context.Context, tx pgx.Tx, keys []rollup.Key) error {
	b := &pgx.Batch{}
	for _, k := range keys {
		b.Queue(`SELECT service, connect FROM request_rollups WHERE app = $1 AND res = $2 AND start = $3 AND dyno = $4 AND path = $5 AND class = $6`,
			k.App, k.Res, k.Start, k.Dyno, k.Path, k.Class)
	}
	res := tx.SendBatch(ctx, b)
	up := &pgx.Batch{}
	for _, k := range keys {
		var service, connect []byte
		if err := res.QueryRow().Scan(&service, &connect); err != nil {
			res.Close()
			return err
		}
		a := rollup.NewAcc()
		if err := a.Decode("", service, connect); err != nil {
			res.Close()
			return err
		}
		s, c := a.EncodeSketches(nil)
		if len(s)+len(c) < len(service)+len(connect) {
			up.Queue(`UPDATE request_rollups SET service = $7, connect = $8
				WHERE app = $1 AND res = $2 AND start = $3 AND dyno = $4 AND path = $5 AND class = $6`,
				k.App, k.Res, k.Start, k.Dyno, k.Path, k.Class, s, c)
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
