package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/heroku/x/hmetrics"
	"github.com/heroku/x/tlsconfig"

	"github.com/drainwatch/drainwatch/alerts"
	slacknotify "github.com/drainwatch/drainwatch/alerts/slack"
	"github.com/drainwatch/drainwatch/analyze"
	"github.com/drainwatch/drainwatch/api"
	"github.com/drainwatch/drainwatch/drain"
	"github.com/drainwatch/drainwatch/internal/lockfile"
	"github.com/drainwatch/drainwatch/store"
	"github.com/drainwatch/drainwatch/store/pending"
	"github.com/drainwatch/drainwatch/store/postgres"
	"github.com/drainwatch/drainwatch/store/sqlite"
	"github.com/drainwatch/drainwatch/web"
)

// serveConfig is everything the daemon is configured with, from env and flags.
type serveConfig struct {
	Addr   string // host:port to listen on
	DBPath string
	// DatabaseURL, when set, is a PostgreSQL database (DATABASE_URL, or
	// --db postgres://…) used instead of the SQLite file DBPath.
	DatabaseURL string
	// LeaderEvery is how often a daemon on Postgres tries for the leader
	// lock (alerts, retention, folding) and the leader checks it still
	// holds it: a dead leader is replaced within about that. Default 10s.
	LeaderEvery time.Duration
	// DBSizeWarn: /healthz and the log warn when the Postgres database is
	// past 80% of it (DATABASE_SIZE_LIMIT; Heroku essential-0: 1GB).
	DBSizeWarn  int64
	User        string
	Password    string
	NoAuth      bool
	MaxBody     int64
	NoSync      bool
	ShutdownFor time.Duration
	Alerts      alerts.ServiceConfig
	Slack       *slacknotify.Config // nil: alerts are recorded, not sent
	TLSCert     string              // serve HTTPS (and syslog+tls) with this certificate…
	TLSKey      string              // …and key
	SyslogAddr  string              // listen for syslog+tls drains here ("" = off)
	SyslogPlain bool                // syslog over plain TCP (behind a TLS proxy, or tests)
	// SyslogAllowAny lets the syslog listener run without Tokens: every
	// HOSTNAME is its own app, from anyone who can reach the port.
	SyslogAllowAny bool
	// SyslogMaxConns and SyslogFirstByte: drain.SyslogConfig's MaxConns
	// and FirstByteTimeout (0: its defaults).
	SyslogMaxConns  int
	SyslogFirstByte time.Duration
	// DrainMemory and DrainMemoryWait: drain.Config's Memory and
	// MemoryWait (0: its defaults).
	DrainMemory     int64
	DrainMemoryWait time.Duration
	Limits          api.Limits        // of the read API and the page (zero: api.DefaultLimits)
	MaxCharts       int               // dynos charted on the page (0: web's default)
	MaxPaths        int               // path templates per app and hour with rollup rows of their own (0: pending's default)
	MaxApps         int               // apps whose lines are taken (0: no limit)
	Tokens          map[string]string // drain token allowlist
	RequireTLS      bool              // refuse X-Forwarded-Proto: http
	MetricsURL      string            // HEROKU_METRICS_URL: report Go runtime metrics
	APIToken        string            // bearer token of the read API ("" = API off)
	MaxConns        int               // open HTTP connections; at the cap the one idle longest is closed
	MaxPages        int               // cap the database (tests: a full disk)
	RetryOpen       time.Duration     // how often to try a database that would not open (a full disk); default 5s
	RawRequests     bool              // also keep a row per router line (for Retention.Raw)
	Retention       store.Retention
	Timeouts        httpTimeouts
}

// httpTimeouts cut slow clients off: a header trickled a byte at a time
// (slowloris), a body that never ends, an idle keep-alive connection.
type httpTimeouts struct {
	Header, Read, Write, Idle time.Duration
}

func (t httpTimeouts) withDefaults() httpTimeouts {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&t.Header, 3*time.Second)
	def(&t.Read, 15*time.Second)
	def(&t.Write, 15*time.Second)
	def(&t.Idle, 20*time.Second)
	return t
}

type serveCommand struct{ env *env }

// defaultMemoryLimit is Go's soft memory limit unless GOMEMLIMIT is set
// (main): past it the collector runs sooner, so that bursts (bodies of
// tiny frames, floods of dynos or paths) leave the heap they freed to be
// collected rather than grow the daemon's RSS. SQLite's page caches are
// outside it (docs/bounds.md). Set in main, not in Main, so that tests
// running commands in-process keep Go's defaults.
const defaultMemoryLimit = 96 << 20

func (c *serveCommand) Run(ctx context.Context, args []string) error {
	cfg, pprofAddr, err := c.config(args)
	if err != nil {
		return err
	}
	log := newLogger(c.env.stdout, c.env.getenv("DYNO") != "")
	cfg.Alerts.Logger = log
	if pprofAddr != "" {
		if err := startPprof(pprofAddr, log); err != nil {
			return err
		}
	}
	return runServer(ctx, cfg, log)
}

