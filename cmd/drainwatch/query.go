package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/drainwatch/drainwatch/api"
	"github.com/drainwatch/drainwatch/store"
	"github.com/drainwatch/drainwatch/store/postgres"
	"github.com/drainwatch/drainwatch/store/sqlite"
)

// queryFlags are the filters and output options every query command shares,
// and where to ask: a local database file, or a running daemon's API.
type queryFlags struct {
	db, url, token          string
	app, dyno, since, until string
	limit                   int
	json, utc               bool
	env                     *env
}

func (q *queryFlags) register(fs *flag.FlagSet, e *env) {
	q.env = e
	fs.StringVar(&q.db, "db", e.envOr("DRAINWATCH_DB", sqlite.DefaultPath), "SQLite database file, or a postgres:// URL (env DRAINWATCH_DB)")
	fs.StringVar(&q.url, "url", e.getenv("DRAINWATCH_URL"), "ask a running daemon at this URL instead of a local file (env DRAINWATCH_URL)")
	fs.StringVar(&q.token, "token", e.getenv("DRAINWATCH_TOKEN"), "the daemon's API_TOKEN, with --url (env DRAINWATCH_TOKEN)")
	fs.StringVar(&q.app, "app", "", "only this app")
	fs.StringVar(&q.dyno, "dyno", "", "only this dyno (web.1, worker.2, …)")
	fs.StringVar(&q.since, "since", "", "from this time: a duration back from now (30m, 6h, 7d, 2w), RFC 3339 (2026-11-20T10:00:00Z) or a date (2026-11-20); default: all history")
	fs.StringVar(&q.until, "until", "", "up to this time (same forms as --since; a date means through the end of that day)")
	fs.IntVar(&q.limit, "limit", 0, fmt.Sprintf("the newest this many rows, printed oldest first; dynos and analyze: dynos, those with the highest memory (0: %d rows, %d dynos; at most %d rows, %d dynos)",
		api.DefaultLimits.Rows, api.DefaultLimits.Dynos, api.DefaultLimits.MaxRows, api.DefaultLimits.MaxGroups))
	fs.BoolVar(&q.json, "json", false, "print a JSON array")
	fs.BoolVar(&q.utc, "utc", false, "show times in UTC rather than local time")
}

// parse parses a query command's flags (printing help for -h), refuses
// stray arguments, and resolves the filter against now.
func (q *queryFlags) parse(fs *flag.FlagSet, args []string, summary string) (api.Query, error) {
	if err := parseFlags(fs, args, q.env.stdout, summary); err != nil {
		return api.Query{}, err
	}
	if fs.NArg() > 0 {
		return api.Query{}, usageErr("unexpected argument %q", fs.Arg(0))
	}
	return q.filter(time.Now())
}

