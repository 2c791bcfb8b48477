// Package store keeps drainwatch's history in SQLite: one file, WAL mode,
// schema migrations, one batching writer, and the queries the CLI and the
// daemon ask.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	sqlite3 "github.com/mattn/go-sqlite3"
)

// driverName is go-sqlite3 with drainwatch's merge functions on every
// connection (rollup.go): rollup rows are merged in SQL, never overwritten.
const driverName = "sqlite3_drainwatch"

func init() {
	sql.Register(driverName, &sqlite3.SQLiteDriver{ConnectHook: func(c *sqlite3.SQLiteConn) error {
		if err := c.RegisterFunc("dw_sketch_merge", sketchMergeSQL, true); err != nil {
			return err
		}
		return c.RegisterFunc("dw_codes_merge", codesMergeSQL, true)
	}})
}

// DefaultPath is where the database lives unless told otherwise.
const DefaultPath = "drainwatch.db"

//go:embed migrations/*.sql
var migrations embed.FS

// DB is an open drainwatch database.
type DB struct {
	path string
	rw   *sql.DB // one connection: the writer's and migrations'
	ro   *sql.DB // readers; WAL lets them run beside the writer
	ckpt *checkpointer

	noSync bool // Options.NoSync: every commit under synchronous=NORMAL

	mu      sync.Mutex
	flusher func(context.Context) error // the Writer's Flush, while one is open on db
}

// sync has this process's Writer, if any, store the batches it has
// acknowledged (see Writer.Flush), so that a query sees every line
// acknowledged before it began. Errors are left to the writer to report:
// the query answers from what is stored.
func (db *DB) sync(ctx context.Context) {
	db.mu.Lock()
	f := db.flusher
	db.mu.Unlock()
	if f != nil {
		f(ctx)
	}
}

// Options tune Open.
type Options struct {
	// ReadOnly opens an existing database for queries only: no migrations, no
	// writer. The file must exist.
	ReadOnly bool
	// NoSync trades durability on power loss for speed: a batch is
	// acknowledged once committed, without waiting for the disk
	// (synchronous=NORMAL). A process crash still loses nothing committed.
	NoSync bool
	// MaxPages caps the file at this many pages (of 4 KiB); writes beyond it
	// fail as on a full disk. 0: no cap.
	MaxPages int
}

// Open opens (creating if needed) the database at path and brings its schema
// up to date.
func Open(ctx context.Context, path string, opts Options) (*DB, error) {
	if path == "" {
		path = DefaultPath
	}
	if opts.ReadOnly {
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("open database: %w", err)
		}
	} else if err := checkWritableDir(path); err != nil {
		return nil, err
	}
	q := url.Values{}
	q.Set("_busy_timeout", "5000")
	q.Set("_journal_mode", "WAL")
	// FULL: a commit returns once the WAL holding it is on disk, so an
	// acknowledged batch survives power loss. (The roller's commits set
	// NORMAL for themselves: roller.begin.) NORMAL (NoSync) leaves the
	// WAL to the OS: a process crash loses nothing committed, a power cut
	// may lose the last commits.
	q.Set("_synchronous", "FULL")
	if opts.NoSync {
		q.Set("_synchronous", "NORMAL")
	}
	q.Set("_txlock", "immediate")
	dsn := "file:" + url.PathEscape(path) + "?" + q.Encode()
	db := &DB{path: path, noSync: opts.NoSync}
	var err error
	if !opts.ReadOnly {
		if db.rw, err = sql.Open(driverName, dsn); err != nil {
			return nil, fmt.Errorf("open database: %w", err)
		}
		db.rw.SetMaxOpenConns(1)
		db.rw.SetConnMaxIdleTime(0)
		if err := db.rw.PingContext(ctx); err != nil {
			db.rw.Close()
			return nil, fmt.Errorf("open database %s: %w", path, err)
		}
		if err := migrate(ctx, db.rw); err != nil {
			db.rw.Close()
			return nil, err
		}
		if _, err := db.rw.ExecContext(ctx, "PRAGMA wal_autocheckpoint = 0"); err != nil {
			db.rw.Close()
			return nil, fmt.Errorf("open database: %w", err)
		}
		if opts.MaxPages > 0 {
			if _, err := db.rw.ExecContext(ctx, fmt.Sprintf("PRAGMA max_page_count = %d", opts.MaxPages)); err != nil {
				db.rw.Close()
				return nil, fmt.Errorf("open database: %w", err)
			}
		}
		if db.ckpt, err = startCheckpointer(dsn); err != nil {
			db.rw.Close()
			return nil, fmt.Errorf("open database: %w", err)
		}
	}
	q.Set("mode", "ro")
	q.Del("_txlock")
	if opts.ReadOnly {
		q.Del("_journal_mode") // a read-only connection cannot change it
	}
	if db.ro, err = sql.Open(driverName, "file:"+url.PathEscape(path)+"?"+q.Encode()); err != nil {
		db.Close()
		return nil, fmt.Errorf("open database: %w", err)
	}
	db.ro.SetMaxOpenConns(4)
	if err := db.ro.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	if opts.ReadOnly {
		var v int
		if err := db.ro.QueryRowContext(ctx, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations").Scan(&v); err != nil {
			db.Close()
			return nil, fmt.Errorf("%s is not a drainwatch database: %w", path, err)
		}
	}
	return db, nil
}

// checkWritableDir gives a clear error, at start-up, when the database cannot
// be created or written, instead of failures at the first ingest.
func checkWritableDir(path string) error {
	dir := filepath.Dir(path)
	st, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("database directory: %w", err)
	}
	if !st.IsDir() {
		return fmt.Errorf("database directory %s is not a directory", dir)
	}
	f, err := os.CreateTemp(dir, ".drainwatch-probe-*")
	if err != nil {
		return fmt.Errorf("database directory %s is not writable: %w", dir, err)
	}
	name := f.Name()
	f.Close()
	os.Remove(name)
	return nil
}

// Path returns the database file's path.
func (db *DB) Path() string { return db.path }

// Close closes the database. Close the Writer first.
func (db *DB) Close() error {
	var errs []error
	if db.ro != nil {
		errs = append(errs, db.ro.Close())
	}
	if db.ckpt != nil {
		errs = append(errs, db.ckpt.close())
	}
	if db.rw != nil {
		// Fold the WAL back into the main file, so the file alone is the database.
		_, err := db.rw.Exec("PRAGMA wal_checkpoint(TRUNCATE)")
		errs = append(errs, err, db.rw.Close())
	}
	return errors.Join(errs...)
}

// migrate applies every embedded migration not yet applied, each in its own
// transaction.
func migrate(ctx context.Context, db *sql.DB) error {
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL)`); err != nil {
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
		if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM schema_migrations WHERE version = ?", version).Scan(&n); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		if n > 0 {
			continue
		}
		body, err := migrations.ReadFile("migrations/" + e.Name())
		if err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		if _, err := tx.ExecContext(ctx, string(body)); err != nil {
			tx.Rollback()
			return fmt.Errorf("migrate %s: %w", e.Name(), err)
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO schema_migrations (version, name) VALUES (?, ?)", version, strings.TrimSuffix(e.Name(), ".sql")); err != nil {
			tx.Rollback()
			return fmt.Errorf("migrate %s: %w", e.Name(), err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migrate %s: %w", e.Name(), err)
		}
	}
	return nil
}