// config reads serve's flags and environment into its settings, and the
// pprof address.
func (c *serveCommand) config(args []string) (serveConfig, string, error) {
	e := c.env
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	port := e.envOr("PORT", "8080")
	addr := fs.String("addr", ":"+port, "address to listen on (env PORT sets the port)")
	db := fs.String("db", e.envOr("DRAINWATCH_DB", sqlite.DefaultPath), "SQLite database file, or a postgres:// URL (env DRAINWATCH_DB; DATABASE_URL, when set, chooses PostgreSQL)")
	var bad []string
	flagEnv := func(name string) bool {
		v, err := envBool(name, e.getenv(name))
		if err != nil {
			bad = append(bad, err.Error())
		}
		return v
	}
	noAuth := fs.Bool("no-auth", flagEnv("DRAINWATCH_NO_AUTH"), "accept drains without a password: local testing only (env DRAINWATCH_NO_AUTH=1)")
	noSync := fs.Bool("no-sync", flagEnv("DRAINWATCH_NO_SYNC"), "acknowledge at commit, without waiting for the WAL's fsync: faster, but a power loss may lose acknowledged lines (env DRAINWATCH_NO_SYNC=1)")
	maxBody := fs.Int64("max-body", 1<<20, "largest request body in bytes")
	pprofAddr := fs.String("pprof", "", "serve Go's pprof profiles on this address (e.g. 127.0.0.1:6060); off by default")
	if err := parseFlags(fs, args, e.stdout, "serve [flags]\n\n"+serveHelp()); err != nil {
		return serveConfig{}, "", err
	}
	if fs.NArg() > 0 {
		return serveConfig{}, "", usageErr("unexpected argument %q", fs.Arg(0))
	}
	if *maxBody <= 0 {
		return serveConfig{}, "", fmt.Errorf("--max-body=%d is not a positive number of bytes", *maxBody)
	}
	// DATABASE_URL (Heroku Postgres sets it) wins over DRAINWATCH_DB, which
	// the Heroku button sets to the file; --db on the command line wins
	// over both.
	dbFlag := false
	fs.Visit(func(f *flag.Flag) { dbFlag = dbFlag || f.Name == "db" })
	var dbURL string
	switch {
	case postgres.IsURL(*db) && (dbFlag || e.getenv("DATABASE_URL") == ""):
		dbURL = *db
	case !dbFlag && e.getenv("DATABASE_URL") != "":
		dbURL = e.getenv("DATABASE_URL")
		if !postgres.IsURL(dbURL) {
			return serveConfig{}, "", fmt.Errorf("DATABASE_URL is not a postgres:// URL")
		}
	}
	cfg := serveConfig{
		Addr: *addr, DBPath: *db, DatabaseURL: dbURL, User: e.getenv("DRAIN_USER"), Password: e.getenv("DRAIN_PASSWORD"),
		NoAuth: *noAuth, MaxBody: *maxBody, NoSync: *noSync, ShutdownFor: 25 * time.Second,
	}
	err := envSettings(e.getenv, flagEnv, &cfg)
	if err == nil && len(bad) > 0 {
		err = errors.New(strings.Join(bad, "; "))
	}
	return cfg, *pprofAddr, err
}

// envSettings reads the settings that come from the environment only into
// cfg; flagEnv reads an on/off setting (a bad one is reported by the
// caller).
func envSettings(getenv func(string) string, flagEnv func(string) bool, cfg *serveConfig) error {
	var err error
	if cfg.Alerts, err = alertSettings(getenv); err != nil {
		return err
	}
	if err := boundSettings(getenv, cfg); err != nil {
		return err
	}
	if cfg.Tokens, err = parseTokens(getenv("DRAIN_TOKENS")); err != nil {
		return err
	}
	cfg.TLSCert, cfg.TLSKey = getenv("TLS_CERT_FILE"), getenv("TLS_KEY_FILE")
	if (cfg.TLSCert == "") != (cfg.TLSKey == "") {
		return errors.New("set both TLS_CERT_FILE and TLS_KEY_FILE, or neither")
	}
	cfg.SyslogAddr = getenv("SYSLOG_ADDR")
	cfg.SyslogPlain = flagEnv("SYSLOG_PLAIN")
	cfg.SyslogAllowAny = flagEnv("SYSLOG_ALLOW_ANY_APP")
	if cfg.SyslogAddr != "" && cfg.TLSCert == "" && !cfg.SyslogPlain {
		return errors.New("SYSLOG_ADDR needs TLS_CERT_FILE and TLS_KEY_FILE (syslog+tls), or SYSLOG_PLAIN=1 behind a TLS proxy")
	}
	cfg.RequireTLS = flagEnv("REQUIRE_HTTPS")
	if cfg.SyslogAddr != "" && len(cfg.Tokens) == 0 && !cfg.SyslogAllowAny {
		return errSyslogOpen
	}
	cfg.MetricsURL = getenv("HEROKU_METRICS_URL")
	cfg.APIToken = getenv("API_TOKEN")
	if v := getenv("RAW_REQUESTS_WINDOW"); v != "" {
		d, err := parseDays(v)
		if err != nil || d <= 0 {
			return fmt.Errorf("RAW_REQUESTS_WINDOW=%q is not a duration (like 1h)", v)
		}
		cfg.RawRequests, cfg.Retention.Raw = true, d
	}
	if v := getenv("LEADER_INTERVAL"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return fmt.Errorf("LEADER_INTERVAL=%q is not a duration (like 10s)", v)
		}
		cfg.LeaderEvery = d
	}
	cfg.DBSizeWarn = 1e9 // Heroku Postgres essential-0
	if v := getenv("DATABASE_SIZE_LIMIT"); v != "" {
		n, err := parseBytes(v)
		if err != nil {
			return fmt.Errorf("DATABASE_SIZE_LIMIT=%q: %v", v, err)
		}
		cfg.DBSizeWarn = n
	}
	if v := getenv("LOG_RETENTION"); v != "" {
		d, err := parseDays(v)
		if err != nil || d < time.Hour {
			return fmt.Errorf("LOG_RETENTION=%q is not a duration of an hour or more (like 1d or 36h)", v)
		}
		cfg.Retention.Logs = d
	}
	if v := getenv("RETENTION"); v != "" {
		d, err := parseDays(v)
		if err != nil || d < time.Hour {
			return fmt.Errorf("RETENTION=%q is not a duration of an hour or more (like 30d or 720h)", v)
		}
		cfg.Retention.History = d
	}
	if sc, ok := slackSettings(getenv); ok {
		cfg.Slack = &sc
	}
	return nil
}

