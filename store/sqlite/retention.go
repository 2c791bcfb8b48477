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
	var total int64
	chunks := 0
	for _, t := range r.Targets() {
		cutoff := now.Add(-t.Age).UnixMicro()
		extra := ""
		if t.Where != "" {
			extra = " AND " + t.Where
		}
		for {
			if chunks >= maxChunks {
				return total, false, nil
			}
			key := "rowid"
			if t.Table == "request_rollups" {
				// WITHOUT ROWID: delete by the time column in a bounded range.
				res, err := db.rw.ExecContext(ctx, fmt.Sprintf(`DELETE FROM request_rollups WHERE %s < ?%s AND %s IN
					(SELECT %s FROM request_rollups WHERE %s < ?%s LIMIT %d)`, t.TimeCol, extra, t.TimeCol, t.TimeCol, t.TimeCol, extra, pruneChunk),
					cutoff, cutoff)
				if err != nil {
					return total, false, fmt.Errorf("prune %s: %w", t.Table, err)
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
				t.Table, key, key, t.Table, t.TimeCol, extra, pruneChunk), cutoff)
			if err != nil {
				return total, false, fmt.Errorf("prune %s: %w", t.Table, err)
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
