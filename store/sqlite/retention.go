package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/drainwatch/drainwatch/store"
)

// pruneChunk is how many rows one DELETE removes: small, so that ingest never
// waits long behind retention.
const pruneChunk = 2000

// prune deletes history older than the retention, at most maxChunks chunks
// of rows a call; it returns how many rows it deleted and whether it is done.
func (db *DB) prune(ctx context.Context, r store.Retention, now time.Time, maxChunks int) (int64, bool, error) {
	r = r.WithDefaults()
	type target struct {
		table, timeCol, extra string
		age                   time.Duration
	}
	targets := []target{
		{"memory", "time", "", r.History},
		{"load", "time", "", r.History},
		{"errors", "time", "", r.History},
		{"events", "time", "", r.History},
		{"alerts", "time", " AND id NOT IN (SELECT alert_id FROM deliveries WHERE status = 'pending')", r.History},
		{"request_rollups", "start", " AND res = 3600", r.History},
		{"request_rollups", "start", " AND res = 60 AND folded = 1", r.Minutes},
		{"request_rollups", "start", " AND res = 60", r.History}, // never folded: past all history anyway
		{"logs", "time", "", r.Logs},
		{"app_logs", "last", "", r.Logs},
		{"samples", "time", "", r.Logs},
		{"requests", "time", "", r.Raw},
	}
	var total int64
	chunks := 0
	for _, t := range targets {
		cutoff := now.Add(-t.age).UnixMicro()
		for {
			if chunks >= maxChunks {
				return total, false, nil
			}
			key := "rowid"
			if t.table == "request_rollups" {
				// WITHOUT ROWID: delete by the time column in a bounded range.
				res, err := db.rw.ExecContext(ctx, fmt.Sprintf(`DELETE FROM request_rollups WHERE %s < ?%s AND %s IN
					(SELECT %s FROM request_rollups WHERE %s < ?%s LIMIT %d)`, t.timeCol, t.extra, t.timeCol, t.timeCol, t.timeCol, t.extra, pruneChunk),
					cutoff, cutoff)
				if err != nil {
					return total, false, fmt.Errorf("prune %s: %w", t.table, err)
				}
				n, _ := res.RowsAffected()
				if n == 0 {
					break
				}
				total += n
				chunks++
				continue
			}
			res, err := db.rw.ExecContext(ctx, fmt.Sprintf(`DELETE FROM %s WHERE %s IN (SELECT %s FROM %s WHERE %s < ?%s LIMIT %d)`,
				t.table, key, key, t.table, t.timeCol, t.extra, pruneChunk), cutoff)
			if err != nil {
				return total, false, fmt.Errorf("prune %s: %w", t.table, err)
			}
			n, _ := res.RowsAffected()
			total += n
			if n > 0 {
				chunks++ // an empty pass is cheap and does not count
			}
			if n < pruneChunk {
				break
			}
		}
	}
	// Delivery records of alerts that are gone.
	if _, err := db.rw.ExecContext(ctx, `DELETE FROM deliveries WHERE alert_id NOT IN (SELECT id FROM alerts)`); err != nil {
		return total, false, fmt.Errorf("prune deliveries: %w", err)
	}
	return total, true, nil
}