// errSyslogOpen refuses a syslog listener without drain tokens.
var errSyslogOpen = errors.New("SYSLOG_ADDR needs DRAIN_TOKENS (TOKEN=APP,…): syslog has no password, so without them anyone who reaches the port could post lines for any app. Set DRAIN_TOKENS, or SYSLOG_ALLOW_ANY_APP=1 if only trusted senders can reach it")

// startPprof serves Go's pprof profiles on addr, on a listener and mux of
// their own: profiles are never on the public port.
func startPprof(addr string, log *slog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("pprof: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	go http.Serve(ln, mux)
	log.Info("pprof listening", "addr", ln.Addr().String())
	return nil
}

// runServer runs the daemon until ctx ends or its server fails, then stops
// it within cfg.ShutdownFor.
func runServer(ctx context.Context, cfg serveConfig, log *slog.Logger) error {
	s := &server{cfg: cfg, log: log}
	if err := s.Open(ctx); err != nil {
		return err
	}
	if s.ready() {
		s.logListening()
	} else {
		s.log.Warn("drainwatch listening, not storing yet", "addr", s.Addr(), "auth", authMode(cfg))
	}
	select {
	case <-ctx.Done():
		log.Info("shutting down", "reason", "signal")
	case err := <-s.serveErr:
		log.Error("server stopped", "error", err.Error())
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownFor)
	defer cancel()
	if err := s.Close(shutdownCtx); err != nil {
		return err
	}
	log.Info("stopped cleanly")
	return nil
}

func serveHelp() string {
	var b strings.Builder
	b.WriteString("Runs the drain endpoint (POST /logs/APP) and the alerts.\n\nEnvironment:\n")
	for _, v := range [][2]string{
		{"PORT", "port to listen on (8080)"},
		{"DRAINWATCH_DB", "SQLite file (drainwatch.db)"},
		{"DATABASE_URL", "PostgreSQL instead of the file (Heroku sets it with the heroku-postgresql add-on); several daemons may share it"},
		{"LEADER_INTERVAL", "on PostgreSQL: how often a daemon tries to take over alerts, retention and folding from one gone (10s)"},
		{"DATABASE_SIZE_LIMIT", "on PostgreSQL: warn in the log and /healthz past 80% of this (1GB, Heroku's essential-0)"},
		{"DRAIN_PASSWORD", "required: the password in the drain URL"},
		{"DRAIN_USER", "the user in the drain URL (empty: any)"},
		{"API_TOKEN", "bearer token of the read API /api/… (empty: API off)"},
		{"SLACK_WEBHOOK_URL", "send alerts to this Slack incoming webhook"},
		{"SLACK_BOT_TOKEN, SLACK_CHANNEL", "or post them as a bot to this channel"},
		{"DRAINWATCH_PUBLIC_URL", "this daemon's public URL, for links in alerts"},
		{"DRAIN_TOKENS", "allowlist d.TOKEN=APP,…: other Logplex-Drain-Tokens get 403"},
		{"REQUIRE_HTTPS", "1: refuse drains that reached the router over plain http"},
		{"TLS_CERT_FILE, TLS_KEY_FILE", "serve HTTPS (and syslog+tls) off Heroku"},
		{"SYSLOG_ADDR", "also listen for syslog+tls drains here (e.g. :6514)"},
		{"SYSLOG_PLAIN", "1: syslog over plain TCP (behind a TLS proxy)"},
		{"SYSLOG_ALLOW_ANY_APP", "1: the syslog listener runs without DRAIN_TOKENS (any sender, any app)"},
		{"HEROKU_METRICS_URL", "set by Heroku: report Go runtime metrics"},
		{"RAW_REQUESTS_WINDOW", "also keep a row per router line for this long (e.g. 1h); off by default"},
		{"RETENTION", "keep samples, errors, alerts, hourly request stats this long (30d); minute stats 2d, app lines 7d"},
		{"LOG_RETENTION", "keep the app's own lines and l2met samples this long (7d; 1d on PostgreSQL, sized for Heroku's plans)"},
	} {
		fmt.Fprintf(&b, "  %-30s %s\n", v[0], v[1])
	}
	for _, v := range alertEnv {
		fmt.Fprintf(&b, "  %-30s %s (default %s)\n", v.name, v.help, v.def)
	}
	for _, v := range boundEnv {
		fmt.Fprintf(&b, "  %-30s %s (default %s)\n", v.name, v.help, v.def)
	}
	return b.String()
}

func authMode(cfg serveConfig) string {
	var m string
	switch {
	case cfg.Password != "" && cfg.User != "":
		m = "basic (user and password)"
	case cfg.Password != "":
		m = "basic (password; any user name)"
	default:
		m = "NONE (--no-auth)"
	}
	if len(cfg.Tokens) > 0 {
		m += fmt.Sprintf(", and Logplex-Drain-Token one of the %d in DRAIN_TOKENS", len(cfg.Tokens))
	}
	if cfg.RequireTLS {
		m += ", https only (REQUIRE_HTTPS)"
	}
	return m
}

// envBool reads a yes/no setting: "1", "true", "yes", "on" or "0", "false",
// "no", "off", "" (any case). Anything else is an error, not a silent no:
// REQUIRE_HTTPS=ture must not turn a protection off.
func envBool(name, v string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "1", "true", "yes", "on":
		return true, nil
	case "", "0", "false", "no", "off":
		return false, nil
	}
	return false, fmt.Errorf("%s=%q is not 1 or 0", name, v)
}

