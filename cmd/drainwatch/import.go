package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/drainwatch/drainwatch/alerts"
	"github.com/drainwatch/drainwatch/importer"
	"github.com/drainwatch/drainwatch/internal/lockfile"
	"github.com/drainwatch/drainwatch/store"
	"github.com/drainwatch/drainwatch/store/pending"
	"github.com/drainwatch/drainwatch/store/postgres"
	"github.com/drainwatch/drainwatch/store/sqlite"
)

type importCommand struct{ env *env }

func (c *importCommand) Run(ctx context.Context, args []string) error {
	e := c.env
	fs := flag.NewFlagSet("import", flag.ContinueOnError)
	app := fs.String("app", "default", "the app these logs belong to")
	db := fs.String("db", e.envOr("DRAINWATCH_DB", sqlite.DefaultPath), "SQLite database file, or a postgres:// URL (env DRAINWATCH_DB)")
	asJSON := fs.Bool("json", false, "print the summary as JSON")
	quiet := fs.Bool("quiet", false, "no progress bar")
	withAlerts := fs.Bool("alerts", false, "run the alert rules over the imported lines and record the alerts (not sent to Slack; into the database of a running daemon, its alert engine sees the lines and delivers what they raise); see 'drainwatch alerts'")
	if err := parseFlags(fs, args, e.stdout, "import [--app A] [--db F] FILE|-\n\nLoads saved logs: `heroku logs` output (heroku logs -n 1500 -a APP > app.log) or raw logplex\ndrain bodies, detected from the first bytes. Importing the same file twice stores it once.\nInto the database of a running daemon (on this host), the daemon imports the lines itself."); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageErr("give one FILE to import, or - for standard input")
	}
	appSet := false
	fs.Visit(func(f *flag.Flag) { appSet = appSet || f.Name == "app" })
	if !appSet {
		fmt.Fprintf(e.stderr, "no --app given: storing the lines under app %q (give --app with the name of the app they came from)\n", *app)
	}
	var in io.Reader = e.stdin
	var size int64 = -1
	name := fs.Arg(0)
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		defer f.Close()
		if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
			size = st.Size()
		}
		in = f
	}
	if postgres.IsURL(*db) {
		return importPostgres(ctx, e, *db, name, *app, in, size, *asJSON, *quiet, *withAlerts)
	}
	lock, err := lockfile.Acquire(*db, lockfile.Holder{Command: "import"})
	var held *lockfile.HeldError
	if errors.As(err, &held) {
		// A running daemon owns the database: it imports the lines itself.
		in = &countingReader{r: in, bar: &progressBar{w: e.stderr, size: size, on: !*quiet && isTerminal(e.stderr)}}
		sum, err := importThroughDaemon(ctx, held.Holder, in, *app, *withAlerts)
		in.(*countingReader).bar.done()
		var refused *importRefusal
		if errors.As(err, &refused) {
			return fmt.Errorf("%w: %s", held, refused.how)
		}
		if err != nil {
			return fmt.Errorf("import through %s stopped after %d lines (%d stored): %w; import again: what is stored is skipped",
				held.Holder, sum.Lines, sum.Stored, err)
		}
		if err := printImport(e.stdout, name, *app, sum, *asJSON, fmt.Sprintf("through the running %s", held.Holder), -1); err != nil {
			return err
		}
		return allSkipped(sum)
	}
	if err != nil {
		return err
	}
	defer lock.Release()
	sdb, err := sqlite.Open(ctx, *db, sqlite.Options{})
	if err != nil {
		return err
	}
	defer sdb.Close()
	// An import may be of old history: it deletes nothing (the daemon's
	// retention still applies when it runs on this file).
	folder, err := importFolder(e)
	if err != nil {
		return err
	}
	w, err := sqlite.NewWriter(sdb, sqlite.WriterOptions{Retention: store.Retention{Off: true}, Folder: folder})
	if err != nil {
		return err
	}
	opts := importer.Options{App: *app}
	var svc *alerts.Service
	if *withAlerts {
		settings, err := alertSettings(e.getenv)
		if err != nil {
			w.Close()
			return err
		}
		// Every observation must reach the engine: a queue as large as need be.
		settings.QueueLen, settings.QueueBytes = 1<<20, 1<<40
		settings.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
		if svc, err = alerts.NewService(ctx, settings, sdb, nil); err != nil {
			w.Close()
			return err
		}
		opts.Observe = svc.Observe
	}
	bar := &progressBar{w: e.stderr, size: size, on: !*quiet && isTerminal(e.stderr)}
	opts.Progress = bar.update
	sum, err := importer.Import(ctx, in, w, opts)
	bar.done()
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	fired := int64(0)
	if svc != nil {
		svc.Close()
		fired = svc.Fired.Load()
	}
	if err != nil {
		return fmt.Errorf("import stopped after %d lines (%d stored): %w", sum.Lines, sum.Stored, err)
	}
	if svc == nil {
		fired = -1
	}
	if err := printImport(e.stdout, name, *app, sum, *asJSON, "", fired); err != nil {
		return err
	}
	return allSkipped(sum)
}

