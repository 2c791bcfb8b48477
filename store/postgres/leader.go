package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/drainwatch/drainwatch/parser"
	"github.com/drainwatch/drainwatch/store"
	"github.com/drainwatch/drainwatch/store/pending"
)

// Elector runs the work that must happen once per database — alert
// evaluation and delivery, retention, folding — in the one process that
// holds a session-level advisory lock on a connection of its own. When
// that process dies its connection closes, the server releases the lock,
// and the next process to try (every Every) takes over.
type Elector struct {
	DB    *DB
	Every time.Duration // how often a follower tries the lock and a leader checks its connection; default 10s
	Log   *slog.Logger
	// Lead runs while this process leads; its context ends when it stops
	// leading (connection lost, or Run's context ended). Run waits for it.
	Lead func(ctx context.Context)

	leading atomic.Bool
}

// Leading reports whether this process holds the lock now.
func (e *Elector) Leading() bool { return e.leading.Load() }

// Run tries for the lock until ctx ends.
func (e *Elector) Run(ctx context.Context) {
	every := e.Every
	if every <= 0 {
		every = 10 * time.Second
	}
	for {
		err := e.term(ctx, every)
		if ctx.Err() != nil {
			return
		}
		if err != nil && e.Log != nil {
			e.Log.Warn("leader election", "error", err.Error())
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
	}
}

// term connects, waits for the lock, leads until the connection fails or
// ctx ends.
func (e *Elector) term(ctx context.Context, every time.Duration) error {
	conn, err := pgx.Connect(ctx, e.DB.url)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		var got bool
		if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", int64(leaderLockKey)).Scan(&got); err != nil {
			return err
		}
		if got {
			break
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
	if e.Log != nil {
		e.Log.Info("leading: this process evaluates alerts, delivers them, and runs retention and folding")
	}
	lctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	e.leading.Store(true)
	go func() {
		defer close(done)
		e.Lead(lctx)
	}()
	var lost error
	for lost == nil {
		select {
		case <-ctx.Done():
			lost = ctx.Err()
		case <-t.C:
			pctx, pcancel := context.WithTimeout(ctx, every)
			lost = conn.Ping(pctx)
			pcancel()
		}
	}
	cancel()
	<-done
	e.leading.Store(false)
	if ctx.Err() == nil {
		return fmt.Errorf("lost the leader lock's connection: %w", lost)
	}
	return nil
}

// Maintain runs retention, frame-id expiry and folding every minute until
// ctx ends: the elected process's share of the writer's work.
func (db *DB) Maintain(ctx context.Context, r store.Retention, log *slog.Logger, now func() time.Time) {
	if now == nil {
		now = time.Now
	}
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		// The first pass a minute after taking the lead, as SQLite's
		// writer does: a daemon started on old history (an import) does
		// not delete it at once.
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for {
			n, err := db.foldMinutes(ctx, 2*time.Minute, foldChunk)
			if err != nil && ctx.Err() == nil && log != nil {
				log.Error("rollup folding", "error", err.Error())
			}
			if err != nil || n < foldChunk {
				break
			}
		}
		if err := db.pruneFrameIDs(ctx, now(), 24*time.Hour); err != nil && ctx.Err() == nil && log != nil {
			log.Error("retention", "error", err.Error())
		}
		if !r.Off {
			n, _, err := db.prune(ctx, r, now(), 1000)
			if err != nil && ctx.Err() == nil && log != nil {
				log.Error("retention", "error", err.Error())
			}
			if n > 0 && log != nil {
				log.Info("retention deleted old history", "rows", n)
			}
		}
	}
}

const foldChunk = 20000

// Fold folds every finished minute now (tests; Maintain does it every
// minute).
func (db *DB) Fold(ctx context.Context) error {
	for {
		n, err := db.foldMinutes(ctx, 2*time.Minute, foldChunk)
		if err != nil || n < foldChunk {
			return err
		}
	}
}

// FeedObserver is what the alert feed hands the evaluator (alerts.Service).
type FeedObserver interface {
	Observe(app string, events []parser.Event)
	Flush(ctx context.Context) error
}

// Feed hands every batch stored by any process to obs, oldest first, every
// poll, until ctx ends: a batch is deleted from the feed once obs has
// judged it (Flush), so a leader that dies leaves it to the next.
func (db *DB) Feed(ctx context.Context, obs FeedObserver, poll time.Duration, log *slog.Logger) {
	if poll <= 0 {
		poll = time.Second
	}
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		for {
			n, err := db.feedOnce(ctx, obs, 200)
			if err != nil && ctx.Err() == nil && log != nil {
				log.Error("alert feed", "error", err.Error())
			}
			if err != nil || n < 200 {
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (db *DB) feedOnce(ctx context.Context, obs FeedObserver, limit int) (int, error) {
	rows, err := db.pool.Query(ctx, `SELECT id, app, router, rest FROM alert_feed ORDER BY id LIMIT $1`, limit)
	if err != nil {
		return 0, err
	}
	var ids []int64
	var evs, restEvs []parser.Event
	for rows.Next() {
		var id int64
		var app string
		var router, rest []byte
		if err := rows.Scan(&id, &app, &router, &rest); err != nil {
			rows.Close()
			return 0, err
		}
		ids = append(ids, id)
		evs = evs[:0]
		if router != nil {
			// The router lines as the rules see them: dyno and time.
			err = pending.DecodeRouter(router, func(l *pending.RouterLine) error {
				evs = append(evs, parser.Event{Kind: parser.KindRouter, Time: time.Unix(l.Unix, 0).UTC(), Dyno: []byte(l.Dyno)})
				return nil
			})
		}
		if err == nil && rest != nil {
			restEvs, err = pending.DecodeRest(rest, restEvs)
			evs = append(evs, restEvs...)
		}
		if err != nil && !errors.Is(err, pending.ErrCorrupt) {
			rows.Close()
			return 0, err
		}
		obs.Observe(app, evs)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	if len(ids) == 0 {
		return 0, nil
	}
	if err := obs.Flush(ctx); err != nil {
		return 0, err
	}
	_, err = db.pool.Exec(ctx, `DELETE FROM alert_feed WHERE id = ANY($1)`, ids)
	return len(ids), err
}

// FeedLen is how many stored batches the alert evaluator has still to
// judge.
func (db *DB) FeedLen(ctx context.Context) (int64, error) {
	var n int64
	err := db.pool.QueryRow(ctx, `SELECT COUNT(*) FROM alert_feed`).Scan(&n)
	return n, err
}