// newLogger writes logfmt lines (at=info msg=…) to w. On a dyno Heroku
// stamps each line with the time, so the time key is left out.
func newLogger(w io.Writer, onHeroku bool) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) > 0 {
				return a
			}
			switch a.Key {
			case slog.TimeKey:
				if onHeroku {
					return slog.Attr{}
				}
			case slog.LevelKey:
				return slog.String("at", strings.ToLower(a.Value.String()))
			}
			return a
		},
	}))
}

// server is the running daemon: database, writer, HTTP server. Open starts
// everything; Close stops it in order, losing nothing acknowledged.
//
// When the database cannot be opened because the disk is full, the daemon
// starts all the same: the HTTP listener answers 503 (logplex retries) and
// /healthz says why, and the database is tried again every RetryOpen until
// it opens.
type server struct {
	cfg      serveConfig
	log      *slog.Logger
	db       store.DB
	writer   store.Writer
	alerts   *alerts.Service // SQLite's; on Postgres the leading process's is pg.alerts
	pg       *pgState        // the Postgres side, when the database is one
	drain    *drain.Handler
	syslog   *drain.SyslogServer
	http     *http.Server
	ln       net.Listener
	conns    *drain.ConnCap // s.ln, capped
	tls      *tls.Config
	serveErr chan error
	stop     context.CancelFunc // ends background reporting (hmetrics) and retries
	bg       sync.WaitGroup

	// mux serves everything once the database is open; nil before.
	mux     atomic.Pointer[http.ServeMux]
	openErr atomic.Pointer[error] // why the database is not open yet
	dbFile  os.FileInfo           // the database file as opened
	// openMu orders openStore against Close.
	openMu sync.Mutex
	closed bool

	folder  *pending.Folder // the rollups' path templates, bounded
	apps    *drain.AppLimit // nil: no limit
	lock    *lockfile.Lock  // one daemon per database
	imports *importServer   // local `drainwatch import` into this daemon
}

var errNoPassword = errors.New("no DRAIN_PASSWORD set: a drain must not be open to anyone. Set DRAIN_PASSWORD (and put it in the drain URL: https://user:PASSWORD@host/logs/APP), or pass --no-auth for local testing")

// removeDB removes a database file this serve created and could not start
// on, with its WAL and shared-memory files.
func removeDB(path string) {
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		os.Remove(p)
	}
}

// ready reports whether the database is open and everything is served.
func (s *server) ready() bool { return s.mux.Load() != nil }

// Open checks the settings, claims the database and the port, opens the
// store and starts serving.
func (s *server) Open(ctx context.Context) error {
	if err := s.check(); err != nil {
		return err
	}
	if err := s.claim(ctx); err != nil {
		return err
	}
	s.newHTTPServer()
	s.start()
	if s.cfg.DatabaseURL != "" {
		return nil // `drainwatch import --db postgres://…` writes to the database itself
	}
	if err := s.startImports(); err != nil {
		s.Close(ctx)
		return err
	}
	return nil
}

