// Package postgres keeps drainwatch's history in PostgreSQL, for a daemon
// whose disk does not last (a Heroku dyno) and for several daemons on one
// database: the same tables as store/sqlite, the same pending-batch and
// sketch encodings, frame ids deduplicated and rollups merged in the
// database, and the work that must happen once (alerts, retention,
// folding) in the one process holding an advisory lock (Elect).
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed migrations/*.sql
var migrations embed.FS

// IsURL reports whether s names a PostgreSQL database (postgres:// or
// postgresql://) rather than a SQLite file.
func IsURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// Redact is u without its password, for logs and messages.
func Redact(u string) string {
	pu, err := url.Parse(u)
	if err != nil {
		return "postgres://…"
	}
	return pu.Redacted()
}

// Advisory lock keys (pg_advisory_lock's bigint space is the database's):
// "dwmigr" and "dwlead" as numbers.
const (
	migrateLockKey = 0x64776d696772
	leaderLockKey  = 0x64776c656164
)

// Options tune Open.
type Options struct {
	// ReadOnly: no migrations, and the schema must be there already.
	ReadOnly bool
	// MaxConns caps the pool (Heroku's essential plans allow 20
	// connections to a database in all). Default 6, or the URL's
	// pool_max_conns.
	MaxConns int
}

// DB is an open drainwatch database on a PostgreSQL server.
type DB struct {
	url      string
	pool     *pgxpool.Pool
	readOnly bool

	mu      sync.Mutex
	flusher func(context.Context) error // the Writer's Flush, while one is open
}

// Open connects to the database at url (postgres://user:pass@host/db,
// with its sslmode honoured) and brings its schema up to date.
func Open(ctx context.Context, rawURL string, opts Options) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(rawURL)
	if err != nil {
		return nil, fmt.Errorf("database URL %s: %w", Redact(rawURL), err)
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = int32(opts.MaxConns)
	} else if !strings.Contains(rawURL, "pool_max_conns") {
		cfg.MaxConns = 6
	}
	cfg.ConnConfig.RuntimeParams["application_name"] = "drainwatch"
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", Redact(rawURL), err)
	}
	db := &DB{url: rawURL, pool: pool, readOnly: opts.ReadOnly}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open database %s: %w", Redact(rawURL), err)
	}
	if opts.ReadOnly {
		var v int
		if err := pool.QueryRow(ctx, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations").Scan(&v); err != nil {
			pool.Close()
			return nil, fmt.Errorf("%s is not a drainwatch database: %w", Redact(rawURL), err)
		}
		return db, nil
	}
	if err := migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	return db, nil
}

// URL is the database's URL, password redacted.
func (db *DB) URL() string { return Redact(db.url) }

// Path is URL: where the database is, for messages.
func (db *DB) Path() string { return db.URL() }

// Close closes the pool. Close the Writer first.
func (db *DB) Close() error {
	db.pool.Close()
	return nil
}

// Pool is the connection pool, for what this package does not wrap.
func (db *DB) Pool() *pgxpool.Pool { return db.pool }

// sync has this process's Writer store the batches acknowledged so far
// (Writer.Flush), so that a query sees every line acknowledged before it.
func (db *DB) sync(ctx context.Context) {
	db.mu.Lock()
	f := db.flusher
	db.mu.Unlock()
	if f != nil {
		f(ctx)
	}
}

// migrate applies every embedded migration not yet applied, all in one
// transaction under an advisory lock: processes starting together wait
// for the first.
func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", int64(migrateLockKey)); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL)`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	names, err := migrations.ReadDir("migrations")
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	sort.Slice(names, func(i, j int) bool { return names[i].Name() < names[j].Name() })
	for _, e := range names {
		var version int
		if _, err := fmt.Sscanf(e.Name(), "%d_", &version); err != nil {
			return fmt.Errorf("migrate: bad migration name %q", e.Name())
		}
		var n int
		if err := tx.QueryRow(ctx, "SELECT COUNT(*) FROM schema_migrations WHERE version = $1", version).Scan(&n); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		if n > 0 {
			continue
		}
		body, err := migrations.ReadFile("migrations/" + e.Name())
		if err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		if _, err := tx.Exec(ctx, string(body)); err != nil {
			return fmt.Errorf("migrate %s: %w", e.Name(), err)
		}
		if _, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", version, strings.TrimSuffix(e.Name(), ".sql")); err != nil {
			return fmt.Errorf("migrate %s: %w", e.Name(), err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// rebind turns the ?-placeholders of q (the SQLite backend's style, kept
// so the two read alike) into $1, $2, ….
func rebind(q string) string {
	if !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 16)
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}

func (db *DB) query(ctx context.Context, q string, args ...any) (pgx.Rows, error) {
	return db.pool.Query(ctx, rebind(q), args...)
}

func (db *DB) queryRow(ctx context.Context, q string, args ...any) pgx.Row {
	return db.pool.QueryRow(ctx, rebind(q), args...)
}

func (db *DB) exec(ctx context.Context, q string, args ...any) (pgconn.CommandTag, error) {
	return db.pool.Exec(ctx, rebind(q), args...)
}

// retryable is a transaction that failed only because of another one: a
// deadlock or a serialization failure. Running it again is safe.
func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40P01" || pe.Code == "40001")
}

// Size is the database's size in bytes (pg_database_size).
func (db *DB) Size(ctx context.Context) (int64, error) {
	var n int64
	err := db.pool.QueryRow(ctx, "SELECT pg_database_size(current_database())").Scan(&n)
	return n, err
}

func micros(t time.Time) int64 { return t.UnixMicro() }
