package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx", for copy's generic row moving

	"github.com/drainwatch/drainwatch/internal/lockfile"
	"github.com/drainwatch/drainwatch/store"
	"github.com/drainwatch/drainwatch/store/postgres"
	"github.com/drainwatch/drainwatch/store/sqlite"
)

// copyCommand moves history between databases: SQLite to PostgreSQL (to
// put a local history on Heroku Postgres) and back (to query a shared
// database's history offline).
type copyCommand struct{ env *env }

func (c *copyCommand) Run(ctx context.Context, args []string) error {
	e := c.env
	fs := flag.NewFlagSet("copy", flag.ContinueOnError)
	from := fs.String("from", "", "the database to copy from: sqlite:PATH (or a file path) or postgres://…")
	to := fs.String("to", "", "the database to copy into (created if need be): sqlite:PATH (or a file path) or postgres://…")
	batch := fs.Int("batch", 5000, "rows per transaction")
	quiet := fs.Bool("quiet", false, "no progress lines")
	if err := parseFlags(fs, args, e.stdout, "copy --from SRC --to DST\n\n"+
		"Copies every kind of history (samples, errors, events, app lines, request rollups, alerts and their\n"+
		"deliveries, frame ids) from one database to another, either way between SQLite and PostgreSQL, e.g.\n"+
		"  drainwatch copy --from sqlite:./drainwatch.db --to \"$DATABASE_URL\"\n"+
		"It commits a chunk of rows at a time with its place in the destination (table copy_progress), so an\n"+
		"interrupted copy run again goes on where it stopped, copying nothing twice. Copy into a database that\n"+
		"holds no other history of the same minutes, and from one no daemon writes to (stop it first: its last\n"+
		"rows and rollups still changing are otherwise missed)."); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErr("unexpected argument %q", fs.Arg(0))
	}
	if *from == "" || *to == "" {
		return usageErr("give both --from and --to")
	}
	if *batch <= 0 {
		return usageErr("--batch must be positive")
	}
	cp := &copier{batch: *batch, out: e.stdout}
	if !*quiet {
		cp.progress = e.stderr
	}
	src, err := openCopyEnd(ctx, *from, false)
	if err != nil {
		return fmt.Errorf("--from: %w", err)
	}
	defer src.close()
	dst, err := openCopyEnd(ctx, *to, true)
	if err != nil {
		return fmt.Errorf("--to: %w", err)
	}
	defer dst.close()
	if src.id == dst.id {
		return usageErr("--from and --to are the same database")
	}
	return cp.run(ctx, src, dst)
}

// copyEnd is one side of a copy: a database/sql handle and its dialect.
type copyEnd struct {
	pg    bool
	id    string // the database, for copy_progress and messages
	db    *sql.DB
	close func()
}

// openCopyEnd opens a database for copy. Either side stores what was left
// pending first; a SQLite file a daemon holds is refused.
func openCopyEnd(ctx context.Context, spec string, create bool) (*copyEnd, error) {
	if postgres.IsURL(spec) {
		pdb, err := postgres.Open(ctx, spec, postgres.Options{MaxConns: 2})
		if err != nil {
			return nil, err
		}
		w, err := postgres.NewWriter(pdb, postgres.WriterOptions{})
		if err != nil {
			pdb.Close()
			return nil, err
		}
		w.Close()
		pdb.Close()
		db, err := sql.Open("pgx", spec)
		if err != nil {
			return nil, err
		}
		return &copyEnd{pg: true, id: postgres.Redact(spec), db: db, close: func() { db.Close() }}, nil
	}
	path := strings.TrimPrefix(spec, "sqlite:")
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	if !create {
		if _, err := sqlite.Open(ctx, path, sqlite.Options{ReadOnly: true}); err != nil {
			return nil, err
		}
	}
	lock, err := lockfile.Acquire(path, lockfile.Holder{Command: "copy"})
	if err != nil {
		var held *lockfile.HeldError
		if errors.As(err, &held) {
			return nil, fmt.Errorf("%w: stop it before copying %s", err, path)
		}
		return nil, err
	}
	sdb, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		lock.Release()
		return nil, err
	}
	w, err := sqlite.NewWriter(sdb, sqlite.WriterOptions{Retention: store.Retention{Off: true}})
	if err != nil {
		sdb.Close()
		lock.Release()
		return nil, err
	}
	w.Close()
	sdb.Close()
	// The driver store/sqlite registers: its merge functions are there.
	db, err := sql.Open("sqlite3_drainwatch", "file:"+url.PathEscape(path)+"?_busy_timeout=5000&_txlock=immediate&_synchronous=FULL")
	if err != nil {
		lock.Release()
		return nil, err
	}
	db.SetMaxOpenConns(1)
	return &copyEnd{id: abs, db: db, close: func() { db.Close(); lock.Release() }}, nil
}