// check refuses the settings that cannot work, before anything is opened
// or created: a serve that does not start leaves no empty database behind.
func (s *server) check() error {
	if s.cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(s.cfg.TLSCert, s.cfg.TLSKey)
		if err != nil {
			return fmt.Errorf("TLS certificate: %w", err)
		}
		s.tls = tlsconfig.New()
		s.tls.Certificates = []tls.Certificate{cert}
	}
	if s.cfg.SyslogAddr != "" && len(s.cfg.Tokens) == 0 && !s.cfg.SyslogAllowAny {
		return errSyslogOpen
	}
	if s.cfg.Password == "" && !s.cfg.NoAuth {
		return errNoPassword
	}
	return nil
}

// claim takes the database's lock (one daemon per SQLite file: a second
// one is refused, naming the holder; on PostgreSQL any number share it),
// the listening port, and opens the store; on a failure it undoes what it
// did, and removes a database file it created. A full disk is no failure
// on SQLite: the daemon serves 503 until it can store.
func (s *server) claim(ctx context.Context) (err error) {
	var undo []func()
	defer func() {
		if err != nil {
			for i := len(undo) - 1; i >= 0; i-- {
				undo[i]()
			}
		}
	}()
	pg := s.cfg.DatabaseURL != ""
	if !pg {
		if s.lock, err = lockfile.Acquire(s.cfg.DBPath, lockfile.Holder{Command: "serve"}); err != nil {
			var held *lockfile.HeldError
			if errors.As(err, &held) {
				return fmt.Errorf("%w: one daemon per database; stop it, or give this one another --db", err)
			}
			return err
		}
		undo = append(undo, func() { s.lock.Release() })
	}
	if s.ln, err = net.Listen("tcp", s.cfg.Addr); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	undo = append(undo, func() { s.ln.Close() })
	if _, statErr := os.Stat(s.cfg.DBPath); !pg && errors.Is(statErr, os.ErrNotExist) {
		undo = append(undo, func() { removeDB(s.cfg.DBPath) })
	}
	if err := s.openStore(ctx); err != nil {
		if pg || !storageFull(err) {
			return err
		}
		s.openErr.Store(&err)
		s.log.Error("database not open: the disk is full; serving 503 until it can store", "db", s.cfg.DBPath, "error", err.Error())
	}
	return nil
}