// filter turns the flags into a query, with relative times resolved
// against now (so a daemon answers exactly what a local file would).
func (q *queryFlags) filter(now time.Time) (api.Query, error) {
	f := api.Query{App: q.app, Dyno: q.dyno, Limit: q.limit}
	var err error
	if f.Since, err = parseWhen(q.since, now); err != nil {
		return f, usageErr("--since: %v", err)
	}
	if f.Until, err = parseWhen(q.until, now); err != nil {
		return f, usageErr("--until: %v", err)
	}
	if isDate(q.until) {
		// --until 2026-11-20 means through that day: --since and --until
		// the same date is that whole day.
		f.Until = f.Until.AddDate(0, 0, 1)
	}
	if q.limit < 0 {
		return f, usageErr("--limit must be 0 or more")
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Since.Before(f.Until) {
		return f, usageErr("--since must be before --until")
	}
	return f, nil
}

// isDate reports whether s is a plain date (2026-11-20), which --until
// reads as the whole day.
func isDate(s string) bool {
	_, err := time.Parse("2006-01-02", strings.TrimSpace(s))
	return err == nil
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

// open returns what answers the queries: the daemon's API with --url, else
// the local database file. Call the returned function when done.
func (q *queryFlags) open(ctx context.Context) (api.Querier, func(), error) {
	if q.url != "" {
		if q.token == "" {
			return nil, nil, usageErr("--url needs --token (or DRAINWATCH_TOKEN): the daemon's API_TOKEN")
		}
		base, err := daemonURL(q.url)
		if err != nil {
			return nil, nil, err
		}
		return &api.Client{BaseURL: base, Token: q.token}, func() {}, nil
	}
	var db interface {
		api.Store
		Close() error
	}
	var err error
	if postgres.IsURL(q.db) {
		db, err = postgres.Open(ctx, q.db, postgres.Options{ReadOnly: true, MaxConns: 4})
	} else {
		db, err = sqlite.Open(ctx, q.db, sqlite.Options{ReadOnly: true})
		if err != nil {
			err = fmt.Errorf("%w (is --db right? the daemon writes %s in its working directory by default; or ask a daemon with --url)", err, sqlite.DefaultPath)
		}
	}
	if err != nil {
		return nil, nil, err
	}
	settings, err := alertSettings(q.env.getenv)
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	return &api.Local{DB: db, Analysis: settings.Rules.Analysis}, func() { db.Close() }, nil
}

// daemonURL checks --url and gives an address without a scheme one:
// http:// for a loopback address or an explicit port (127.0.0.1:8080), else
// https:// (my-drainwatch.herokuapp.com).
func daemonURL(raw string) (string, error) {
	s := strings.TrimSpace(raw)
	bad := usageErr("--url %q is not a daemon's address: give one like https://my-drainwatch.herokuapp.com or http://127.0.0.1:8080", raw)
	if s == "" {
		return "", bad
	}
	if !strings.Contains(s, "://") {
		host := s
		if i := strings.IndexAny(host, "/?#"); i >= 0 {
			host = host[:i]
		}
		scheme := "https://"
		if h, port, err := net.SplitHostPort(host); err == nil && port != "" {
			scheme = "http://"
			host = h
		}
		if host == "localhost" || (net.ParseIP(host) != nil && net.ParseIP(host).IsLoopback()) {
			scheme = "http://"
		}
		s = scheme + s
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Hostname() == "" {
		return "", bad
	}
	return s, nil
}

func (q *queryFlags) fmtTime(t time.Time) string {
	if q.utc {
		return t.UTC().Format("2006-01-02 15:04:05Z")
	}
	return t.Local().Format("2006-01-02 15:04:05")
}

// show runs one list query: it asks the querier, and prints JSON, a note on
// stderr when nothing matches, or a table.
func show[T any](ctx context.Context, q *queryFlags, ask func(api.Querier) ([]T, error), none, header string, row func(T) string) error {
	qr, done, err := q.open(ctx)
	if err != nil {
		return err
	}
	defer done()
	rows, err := ask(qr)
	if err != nil {
		return err
	}
	if q.json {
		return writeJSON(q.env.stdout, rows)
	}
	if len(rows) == 0 {
		fmt.Fprintln(q.env.stderr, none)
		return nil
	}
	q.noteLimit(len(rows))
	tw := newTable(q.env.stdout)
	fmt.Fprintln(tw, header)
	for _, r := range rows {
		fmt.Fprintln(tw, row(r))
	}
	return tw.Flush()
}

// noteLimit says on stderr when a list stopped at its row limit.
func (q *queryFlags) noteLimit(rows int) {
	limit := q.limit
	if limit == 0 {
		limit = api.DefaultLimits.Rows
	}
	if rows == limit {
		fmt.Fprintf(q.env.stderr, "(the newest %d rows: the limit; narrow with --since, --until or --dyno, or raise --limit up to %d)\n", limit, api.DefaultLimits.MaxRows)
	}
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
	chart := fs.Bool("chart", false, "draw a chart: memory over time with the quota line, R14 marks and restarts (default on a terminal for one dyno)")
	csv := fs.Bool("csv", false, "print CSV, for spreadsheets")
	f, err := q.parse(fs, args, "mem [--app A] [--dyno D] [--since 6h] [--until T] [--json|--csv|--chart]\n\nMemory samples from Heroku runtime metrics (heroku labs:enable log-runtime-metrics), oldest first; --limit N\nkeeps the newest N.")
	if err != nil {
		return err
	}
	chartSet := false
	fs.Visit(func(f *flag.Flag) { chartSet = chartSet || f.Name == "chart" })
	if q.json && *csv {
		return usageErr("--json and --csv: pick one")
	}
	if chartSet && *chart && (q.json || *csv) {
		return usageErr("--chart draws for a terminal, --json and --csv print the data: pick one")
	}
	qr, done, err := q.open(ctx)
	if err != nil {
		return err
	}
	defer done()
	rows, err := qr.Memory(ctx, f)
	if err != nil {
		return err
	}
	switch {
	case q.json:
		return writeJSON(c.env.stdout, rows)
	case *csv:
		return writeMemCSV(c.env.stdout, rows, q.fmtCSVTime)
	}
	if len(rows) == 0 {
		fmt.Fprintln(c.env.stderr, "no memory samples match (is log-runtime-metrics enabled? try a wider --since)")
		return nil
	}
	q.noteLimit(len(rows))
	dynos := map[string]bool{}
	for _, r := range rows {
		dynos[r.App+"/"+r.Dyno] = true
	}
	if !chartSet {
		*chart = len(dynos) == 1 && isTerminal(c.env.stdout)
	}
	if *chart {
		ef := f
		ef.Codes, ef.Limit = []string{"R14", "R15"}, 0
		errs, err := qr.Errors(ctx, ef)
		if err != nil {
			return err
		}
		width := termWidth(c.env.stdout, c.env.getenv)
		for _, key := range sortedKeys(dynos) {
			var one []store.MemorySample
			for _, r := range rows {
				if r.App+"/"+r.Dyno == key {
					one = append(one, r)
				}
			}
			var oneErrs []store.ErrorEvent
			for _, e := range errs {
				if e.App+"/"+e.Dyno == key {
					oneErrs = append(oneErrs, e)
				}
			}
			memChart(c.env.stdout, one, oneErrs, width, 14, q.fmtTime)
		}
		return nil
	}
	tw := newTable(c.env.stdout)
	fmt.Fprintln(tw, "TIME\tAPP\tDYNO\tBOOT\tTOTAL MB\tRSS MB\tSWAP MB\tQUOTA MB\t% QUOTA")
	for _, r := range rows {
		pct := "-"
		if r.TotalMB != nil && r.QuotaMB != nil && *r.QuotaMB > 0 {
			pct = strconv.FormatFloat(100**r.TotalMB / *r.QuotaMB, 'f', 0, 64) + "%"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", q.fmtTime(r.Time), r.App, r.Dyno, store.ShortBoot(r.Boot),
			fmtMB(r.TotalMB), fmtMB(r.RSSMB), fmtMB(r.SwapMB), fmtMB(r.QuotaMB), pct)
	}
	return tw.Flush()
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// fmtCSVTime is RFC 3339, in local time unless --utc: spreadsheets read it.
func (q *queryFlags) fmtCSVTime(t time.Time) string {
	if q.utc {
		return t.UTC().Format(time.RFC3339)
	}
	return t.Local().Format(time.RFC3339)
}

func writeMemCSV(w io.Writer, rows []store.MemorySample, fmtTime func(time.Time) string) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"time", "app", "dyno", "boot", "memory_total_mb", "memory_rss_mb", "memory_swap_mb", "memory_quota_mb"})
	num := func(p *float64) string {
		if p == nil {
			return ""
		}
		return strconv.FormatFloat(*p, 'f', -1, 64)
	}
	for _, r := range rows {
		cw.Write([]string{fmtTime(r.Time), r.App, r.Dyno, r.Boot, num(r.TotalMB), num(r.RSSMB), num(r.SwapMB), num(r.QuotaMB)})
	}
	cw.Flush()
	return cw.Error()
}

type errorsCommand struct{ env *env }

func (c *errorsCommand) Run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("errors", flag.ContinueOnError)
	var q queryFlags
	q.register(fs, c.env)
	code := fs.String("code", "", "only these codes, comma-separated (R14,R15,H12,L10,mem,crash)")
	f, err := q.parse(fs, args, "errors [--app A] [--dyno D] [--since 6h] [--code R14,R15] [--json]\n\nMemory errors (R14, R15, and \"mem\" for 'Process running mem=…'), router H-codes, R10/R12, L10 (lines logplex dropped) and crashes, oldest first;\n--limit N keeps the newest N.")
	if err != nil {
		return err
	}
	if f.Codes, err = parseCodes(*code); err != nil {
		return err
	}
	return show(ctx, &q, func(qr api.Querier) ([]store.ErrorEvent, error) { return qr.Errors(ctx, f) },
		"no errors match", "TIME\tAPP\tDYNO\tCODE\tMESSAGE",
		func(r store.ErrorEvent) string {
			dyno := r.Dyno
			if dyno == "" {
				dyno = "-"
			}
			return fmt.Sprintf("%s\t%s\t%s\t%s\t%s", q.fmtTime(r.Time), r.App, dyno, r.Code, clip(r.Message, 120))
		})
}

// parseCodes reads --code: a comma-separated list of error codes, in any
// case (r14 is R14, MEM is mem). A code drainwatch never stores is refused,
// rather than matching nothing.
func parseCodes(list string) ([]string, error) {
	var codes []string
	for _, s := range strings.Split(list, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		switch low := strings.ToLower(s); {
		case low == "mem" || low == "crash":
			codes = append(codes, low)
		case len(s) == 3 && strings.ContainsRune("HRL", rune(s[0]&^0x20)) && s[1] >= '0' && s[1] <= '9' && s[2] >= '0' && s[2] <= '9':
			codes = append(codes, strings.ToUpper(s))
		default:
			return nil, usageErr("--code: %q is not a code drainwatch stores; valid: R10-R99 (dyno errors: R14, R15 memory), H10-H99 (router), L10-L13 (lines dropped), mem (Process running mem=…), crash", s)
		}
	}
	return codes, nil
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
