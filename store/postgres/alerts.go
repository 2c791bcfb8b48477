package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/drainwatch/drainwatch/store"
)

// InsertAlert stores an alert and, when deliver is set, queues its delivery,
// in one transaction. It returns the alert's id.
func (db *DB) InsertAlert(ctx context.Context, a store.AlertRecord, deliver bool) (int64, error) {
	if db.readOnly {
		return 0, fmt.Errorf("insert alert: database is read-only")
	}
	// One statement, one transaction: the alert and its place in the queue.
	var id int64
	err := db.queryRow(ctx, `WITH a AS (INSERT INTO alerts (app, dyno, rule, state, time, summary, details, created)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id),
		d AS (INSERT INTO deliveries (alert_id, status, next_attempt, updated) SELECT id, 'pending', ?, ? FROM a WHERE ?)
		SELECT id FROM a`,
		a.App, a.Dyno, a.Rule, a.State, a.Time.UnixMicro(), a.Summary, a.Details, a.Created.UnixMicro(),
		a.Created.UnixMicro(), a.Created.UnixMicro(), deliver).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("insert alert: %w", err)
	}
	return id, nil
}

const alertColumns = `a.id, a.app, a.dyno, a.rule, a.state, a.time, a.summary, a.details, a.created`

func scanAlert(sc interface{ Scan(...any) error }, extra ...any) (store.AlertRecord, error) {
	var a store.AlertRecord
	var t, c int64
	dest := append([]any{&a.ID, &a.App, &a.Dyno, &a.Rule, &a.State, &t, &a.Summary, &a.Details, &c}, extra...)
	if err := sc.Scan(dest...); err != nil {
		return a, err
	}
	a.Time, a.Created = time.UnixMicro(t).UTC(), time.UnixMicro(c).UTC()
	return a, nil
}

// Alerts returns stored alerts matching f (by log time), oldest first.
func (db *DB) Alerts(ctx context.Context, f store.Filter) ([]store.AlertRecord, error) {
	where, args := whereClause(f)
	return collect(ctx, db, "query alerts", newestByID(`SELECT `+alertColumns+` FROM alerts a`, "alerts a", "a.id", where, "a.time, a.id", f.Limit), args, scanAlertRow)
}

func scanAlertRow(r pgx.CollectableRow) (store.AlertRecord, error) { return scanAlert(r) }

// OpenAlerts returns, for every (app, dyno, rule), its latest alert if that
// one is firing: the episodes open when the daemon stopped.
func (db *DB) OpenAlerts(ctx context.Context) ([]store.AlertRecord, error) {
	return collect(ctx, db, "query open alerts", `SELECT `+alertColumns+` FROM alerts a
		WHERE a.id IN (SELECT MAX(id) FROM alerts GROUP BY app, dyno, rule) AND a.state = 'firing' ORDER BY a.id`, nil, scanAlertRow)
}

// PendingDeliveries returns up to limit deliveries still to be made, oldest
// alert first.
func (db *DB) PendingDeliveries(ctx context.Context, limit int) ([]store.Delivery, error) {
	return collect(ctx, db, "query deliveries", `SELECT `+alertColumns+`, d.attempts, d.next_attempt, d.last_error
		FROM deliveries d JOIN alerts a ON a.id = d.alert_id WHERE d.status = 'pending' ORDER BY d.alert_id LIMIT ?`, []any{limit},
		func(r pgx.CollectableRow) (store.Delivery, error) {
			var d store.Delivery
			var next int64
			a, err := scanAlert(r, &d.Attempts, &next, &d.LastError)
			d.Alert, d.NextAttempt = a, time.UnixMicro(next).UTC()
			return d, err
		})
}

// UpdateDelivery records an attempt: status sent, failed (given up), or
// pending with the next attempt's time.
func (db *DB) UpdateDelivery(ctx context.Context, alertID int64, status string, attempts int, next time.Time, lastErr string, now time.Time) error {
	_, err := db.exec(ctx, `UPDATE deliveries SET status = ?, attempts = ?, next_attempt = ?, last_error = ?, updated = ? WHERE alert_id = ?`,
		status, attempts, next.UnixMicro(), lastErr, now.UnixMicro(), alertID)
	if err != nil {
		return fmt.Errorf("update delivery: %w", err)
	}
	return nil
}

// DeliveryStatus returns the delivery of one alert: its status (pending,
// sent, failed), how many attempts were made, and the last error.
func (db *DB) DeliveryStatus(ctx context.Context, alertID int64) (status string, attempts int, lastErr string, err error) {
	err = db.queryRow(ctx, `SELECT status, attempts, last_error FROM deliveries WHERE alert_id = ?`, alertID).Scan(&status, &attempts, &lastErr)
	if err != nil {
		return "", 0, "", fmt.Errorf("delivery status: %w", err)
	}
	return status, attempts, lastErr, nil
}