// newHTTPServer puts TLS and the connection cap on the listener and makes
// the HTTP server, with its timeouts.
func (s *server) newHTTPServer() {
	maxConns := s.cfg.MaxConns
	if maxConns <= 0 {
		maxConns = 1024
	}
	if s.tls != nil {
		s.ln = tls.NewListener(s.ln, s.tls)
	}
	// Above TLS, so that it sees the connections the HTTP server reports.
	s.conns = drain.NewConnCap(s.ln, maxConns)
	s.ln = s.conns
	to := s.cfg.Timeouts.withDefaults()
	s.http = &http.Server{
		Handler:           http.HandlerFunc(s.serveHTTP),
		ReadHeaderTimeout: to.Header,
		ReadTimeout:       to.Read,
		WriteTimeout:      to.Write,
		IdleTimeout:       to.Idle,
		MaxHeaderBytes:    64 << 10,
		ConnState:         s.conns.HTTPState,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
}

// start starts the background work (Heroku metrics, reopening a store the
// disk was too full to open) and serving; Close stops them.
func (s *server) start() {
	bg, stop := context.WithCancel(context.Background())
	s.stop = stop
	if s.cfg.MetricsURL != "" {
		s.bg.Add(1)
		go func() {
			defer s.bg.Done()
			hmetrics.Report(bg, s.cfg.MetricsURL, func(err error) error {
				s.log.Warn("hmetrics", "error", err.Error())
				return nil
			})
		}()
	}
	if !s.ready() {
		s.bg.Add(1)
		go func() {
			defer s.bg.Done()
			s.retryOpen(bg)
		}()
	}
	s.serveErr = make(chan error, 1)
	go func() {
		if err := s.http.Serve(s.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.serveErr <- err
		}
	}()
}

// openStore opens the database and everything that stores or reads, and
// starts serving them.
func (s *server) openStore(ctx context.Context) (err error) {
	s.openMu.Lock()
	defer s.openMu.Unlock()
	if s.closed {
		return errors.New("server closed")
	}
	if s.cfg.DatabaseURL != "" {
		return s.openPostgresStore(ctx)
	}
	var db *sqlite.DB
	var writer *sqlite.Writer
	var svc *alerts.Service
	defer func() {
		if err != nil {
			if svc != nil {
				svc.Close()
			}
			if writer != nil {
				writer.Close()
			}
			if db != nil {
				db.Close()
			}
		}
	}()
	if db, err = sqlite.Open(ctx, s.cfg.DBPath, sqlite.Options{NoSync: s.cfg.NoSync, MaxPages: s.cfg.MaxPages}); err != nil {
		return err
	}
	folder := pending.NewFolder(s.cfg.MaxPaths)
	if writer, err = sqlite.NewWriter(db, sqlite.WriterOptions{Retention: s.cfg.Retention, Logger: s.log, RawRequests: s.cfg.RawRequests,
		Folder: folder}); err != nil {
		return err
	}
	apps, err := appLimit(ctx, db, s)
	if err != nil {
		return err
	}
	acfg, notifier, err := s.alertParts(db)
	if err != nil {
		return err
	}
	if svc, err = alerts.NewService(ctx, acfg, db, notifier); err != nil {
		return err
	}
	dr, err := drain.New(drain.Config{
		User: s.cfg.User, Password: s.cfg.Password, AllowNoAuth: s.cfg.NoAuth, MaxBody: s.cfg.MaxBody, Logger: s.log,
		Observer: svc, Tokens: s.cfg.Tokens, RequireHTTPS: s.cfg.RequireTLS, Memory: s.cfg.DrainMemory, MemoryWait: s.cfg.DrainMemoryWait,
		Apps: apps,
	}, writer)
	if err != nil {
		if errors.Is(err, drain.ErrNoPassword) {
			return errNoPassword
		}
		return err
	}
	var sl *drain.SyslogServer
	if s.cfg.SyslogAddr != "" {
		sc := drain.SyslogConfig{Addr: s.cfg.SyslogAddr, Tokens: s.cfg.Tokens, AllowAnyApp: s.cfg.SyslogAllowAny, Logger: s.log, Observer: svc,
			MaxConns: s.cfg.SyslogMaxConns, FirstByteTimeout: s.cfg.SyslogFirstByte, Apps: apps}
		if !s.cfg.SyslogPlain {
			sc.TLS = s.tls
		}
		if sl, err = drain.ListenSyslog(sc, writer); err != nil {
			return err
		}
	}
	fi, err := os.Stat(s.cfg.DBPath)
	if err != nil {
		if sl != nil {
			sl.Close()
		}
		return fmt.Errorf("database file: %w", err)
	}
	s.db, s.writer, s.alerts, s.drain, s.syslog, s.dbFile = db, writer, svc, dr, sl, fi
	s.folder, s.apps = folder, apps
	s.serveMux(db, acfg)
	return nil
}

// serveMux serves the drain, the API and the page on db.
func (s *server) serveMux(db store.DB, acfg alerts.ServiceConfig) {
	dr := s.drain
	mux := http.NewServeMux()
	mux.Handle("/logs", dr)
	mux.Handle("/logs/", dr)
	mux.HandleFunc("/logs/{$}", misdirectedDrain)
	mux.HandleFunc("POST /{$}", misdirectedDrain)
	mux.HandleFunc("GET /healthz", s.healthz)
	local := &api.Local{DB: db, Analysis: acfg.Rules.Analysis, Limits: s.cfg.Limits}
	mux.Handle("/api/", api.Handler(local, s.cfg.APIToken, s.log))
	suspects := func(ctx context.Context, app string, since, until time.Time) (analyze.SuspectReport, error) {
		return local.Suspects(ctx, api.Query{App: app, Since: since, Until: until})
	}
	mux.Handle("/", web.New(web.Config{Token: s.cfg.APIToken, RestRPM: acfg.Rules.Analysis.RestRPM, Suspects: suspects, Logger: s.log, MaxCharts: s.cfg.MaxCharts}, pageSource{db, local},
		func(ctx context.Context, app string, since, until time.Time) ([]analyze.Report, error) {
			return local.Analyze(ctx, api.Query{App: app, Since: since, Until: until})
		}))
	s.openErr.Store(nil)
	s.mux.Store(mux)
}

// pageSource is what the page reads: db, but for the charts' top dynos,
// which come from the query the page's verdicts and suspects share.
type pageSource struct {
	store.DB
	local *api.Local
}

func (p pageSource) Dynos(ctx context.Context, f store.Filter) ([]store.DynoSummary, error) {
	return p.local.SharedDynos(ctx, f)
}

// appLimit is the MAX_APPS limit (nil when off), the apps with memory
// samples in db counting from the start.
func appLimit(ctx context.Context, db interface {
	Apps(context.Context) ([]store.AppSummary, error)
}, s *server) (*drain.AppLimit, error) {
	if s.cfg.MaxApps <= 0 {
		return nil, nil
	}
	known, err := db.Apps(ctx)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(known))
	for i, a := range known {
		names[i] = a.App
	}
	return drain.NewAppLimit(s.cfg.MaxApps, names, s.log), nil
}

// misdirectedDrain answers a drain pointed at the wrong path (POST / or
// /logs/ without an app) with the drain URL it should have, rather than a
// bare 404 or the dashboard's sign-in page (which reads as bad credentials).
func misdirectedDrain(w http.ResponseWriter, r *http.Request) {
	host := r.Host
	if host == "" {
		host = "HOST"
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusNotFound)
	fmt.Fprintf(w, "no app name in the drain URL: drains post to /logs/APP, e.g. heroku drains:add \"https://drain:PASSWORD@%s/logs/myapp\" -a myapp\n", host)
}