// rebind is q with ?-placeholders for SQLite, $n for PostgreSQL.
func (c *copyEnd) rebind(q string) string {
	if !c.pg {
		return q
	}
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// copyTable is one table as copy moves it. Column kinds: t text, i
// integer, f real, b bytes, o a flag (0/1; PostgreSQL's boolean).
type copyTable struct {
	name  string
	cols  []string
	kinds string
	// key orders and resumes the source: nil means its physical order
	// (SQLite's rowid, PostgreSQL's ctid: the tables are append-only),
	// else these columns (a primary key).
	key []string
	// insert is the destination's statement (?-placeholders), by dialect.
	insert func(pg bool) string
}

func plainInsert(name string, cols []string, tail string) func(bool) string {
	return func(bool) string {
		return "INSERT INTO " + name + " (" + strings.Join(cols, ", ") + ") VALUES (" +
			strings.TrimSuffix(strings.Repeat("?, ", len(cols)), ", ") + ")" + tail
	}
}

var rollupCols = []string{"app", "res", "start", "dyno", "path", "class", "count", "errors", "bytes", "codes", "service", "connect", "folded"}

var copyTables = func() []copyTable {
	t := func(name, kinds string, cols ...string) copyTable {
		return copyTable{name: name, cols: cols, kinds: kinds, insert: plainInsert(name, cols, "")}
	}
	frames := t("frames", "ttii", "app", "frame_id", "received", "lines")
	frames.key = []string{"app", "frame_id"}
	frames.insert = plainInsert("frames", frames.cols, " ON CONFLICT DO NOTHING")
	rollups := copyTable{name: "request_rollups", cols: rollupCols, kinds: "tiitttiiitbbo", key: rollupCols[:6],
		insert: func(pg bool) string {
			// Merged into a row already there, as a writer's delta is.
			if pg {
				return `INSERT INTO request_rollups AS r (` + strings.Join(rollupCols, ", ") + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?::bigint <> 0)
					ON CONFLICT (app, res, start, dyno, path, class) DO UPDATE SET count = r.count + excluded.count,
					errors = r.errors + excluded.errors, bytes = r.bytes + excluded.bytes, codes = dw_codes_merge(r.codes, excluded.codes),
					service = COALESCE(r.service, ''::bytea) || COALESCE(excluded.service, ''::bytea),
					connect = COALESCE(r.connect, ''::bytea) || COALESCE(excluded.connect, ''::bytea)`
			}
			return `INSERT INTO request_rollups (` + strings.Join(rollupCols, ", ") + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
				ON CONFLICT (app, res, start, dyno, path, class) DO UPDATE SET count = count + excluded.count,
				errors = errors + excluded.errors, bytes = bytes + excluded.bytes, codes = dw_codes_merge(codes, excluded.codes),
				service = dw_sketch_merge(service, excluded.service), connect = dw_sketch_merge(connect, excluded.connect)`
		}}
	return []copyTable{
		frames,
		t("memory", "tittffffiif", "app", "time", "dyno", "boot", "total_mb", "rss_mb", "cache_mb", "swap_mb", "pgpgin", "pgpgout", "quota_mb"),
		t("load", "titfff", "app", "time", "dyno", "boot", "avg1m", "avg5m", "avg15m"),
		t("errors", "titttffi", "app", "time", "dyno", "code", "message", "mem_mb", "percent", "dropped"),
		t("events", "tittttit", "app", "time", "dyno", "kind", "action", "detail", "status", "message"),
		t("samples", "titttftt", "app", "time", "source", "type", "name", "value", "unit", "text"),
		t("logs", "tittt", "app", "time", "app_name", "proc", "message"),
		t("app_logs", "tiiit", "app", "first", "last", "lines", "body"),
		t("requests", "tittttttttiiiit", "app", "time", "dyno", "at", "code", "method", "path", "host", "request_id", "fwd", "connect_ms", "service_ms", "status", "bytes", "protocol"),
		rollups,
	}
}()

// copier copies table by table, a chunk a transaction.
type copier struct {
	batch     int
	out       io.Writer
	progress  io.Writer // nil: quiet
	stopAfter int       // tests: stop (as an interruption would) after this many chunks
	chunks    int
}

var errCopyStopped = errors.New("copy stopped")

func (cp *copier) run(ctx context.Context, src, dst *copyEnd) error {
	if _, err := dst.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS copy_progress (source TEXT NOT NULL, tbl TEXT NOT NULL,
		cursor TEXT NOT NULL, rows BIGINT NOT NULL, PRIMARY KEY (source, tbl))`); err != nil {
		return fmt.Errorf("copy progress table: %w", err)
	}
	start := time.Now()
	var total int64
	for _, t := range copyTables {
		n, err := cp.table(ctx, src, dst, t)
		total += n
		if err != nil {
			return fmt.Errorf("copy %s: %w", t.name, err)
		}
	}
	if err := cp.alerts(ctx, src, dst); err != nil {
		return fmt.Errorf("copy alerts: %w", err)
	}
	fmt.Fprintf(cp.out, "copied %s to %s in %s\n", src.id, dst.id, time.Since(start).Round(time.Millisecond))
	return nil
}

// place reads where a copy of tbl from src stopped: its cursor and rows.
func (cp *copier) place(ctx context.Context, src, dst *copyEnd, tbl string) (string, int64, error) {
	var cursor string
	var rows int64
	err := dst.db.QueryRowContext(ctx, dst.rebind(`SELECT cursor, rows FROM copy_progress WHERE source = ? AND tbl = ?`), src.id, tbl).Scan(&cursor, &rows)
	if errors.Is(err, sql.ErrNoRows) {
		return "", 0, nil
	}
	return cursor, rows, err
}

func savePlace(ctx context.Context, tx *sql.Tx, src, dst *copyEnd, tbl, cursor string, rows int64) error {
	_, err := tx.ExecContext(ctx, dst.rebind(`INSERT INTO copy_progress (source, tbl, cursor, rows) VALUES (?, ?, ?, ?)
		ON CONFLICT (source, tbl) DO UPDATE SET cursor = excluded.cursor, rows = excluded.rows`), src.id, tbl, cursor, rows)
	return err
}

func (cp *copier) table(ctx context.Context, src, dst *copyEnd, t copyTable) (int64, error) {
	cursor, done, err := cp.place(ctx, src, dst, t.name)
	if err != nil {
		return 0, err
	}
	resumed := done
	cols := strings.Join(t.cols, ", ")
	var sel string
	if t.key == nil {
		phys := "rowid"
		if src.pg {
			phys = "ctid"
		}
		if cursor == "" {
			cursor = "0"
			if src.pg {
				cursor = "(0,0)"
			}
		}
		if src.pg {
			sel = `SELECT ctid::text AS tid, ` + cols + ` FROM ` + t.name + ` WHERE ctid > ?::tid ORDER BY ctid LIMIT ?`
		} else {
			sel = `SELECT ` + phys + `, ` + cols + ` FROM ` + t.name + ` WHERE ` + phys + ` > ? ORDER BY ` + phys + ` LIMIT ?`
		}
	}
	ins := dst.rebind(t.insert(dst.pg))
	last := time.Now()
	for {
		var rows *sql.Rows
		if t.key == nil {
			rows, err = src.db.QueryContext(ctx, src.rebind(sel), cursor, cp.batch)
		} else {
			q := `SELECT ` + cols + ` FROM ` + t.name
			var args []any
			if cursor != "" {
				if err := json.Unmarshal([]byte(cursor), &args); err != nil {
					return done, fmt.Errorf("bad cursor %q: %w", cursor, err)
				}
				q += ` WHERE (` + strings.Join(t.key, ", ") + `) > (` + strings.TrimSuffix(strings.Repeat("?, ", len(t.key)), ", ") + `)`
			}
			q += ` ORDER BY ` + strings.Join(t.key, ", ") + ` LIMIT ?`
			rows, err = src.db.QueryContext(ctx, src.rebind(q), append(args, cp.batch)...)
		}
		if err != nil {
			return done, err
		}
		var chunk [][]any
		var next string
		for rows.Next() {
			n := len(t.cols)
			if t.key == nil {
				n++
			}
			vals := make([]any, n)
			ptrs := make([]any, n)
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				rows.Close()
				return done, err
			}
			if t.key == nil {
				next = fmt.Sprint(asText(vals[0]))
				vals = vals[1:]
			}
			for i, k := range t.kinds {
				vals[i] = normalize(vals[i], k)
			}
			if t.key != nil {
				b, _ := json.Marshal(vals[:len(t.key)])
				next = string(b)
			}
			chunk = append(chunk, vals)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return done, err
		}
		if len(chunk) == 0 {
			break
		}
		tx, err := dst.db.BeginTx(ctx, nil)
		if err != nil {
			return done, err
		}
		stmt, err := tx.PrepareContext(ctx, ins)
		if err != nil {
			tx.Rollback()
			return done, err
		}
		for _, vals := range chunk {
			if _, err := stmt.ExecContext(ctx, vals...); err != nil {
				stmt.Close()
				tx.Rollback()
				return done, err
			}
		}
		stmt.Close()
		if err := savePlace(ctx, tx, src, dst, t.name, next, done+int64(len(chunk))); err != nil {
			tx.Rollback()
			return done, err
		}
		if err := tx.Commit(); err != nil {
			return done, err
		}
		done += int64(len(chunk))
		cursor = next
		cp.chunks++
		if cp.progress != nil && time.Since(last) > time.Second {
			fmt.Fprintf(cp.progress, "  %s: %d rows…\n", t.name, done)
			last = time.Now()
		}
		if cp.stopAfter > 0 && cp.chunks >= cp.stopAfter {
			return done, errCopyStopped
		}
		if len(chunk) < cp.batch {
			break
		}
	}
	note := ""
	if resumed > 0 {
		note = fmt.Sprintf(" (%d before this run)", resumed)
	}
	fmt.Fprintf(cp.out, "%-16s %d rows%s\n", t.name, done, note)
	return done, nil
}

// alerts copies the alert log with its deliveries: each alert gets a new
// id in the destination, its delivery row goes with it.
func (cp *copier) alerts(ctx context.Context, src, dst *copyEnd) error {
	cursor, done, err := cp.place(ctx, src, dst, "alerts")
	if err != nil {
		return err
	}
	after := int64(0)
	if cursor != "" {
		after, _ = strconv.ParseInt(cursor, 10, 64)
	}
	for {
		rows, err := src.db.QueryContext(ctx, src.rebind(`SELECT a.id, a.app, a.dyno, a.rule, a.state, a.time, a.summary, a.details, a.created,
			d.status, d.attempts, d.next_attempt, d.last_error, d.updated
			FROM alerts a LEFT JOIN deliveries d ON d.alert_id = a.id WHERE a.id > ? ORDER BY a.id LIMIT ?`), after, cp.batch)
		if err != nil {
			return err
		}
		type alert struct {
			id   int64
			vals []any
			d    []any
		}
		var chunk []alert
		for rows.Next() {
			var a alert
			v := make([]any, 13)
			ptrs := []any{&a.id}
			for i := range v {
				ptrs = append(ptrs, &v[i])
			}
			if err := rows.Scan(ptrs...); err != nil {
				rows.Close()
				return err
			}
			for i, k := range "tttttittiiiti" {
				v[i] = normalize(v[i], k)
			}
			a.vals = v[:8]
			if v[8] != nil {
				a.d = v[8:]
			}
			chunk = append(chunk, a)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if len(chunk) == 0 {
			break
		}
		tx, err := dst.db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		for _, a := range chunk {
			var id int64
			if err := tx.QueryRowContext(ctx, dst.rebind(`INSERT INTO alerts (app, dyno, rule, state, time, summary, details, created)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`), a.vals...).Scan(&id); err != nil {
				tx.Rollback()
				return err
			}
			if a.d != nil {
				if _, err := tx.ExecContext(ctx, dst.rebind(`INSERT INTO deliveries (alert_id, status, attempts, next_attempt, last_error, updated)
					VALUES (?, ?, ?, ?, ?, ?)`), append([]any{id}, a.d...)...); err != nil {
					tx.Rollback()
					return err
				}
			}
			after = a.id
		}
		if err := savePlace(ctx, tx, src, dst, "alerts", strconv.FormatInt(after, 10), done+int64(len(chunk))); err != nil {
			tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return err
		}
		done += int64(len(chunk))
		if len(chunk) < cp.batch {
			break
		}
	}
	fmt.Fprintf(cp.out, "%-16s %d rows\n", "alerts", done)
	return nil
}

func asText(v any) any {
	if b, ok := v.([]byte); ok {
		return string(b)
	}
	return v
}

// normalize is a scanned value as the other dialect takes it.
func normalize(v any, kind rune) any {
	if v == nil {
		return nil
	}
	switch kind {
	case 't':
		return asText(v)
	case 'o':
		switch x := v.(type) {
		case bool:
			if x {
				return int64(1)
			}
			return int64(0)
		}
	case 'b':
		if s, ok := v.(string); ok {
			return []byte(s)
		}
	}
	return v
}
