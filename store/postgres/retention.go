package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/drainwatch/drainwatch/store"
)

// DefaultLogRetention is how long a daemon on PostgreSQL keeps the app's
// own lines unless told (LOG_RETENTION): they are most of its bytes, and a
// day of them keeps a week of a 100 req/s app within Heroku's essential-0
// (docs/deploy.md).
const DefaultLogRetention = 24 * time.Hour

// pruneChunk is how many rows one retention DELETE removes at most, so
// that no statement holds locks long.
const pruneChunk = 5000

// prune deletes what retention r says is old at now, at most maxChunks
// DELETEs, and reports how many rows and whether it got to the end. Only
// the elected process prunes.
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
			tag, err := db.pool.Exec(ctx, fmt.Sprintf(`DELETE FROM %s WHERE ctid = ANY(ARRAY(SELECT ctid FROM %s WHERE %s < $1%s LIMIT %d))`,
				t.Table, t.Table, t.TimeCol, extra, pruneChunk), cutoff)
			if err != nil {
				return total, false, fmt.Errorf("prune %s: %w", t.Table, err)
			}
			n := tag.RowsAffected()
			total += n
			if n > 0 {
				chunks++
			}
			if n < pruneChunk {
				break
			}
		}
	}
	return total, true, nil
}

// pruneFrameIDs forgets the frame ids received before now-age, and the
// alert feed's rows older than that (left by an evaluator that stopped).
func (db *DB) pruneFrameIDs(ctx context.Context, now time.Time, age time.Duration) error {
	cutoff := now.Add(-age).UnixMicro()
	for range 100 {
		tag, err := db.pool.Exec(ctx, `DELETE FROM frames WHERE ctid = ANY(ARRAY(SELECT ctid FROM frames WHERE received < $1 LIMIT 5000))`, cutoff)
		if err != nil {
			return fmt.Errorf("prune frame ids: %w", err)
		}
		if tag.RowsAffected() < 5000 {
			break
		}
	}
	_, err := db.pool.Exec(ctx, `DELETE FROM alert_feed WHERE created < $1`, cutoff)
	return err
}