// retryOpen tries to open the database until it opens or ctx ends.
func (s *server) retryOpen(ctx context.Context) {
	every := s.cfg.RetryOpen
	if every <= 0 {
		every = 5 * time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		err := s.openStore(ctx)
		if err == nil {
			s.log.Info("database open: storing again", "db", s.cfg.DBPath)
			s.logListening()
			return
		}
		s.openErr.Store(&err)
	}
}

// serveHTTP serves everything once the database is open; before, 503 with
// the reason, so that logplex retries and health checks see it.
func (s *server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if mux := s.mux.Load(); mux != nil {
		mux.ServeHTTP(w, r)
		return
	}
	reason := "storing failing: the database is not open"
	if e := s.openErr.Load(); e != nil {
		reason = "storing failing: " + storageReason(*e)
	}
	if r.URL.Path == "/healthz" {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		json.NewEncoder(w).Encode(map[string]any{"status": reason})
		return
	}
	w.Header().Set("Retry-After", "5")
	http.Error(w, reason+"; retry", http.StatusServiceUnavailable)
}

// logListening says what listens and what authenticates each listener.
func (s *server) logListening() {
	cfg := s.cfg
	slackMode := "off (alerts are recorded; set SLACK_WEBHOOK_URL to send them)"
	if cfg.Slack != nil {
		slackMode = "on"
	}
	scheme := "http"
	if cfg.TLSCert != "" {
		scheme = "https"
	}
	apiMode := "off (set API_TOKEN)"
	if cfg.APIToken != "" {
		apiMode = "on (bearer API_TOKEN; the dashboard signs in with it)"
	}
	dbName := cfg.DBPath
	if cfg.DatabaseURL != "" {
		dbName = postgres.Redact(cfg.DatabaseURL)
	}
	s.log.Info("drainwatch listening", "addr", s.Addr(), "scheme", scheme, "db", dbName, "auth", authMode(cfg), "slack", slackMode, "api", apiMode)
	if s.syslog != nil {
		auth := fmt.Sprintf("drain token in HOSTNAME, one of the %d in DRAIN_TOKENS (no password: syslog has none)", len(cfg.Tokens))
		if len(cfg.Tokens) == 0 {
			auth = "NONE: any sender, HOSTNAME names the app (SYSLOG_ALLOW_ANY_APP=1)"
		}
		transport := "tls"
		if cfg.SyslogPlain {
			transport = "plain TCP (SYSLOG_PLAIN=1: TLS must end at a proxy before it)"
		}
		s.log.Info("syslog drain listening", "addr", s.syslog.Addr().String(), "transport", transport, "auth", auth)
	}
}

// Addr returns the address the server listens on.
func (s *server) Addr() string { return s.ln.Addr().String() }

// Close stops accepting, waits for requests in flight, commits every queued
// batch, records the alerts they raise, and closes the database.
func (s *server) Close(ctx context.Context) error {
	s.stop()
	err := s.http.Shutdown(ctx)
	if s.imports != nil {
		err = errors.Join(err, s.imports.close(ctx)) // their batches are written before the writer closes
	}
	s.bg.Wait()
	return errors.Join(err, s.closeStore(), s.lock.Release())
}

func (s *server) closeStore() error {
	s.openMu.Lock()
	defer s.openMu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if s.db == nil {
		return nil
	}
	var err error
	if s.syslog != nil {
		err = s.syslog.Close()
	}
	if s.pg != nil {
		return errors.Join(err, s.pg.close(), s.writer.Close(), s.db.Close())
	}
	return errors.Join(err, s.writer.Close(), s.alerts.Close(), s.db.Close())
}

// storageFull reports whether err means the disk (or the database's cap) is
// full.
func storageFull(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || strings.Contains(err.Error(), "database or disk is full") ||
		strings.Contains(err.Error(), "no space left on device")
}

// storageReason says in a few words why storing fails.
func storageReason(err error) string {
	switch {
	case storageFull(err):
		return "disk full"
	case errors.Is(err, store.ErrClosed):
		return "shutting down"
	}
	msg := err.Error()
	if len(msg) > 200 {
		msg = msg[:200] + "…"
	}
	return msg
}

// suspectsFor fits the last 6 hours of an app's history, for alerts.
// alertParts is the alert service's configuration over db (the daemon's
// logger, suspects read from db unless set) and the Slack notifier, nil
// when Slack is not configured.
func (s *server) alertParts(db api.Store) (alerts.ServiceConfig, alerts.Notifier, error) {
	acfg := s.cfg.Alerts
	if acfg.Logger == nil {
		acfg.Logger = s.log
	}
	if acfg.Suspects == nil {
		acfg.Suspects = suspectsFor(db)
	}
	if s.cfg.Slack == nil {
		return acfg, nil, nil
	}
	n, err := slacknotify.New(*s.cfg.Slack)
	return acfg, n, err
}

func suspectsFor(db api.Store) func(ctx context.Context, app string, at time.Time) ([]analyze.Suspect, error) {
	local := &api.Local{DB: db}
	return func(ctx context.Context, app string, at time.Time) ([]analyze.Suspect, error) {
		r, err := local.Suspects(ctx, api.Query{App: app, Since: at.Add(-6 * time.Hour), Until: at.Add(time.Minute)})
		return r.Suspects, err
	}
}

