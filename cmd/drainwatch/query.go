package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/drainwatch/drainwatch/store"
)

// queryFlags are the filters and output options every query command shares.
type queryFlags struct {
	db, app, dyno, since, until string
	limit                       int
	json, utc                   bool
}

func (q *queryFlags) register(fs *flag.FlagSet, e *env) {
	fs.StringVar(&q.db, "db", e.envOr("DRAINWATCH_DB", store.DefaultPath), "SQLite database file (env DRAINWATCH_DB)")
	fs.StringVar(&q.app, "app", "", "only this app")
	fs.StringVar(&q.dyno, "dyno", "", "only this dyno (web.1, worker.2, …)")
	fs.StringVar(&q.since, "since", "", "from this time: a duration back from now (30m, 6h, 7d, 2w), RFC 3339 (2026-11-20T10:00:00Z) or a date (2026-11-20); default: all history")
	fs.StringVar(&q.until, "until", "", "up to this time (same forms as --since)")
	fs.IntVar(&q.limit, "limit", 0, "at most this many rows (0: all)")
	fs.BoolVar(&q.json, "json", false, "print a JSON array")
	fs.BoolVar(&q.utc, "utc", false, "show times in UTC rather than local time")
}

// filter turns the flags into a store filter, relative to now.
func (q *queryFlags) filter(now time.Time) (store.Filter, error) {
	f := store.Filter{App: q.app, Dyno: q.dyno, Limit: q.limit}
	var err error
	if f.Since, err = parseWhen(q.since, now); err != nil {
		return f, usageErr("--since: %v", err)
	}
	if f.Until, err = parseWhen(q.until, now); err != nil {
		return f, usageErr("--until: %v", err)
	}
	if q.limit < 0 {
		return f, usageErr("--limit must be 0 or more")
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Since.Before(f.Until) {
		return f, usageErr("--since must be before --until")
	}
	return f, nil
}

// parseWhen reads "6h", "7d", "2w", an RFC 3339 time or a date.
func parseWhen(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation("2006-01-02", s, time.Local); err == nil {
		return t, nil
	}
	if n := len(s); n > 1 && (s[n-1] == 'd' || s[n-1] == 'w') {
		v, err := strconv.ParseFloat(s[:n-1], 64)
		if err == nil && v >= 0 {
			day := 24 * time.Hour
			if s[n-1] == 'w' {
				day *= 7
			}
			return now.Add(-time.Duration(v * float64(day))), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%q is not a duration (6h, 7d) or a time (RFC 3339, or 2006-01-02)", s)
}

func (q *queryFlags) open(ctx context.Context) (*store.DB, error) {
	db, err := store.Open(ctx, q.db, store.Options{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("%w (is --db right? the daemon writes %s in its working directory by default)", err, store.DefaultPath)
	}
	return db, nil
}

func (q *queryFlags) fmtTime(t time.Time) string {
	if q.utc {
		return t.UTC().Format("2006-01-02 15:04:05Z")
	}
	return t.Local().Format("2006-01-02 15:04:05")
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
}

func fmtMB(p *float64) string {
	if p == nil {
		return "-"
	}
	return strconv.FormatFloat(*p, 'f', 1, 64)
}

type memCommand struct{ env *env }

func (c *memCommand) Run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("mem", flag.ContinueOnError)
	var q queryFlags
	q.register(fs, c.env)
	if err := parseFlags(fs, args, c.env.stdout, "mem [--app A] [--dyno D] [--since 6h] [--until T] [--json]\n\nMemory samples from Heroku runtime metrics (heroku labs:enable log-runtime-metrics), oldest first."); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErr("unexpected argument %q", fs.Arg(0))
	}
	f, err := q.filter(time.Now())
	if err != nil {
		return err
	}
	db, err := q.open(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	rows, err := db.Memory(ctx, f)
	if err != nil {
		return err
	}
	if q.json {
		return writeJSON(c.env.stdout, rows)
	}
	if len(rows) == 0 {
		fmt.Fprintln(c.env.stderr, "no memory samples match (is log-runtime-metrics enabled? try a wider --since)")
		return nil
	}
	tw := newTable(c.env.stdout)
	fmt.Fprintln(tw, "TIME\tAPP\tDYNO\tBOOT\tTOTAL MB\tRSS MB\tSWAP MB\tQUOTA MB\t% QUOTA")
	for _, r := range rows {
		pct := "-"
		if r.TotalMB != nil && r.QuotaMB != nil && *r.QuotaMB > 0 {
			pct = strconv.FormatFloat(100**r.TotalMB / *r.QuotaMB, 'f', 0, 64) + "%"
		}
		boot := r.Boot
		if len(boot) > 8 {
			boot = boot[:8]
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", q.fmtTime(r.Time), r.App, r.Dyno, boot,
			fmtMB(r.TotalMB), fmtMB(r.RSSMB), fmtMB(r.SwapMB), fmtMB(r.QuotaMB), pct)
	}
	return tw.Flush()
}

type errorsCommand struct{ env *env }

func (c *errorsCommand) Run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("errors", flag.ContinueOnError)
	var q queryFlags
	q.register(fs, c.env)
	code := fs.String("code", "", "only these codes, comma-separated (R14,R15,H12,L10,mem,crash)")
	if err := parseFlags(fs, args, c.env.stdout, "errors [--app A] [--dyno D] [--since 6h] [--code R14,R15] [--json]\n\nMemory errors (R14, R15, and \"mem\" for 'Process running mem=…'), router H-codes, R10/R12, L10 (lines logplex dropped) and crashes, oldest first."); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErr("unexpected argument %q", fs.Arg(0))
	}
	f, err := q.filter(time.Now())
	if err != nil {
		return err
	}
	var codes []string
	for _, s := range strings.Split(*code, ",") {
		if s = strings.TrimSpace(s); s != "" {
			codes = append(codes, s)
		}
	}
	db, err := q.open(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	rows, err := db.Errors(ctx, f, codes...)
	if err != nil {
		return err
	}
	if q.json {
		return writeJSON(c.env.stdout, rows)
	}
	if len(rows) == 0 {
		fmt.Fprintln(c.env.stderr, "no errors match")
		return nil
	}
	tw := newTable(c.env.stdout)
	fmt.Fprintln(tw, "TIME\tAPP\tDYNO\tCODE\tMESSAGE")
	for _, r := range rows {
		dyno := r.Dyno
		if dyno == "" {
			dyno = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", q.fmtTime(r.Time), r.App, dyno, r.Code, clip(r.Message, 120))
	}
	return tw.Flush()
}

// clip makes s safe for one table cell: control characters become spaces,
// and it is cut to at most n characters.
func clip(s string, n int) string {
	rs := []rune(s)
	if len(rs) > n {
		rs = append(rs[:n-1], '…')
	}
	for i, r := range rs {
		if r < ' ' || r == 0x7f {
			rs[i] = ' '
		}
	}
	return string(rs)
}