// allSkipped is an import's failure when it read lines and could use none
// of them: the input is likely not logs in a format drainwatch reads.
func allSkipped(sum importer.Summary) error {
	if sum.Lines > 0 && sum.Skipped == sum.Lines {
		return fmt.Errorf("all %d lines were skipped, nothing imported: is this `heroku logs` output or a logplex drain body?", sum.Lines)
	}
	return nil
}

// printImport prints an import's summary; fired is the alerts recorded
// (-1: not counted here).
func printImport(out io.Writer, name, app string, sum importer.Summary, asJSON bool, how string, fired int64) error {
	if asJSON {
		return writeJSON(out, sum)
	}
	if how != "" {
		how = " " + how
	}
	fmt.Fprintf(out, "imported %s into app %q (%s format)%s\n", name, app, sum.Format, how)
	fmt.Fprintf(out, "  lines read:        %d\n", sum.Lines)
	fmt.Fprintf(out, "  stored:            %d\n", sum.Stored)
	if sum.Duplicate > 0 {
		fmt.Fprintf(out, "  already imported:  %d\n", sum.Duplicate)
	}
	fmt.Fprintf(out, "  skipped:           %d\n", sum.Skipped)
	for _, r := range sum.ReasonList() {
		fmt.Fprintf(out, "    %6d  %s\n", sum.Reasons[r], r)
	}
	for _, ex := range sum.Examples {
		fmt.Fprintf(out, "    e.g. %s\n", ex)
	}
	if !sum.FirstTime.IsZero() {
		fmt.Fprintf(out, "  time span:         %s to %s\n", sum.FirstTime.Format(time.RFC3339), sum.LastTime.Format(time.RFC3339))
	}
	var kinds []string
	for k, n := range sum.ByKind {
		kinds = append(kinds, fmt.Sprintf("%s=%d", k, n))
	}
	sort.Strings(kinds)
	if len(kinds) > 0 {
		fmt.Fprintf(out, "  by kind:           %s\n", strings.Join(kinds, " "))
	}
	if fired >= 0 {
		fmt.Fprintf(out, "  alerts recorded:   %d (drainwatch alerts --app %s)\n", fired, app)
	}
	return nil
}

// countingReader shows an import's progress by the bytes read.
type countingReader struct {
	r   io.Reader
	n   int64
	bar *progressBar
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	c.bar.update(importer.Progress{Bytes: c.n})
	return n, err
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// progressBar draws import progress on a terminal, at most a few times a second.
type progressBar struct {
	w    io.Writer
	size int64
	on   bool
	last time.Time
	drew bool
}

func (p *progressBar) update(pr importer.Progress) {
	if !p.on || time.Since(p.last) < 200*time.Millisecond {
		return
	}
	p.last = time.Now()
	p.drew = true
	mb := float64(pr.Bytes) / (1 << 20)
	if p.size > 0 {
		frac := float64(pr.Bytes) / float64(p.size)
		frac = min(frac, 1)
		n := int(frac * 30)
		fmt.Fprintf(p.w, "\r[%s%s] %3.0f%%  %.1f MiB  %d lines  %d stored ", strings.Repeat("=", n), strings.Repeat(" ", 30-n), frac*100, mb, pr.Lines, pr.Stored)
		return
	}
	fmt.Fprintf(p.w, "\r%.1f MiB  %d lines  %d stored ", mb, pr.Lines, pr.Stored)
}

func (p *progressBar) done() {
	if p.drew {
		fmt.Fprint(p.w, "\r\033[K")
	}
}

// importFolder bounds an import's path templates as the daemon does
// (ROLLUP_MAX_PATHS).
func importFolder(e *env) (*pending.Folder, error) {
	var cfg serveConfig
	if err := boundSettings(e.getenv, &cfg); err != nil {
		return nil, err
	}
	return pending.NewFolder(cfg.MaxPaths), nil
}

// importPostgres imports into a PostgreSQL database, which any number of
// writers share: directly, whether daemons run on it or not. With
// --alerts the batches go to the alert feed, and the daemons' elected
// evaluator judges them and delivers what they raise (when one runs).
func importPostgres(ctx context.Context, e *env, url, name, app string, in io.Reader, size int64, asJSON, quiet, withAlerts bool) error {
	db, err := postgres.Open(ctx, url, postgres.Options{MaxConns: 4})
	if err != nil {
		return err
	}
	defer db.Close()
	folder, err := importFolder(e)
	if err != nil {
		return err
	}
	w, err := postgres.NewWriter(db, postgres.WriterOptions{NoAlerts: !withAlerts, Folder: folder})
	if err != nil {
		return err
	}
	bar := &progressBar{w: e.stderr, size: size, on: !quiet && isTerminal(e.stderr)}
	sum, err := importer.Import(ctx, in, w, importer.Options{App: app, Progress: bar.update})
	bar.done()
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("import stopped after %d lines (%d stored): %w", sum.Lines, sum.Stored, err)
	}
	how := "into " + postgres.Redact(url)
	if withAlerts {
		how += "; the daemons' alert evaluator judges the lines"
	}
	if err := printImport(e.stdout, name, app, sum, asJSON, how, -1); err != nil {
		return err
	}
	return allSkipped(sum)
}