// parseDays reads a Go duration, or a number of days ("30d").
func parseDays(v string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(v, "d"); ok {
		f, err := strconv.ParseFloat(n, 64)
		if err != nil || f <= 0 {
			return 0, fmt.Errorf("bad duration %q", v)
		}
		return time.Duration(f * float64(24*time.Hour)), nil
	}
	return time.ParseDuration(v)
}

// parseTokens reads DRAIN_TOKENS: "d.xxx=myapp,d.yyy=other". Each app name
// is checked as one in a URL would be, so that a bad one stops serve at
// start instead of failing every batch of its drain. Errors name the token
// by its hash only: tokens are credentials.
func parseTokens(v string) (map[string]string, error) {
	if strings.TrimSpace(v) == "" {
		return nil, nil
	}
	out := map[string]string{}
	for i, pair := range strings.Split(v, ",") {
		tok, app, ok := strings.Cut(strings.TrimSpace(pair), "=")
		tok, app = strings.TrimSpace(tok), strings.TrimSpace(app)
		switch {
		case !ok || tok == "" || app == "":
			return nil, fmt.Errorf("DRAIN_TOKENS: entry %d is not TOKEN=APP (e.g. d.1a2b…=myapp)", i+1)
		case strings.ContainsAny(tok, " \t\r\n\"'"):
			return nil, fmt.Errorf("DRAIN_TOKENS: entry %d: the token (hash %s) has spaces or quotes", i+1, drain.TokenHash(tok))
		case !drain.ValidApp(app):
			return nil, fmt.Errorf("DRAIN_TOKENS: entry %d: app name %q must be 1-100 letters, digits, '-', '_' or '.'", i+1, app)
		}
		if prev, dup := out[tok]; dup && prev != app {
			return nil, fmt.Errorf("DRAIN_TOKENS: entry %d: the token (hash %s) is given twice, for %q and %q", i+1, drain.TokenHash(tok), prev, app)
		}
		out[tok] = app
	}
	return out, nil
}

// healthz answers 200 with the counters while storing works, and 503 with
// the reason when it does not: the database file is gone, a flush of what
// was acknowledged fails, or the last batch could not be stored.
func (s *server) healthz(w http.ResponseWriter, r *http.Request) {
	st := &s.drain.Stats
	status, code := "ok", http.StatusOK
	if s.pg == nil {
		if fi, err := os.Stat(s.cfg.DBPath); err != nil || !os.SameFile(fi, s.dbFile) {
			status, code = "storing failing: database file missing ("+s.cfg.DBPath+" was deleted or replaced; restart drainwatch)", http.StatusServiceUnavailable
		}
	}
	if code == http.StatusOK {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		err := s.writer.Flush(ctx)
		cancel()
		if err == nil {
			err = st.StoreFailure()
		}
		if err != nil {
			status, code = "storing failing: "+storageReason(err), http.StatusServiceUnavailable
		} else if s.pg != nil {
			if warn := s.pg.sizeWarning(); warn != "" {
				status = warn
			}
		}
	}
	m := map[string]any{
		"status":                   status,
		"requests":                 st.Requests.Load(),
		"lines_stored":             st.Stored.Load(),
		"frames_skipped":           st.Skipped.Load(),
		"future_lines_skipped":     st.Future.Load(),
		"stored_after_client_left": st.StoredLate.Load(),
		"duplicates":               st.Duplicates.Load(),
		"rejected":                 st.Rejected.Load(),
		"unavailable_503s":         st.Unavailable.Load(),
	}
	if svc := s.alertService(); svc != nil {
		m["alerts_recorded"], m["alert_batches_dropped"], m["alert_dynos_evicted"] = svc.Fired.Load(), svc.Dropped.Load(), svc.Evicted.Load()
		m["alert_queue_bytes"] = svc.QueuedBytes()
	}
	if s.pg != nil {
		m["leader"] = s.pg.elector.Leading()
		m["database_bytes"], m["database_size_limit_bytes"] = s.pg.size.Load(), s.cfg.DBSizeWarn
	}
	// The bounds (docs/bounds.md): how often each was hit.
	open, busy := s.conns.Counts()
	m["http_conns_open"], m["http_conns_busy"] = open, busy
	m["http_idle_conns_closed"], m["http_conns_waited"] = s.conns.Evicted.Load(), s.conns.Waited.Load()
	m["drain_memory_busy_503s"], m["bodies_stored_in_chunks"] = st.Busy.Load(), st.Chunked.Load()
	m["paths_folded"] = s.folder.Folded.Load()
	if s.apps != nil {
		m["apps_dropped"], m["app_batches_dropped"], m["app_lines_dropped"] = s.apps.DroppedApps.Load(), s.apps.DroppedBatches.Load(), s.apps.DroppedLines.Load()
	}
	if s.syslog != nil {
		c := s.syslog.Conns()
		open, _ := c.Counts()
		m["syslog_conns_open"], m["syslog_idle_conns_closed"] = open, c.Evicted.Load()
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(m)
}
