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
	"strconv"
	"strings"
	"time"

	"github.com/heroku/x/hmetrics"
	"github.com/heroku/x/tlsconfig"
	"golang.org/x/net/netutil"

	"github.com/drainwatch/drainwatch/alerts"
	slacknotify "github.com/drainwatch/drainwatch/alerts/slack"
	"github.com/drainwatch/drainwatch/analyze"
	"github.com/drainwatch/drainwatch/api"
	"github.com/drainwatch/drainwatch/drain"
	"github.com/drainwatch/drainwatch/store"
	"github.com/drainwatch/drainwatch/web"
)

// serveConfig is everything the daemon is configured with, from env and flags.
type serveConfig struct {
	Addr        string // host:port to listen on
	DBPath      string
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
	Tokens      map[string]string   // drain token allowlist
	RequireTLS  bool                // refuse X-Forwarded-Proto: http
	MetricsURL  string              // HEROKU_METRICS_URL: report Go runtime metrics
	APIToken    string              // bearer token of the read API ("" = API off)
	MaxConns    int                 // concurrent HTTP connections; more wait in the backlog
	MaxPages    int                 // cap the database (tests: a full disk)
	RawRequests bool                // also keep a row per router line (for Retention.Raw)
	Retention   store.Retention
	Timeouts    httpTimeouts
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
	def(&t.Header, 5*time.Second)
	def(&t.Read, 15*time.Second)
	def(&t.Write, 15*time.Second)
	def(&t.Idle, 90*time.Second)
	return t
}

type serveCommand struct{ env *env }

func (c *serveCommand) Run(ctx context.Context, args []string) error {
	e := c.env
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	port := e.envOr("PORT", "8080")
	addr := fs.String("addr", ":"+port, "address to listen on (env PORT sets the port)")
	db := fs.String("db", e.envOr("DRAINWATCH_DB", store.DefaultPath), "SQLite database file (env DRAINWATCH_DB)")
	noAuth := fs.Bool("no-auth", e.getenv("DRAINWATCH_NO_AUTH") == "1", "accept drains without a password: local testing only (env DRAINWATCH_NO_AUTH=1)")
	noSync := fs.Bool("no-sync", e.getenv("DRAINWATCH_NO_SYNC") == "1", "acknowledge at commit, without waiting for the WAL's fsync: faster, but a power loss may lose acknowledged lines (env DRAINWATCH_NO_SYNC=1)")
	maxBody := fs.Int64("max-body", 1<<20, "largest request body in bytes")
	pprofAddr := fs.String("pprof", "", "serve Go's pprof profiles on this address (e.g. 127.0.0.1:6060); off by default")
	if err := parseFlags(fs, args, e.stdout, "serve [flags]\n\n"+serveHelp()); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErr("unexpected argument %q", fs.Arg(0))
	}
	cfg := serveConfig{
		Addr: *addr, DBPath: *db, User: e.getenv("DRAIN_USER"), Password: e.getenv("DRAIN_PASSWORD"),
		NoAuth: *noAuth, MaxBody: *maxBody, NoSync: *noSync, ShutdownFor: 25 * time.Second,
	}
	var err error
	if cfg.Alerts, err = alertSettings(e.getenv); err != nil {
		return err
	}
	if cfg.Tokens, err = parseTokens(e.getenv("DRAIN_TOKENS")); err != nil {
		return err
	}
	cfg.TLSCert, cfg.TLSKey = e.getenv("TLS_CERT_FILE"), e.getenv("TLS_KEY_FILE")
	if (cfg.TLSCert == "") != (cfg.TLSKey == "") {
		return errors.New("set both TLS_CERT_FILE and TLS_KEY_FILE, or neither")
	}
	cfg.SyslogAddr = e.getenv("SYSLOG_ADDR")
	cfg.SyslogPlain = e.getenv("SYSLOG_PLAIN") == "1"
	if cfg.SyslogAddr != "" && cfg.TLSCert == "" && !cfg.SyslogPlain {
		return errors.New("SYSLOG_ADDR needs TLS_CERT_FILE and TLS_KEY_FILE (syslog+tls), or SYSLOG_PLAIN=1 behind a TLS proxy")
	}
	cfg.RequireTLS = e.getenv("REQUIRE_HTTPS") == "1"
	cfg.MetricsURL = e.getenv("HEROKU_METRICS_URL")
	cfg.APIToken = e.getenv("API_TOKEN")
	if v := e.getenv("RAW_REQUESTS_WINDOW"); v != "" {
		d, err := parseDays(v)
		if err != nil || d <= 0 {
			return fmt.Errorf("RAW_REQUESTS_WINDOW=%q is not a duration (like 1h)", v)
		}
		cfg.RawRequests, cfg.Retention.Raw = true, d
	}
	if v := e.getenv("RETENTION"); v != "" {
		d, err := parseDays(v)
		if err != nil || d < time.Hour {
			return fmt.Errorf("RETENTION=%q is not a duration of an hour or more (like 30d or 720h)", v)
		}
		cfg.Retention.History = d
	}
	if sc, ok := slackSettings(e.getenv); ok {
		cfg.Slack = &sc
	}
	log := newLogger(e.stdout, e.getenv("DYNO") != "")
	cfg.Alerts.Logger = log
	if *pprofAddr != "" {
		// Its own listener and mux: profiles are never on the public port.
		ln, err := net.Listen("tcp", *pprofAddr)
		if err != nil {
			return fmt.Errorf("pprof: %w", err)
		}
		mux := http.NewServeMux()
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		go http.Serve(ln, mux)
		log.Info("pprof listening", "addr", ln.Addr().String())
	}
	s := &server{cfg: cfg, log: log}
	if err := s.Open(ctx); err != nil {
		return err
	}
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
		apiMode = "on"
	}
	log.Info("drainwatch listening", "addr", s.Addr(), "scheme", scheme, "db", cfg.DBPath, "auth", authMode(cfg), "slack", slackMode, "api", apiMode)
	if s.syslog != nil {
		log.Info("syslog drain listening", "addr", s.syslog.Addr().String(), "tls", !cfg.SyslogPlain)
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
		{"HEROKU_METRICS_URL", "set by Heroku: report Go runtime metrics"},
		{"RAW_REQUESTS_WINDOW", "also keep a row per router line for this long (e.g. 1h); off by default"},
		{"RETENTION", "keep samples, errors, alerts, hourly request stats this long (30d); minute stats 2d, app lines 7d"},
	} {
		fmt.Fprintf(&b, "  %-30s %s\n", v[0], v[1])
	}
	for _, v := range alertEnv {
		fmt.Fprintf(&b, "  %-30s %s (default %s)\n", v.name, v.help, v.def)
	}
	return b.String()
}

func authMode(cfg serveConfig) string {
	switch {
	case cfg.Password != "" && cfg.User != "":
		return "basic (user and password)"
	case cfg.Password != "":
		return "basic (password; any user name)"
	default:
		return "NONE (--no-auth)"
	}
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
type server struct {
	cfg      serveConfig
	log      *slog.Logger
	db       *store.DB
	writer   *store.Writer
	alerts   *alerts.Service
	drain    *drain.Handler
	syslog   *drain.SyslogServer
	http     *http.Server
	ln       net.Listener
	serveErr chan error
	stop     context.CancelFunc // ends background reporting (hmetrics)
}

func (s *server) Open(ctx context.Context) error {
	var err error
	if s.db, err = store.Open(ctx, s.cfg.DBPath, store.Options{NoSync: s.cfg.NoSync, MaxPages: s.cfg.MaxPages}); err != nil {
		return err
	}
	if s.writer, err = store.NewWriter(s.db, store.WriterOptions{Retention: s.cfg.Retention, Logger: s.log, RawRequests: s.cfg.RawRequests}); err != nil {
		s.db.Close()
		return err
	}
	var notifier alerts.Notifier
	if s.cfg.Slack != nil {
		n, err := slacknotify.New(*s.cfg.Slack)
		if err != nil {
			s.writer.Close()
			s.db.Close()
			return err
		}
		notifier = n
	}
	if s.cfg.Alerts.Logger == nil {
		s.cfg.Alerts.Logger = s.log
	}
	if s.cfg.Alerts.Suspects == nil {
		s.cfg.Alerts.Suspects = suspectsFor(s.db)
	}
	if s.alerts, err = alerts.NewService(ctx, s.cfg.Alerts, s.db, notifier); err != nil {
		s.writer.Close()
		s.db.Close()
		return err
	}
	s.drain, err = drain.New(drain.Config{
		User: s.cfg.User, Password: s.cfg.Password, AllowNoAuth: s.cfg.NoAuth, MaxBody: s.cfg.MaxBody, Logger: s.log,
		Observer: s.alerts, Tokens: s.cfg.Tokens, RequireHTTPS: s.cfg.RequireTLS,
	}, s.writer)
	if err != nil {
		s.alerts.Close()
		s.writer.Close()
		s.db.Close()
		if errors.Is(err, drain.ErrNoPassword) {
			return errors.New("no DRAIN_PASSWORD set: a drain must not be open to anyone. Set DRAIN_PASSWORD (and put it in the drain URL: https://user:PASSWORD@host/logs/APP), or pass --no-auth for local testing")
		}
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/logs", s.drain)
	mux.Handle("/logs/", s.drain)
	mux.HandleFunc("GET /healthz", s.healthz)
	local := &api.Local{DB: s.db, Analysis: s.cfg.Alerts.Rules.Analysis}
	mux.Handle("/api/", api.Handler(local, s.cfg.APIToken, s.log))
	suspects := func(ctx context.Context, app string, since, until time.Time) (analyze.SuspectReport, error) {
		return local.Suspects(ctx, api.Query{App: app, Since: since, Until: until})
	}
	mux.Handle("/", web.New(web.Config{Token: s.cfg.APIToken, RestRPM: s.cfg.Alerts.Rules.Analysis.RestRPM, Suspects: suspects, Logger: s.log}, s.db,
		func(ctx context.Context, app string, since, until time.Time) ([]analyze.Report, error) {
			return local.Analyze(ctx, api.Query{App: app, Since: since, Until: until})
		}))
	to := s.cfg.Timeouts.withDefaults()
	s.http = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: to.Header,
		ReadTimeout:       to.Read,
		WriteTimeout:      to.Write,
		IdleTimeout:       to.Idle,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	var tlsCfg *tls.Config
	if s.cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(s.cfg.TLSCert, s.cfg.TLSKey)
		if err != nil {
			s.alerts.Close()
			s.writer.Close()
			s.db.Close()
			return fmt.Errorf("TLS certificate: %w", err)
		}
		tlsCfg = tlsconfig.New()
		tlsCfg.Certificates = []tls.Certificate{cert}
	}
	if s.ln, err = net.Listen("tcp", s.cfg.Addr); err != nil {
		s.alerts.Close()
		s.writer.Close()
		s.db.Close()
		return fmt.Errorf("listen: %w", err)
	}
	maxConns := s.cfg.MaxConns
	if maxConns <= 0 {
		maxConns = 1024
	}
	s.ln = netutil.LimitListener(s.ln, maxConns)
	if tlsCfg != nil {
		s.ln = tls.NewListener(s.ln, tlsCfg)
	}
	if s.cfg.SyslogAddr != "" {
		sc := drain.SyslogConfig{Addr: s.cfg.SyslogAddr, Tokens: s.cfg.Tokens, Logger: s.log, Observer: s.alerts}
		if !s.cfg.SyslogPlain {
			sc.TLS = tlsCfg
		}
		if s.syslog, err = drain.ListenSyslog(sc, s.writer); err != nil {
			s.ln.Close()
			s.alerts.Close()
			s.writer.Close()
			s.db.Close()
			return err
		}
	}
	bg, stop := context.WithCancel(context.Background())
	s.stop = stop
	if s.cfg.MetricsURL != "" {
		go hmetrics.Report(bg, s.cfg.MetricsURL, func(err error) error {
			s.log.Warn("hmetrics", "error", err.Error())
			return nil
		})
	}
	s.serveErr = make(chan error, 1)
	go func() {
		if err := s.http.Serve(s.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.serveErr <- err
		}
	}()
	return nil
}

// Addr returns the address the server listens on.
func (s *server) Addr() string { return s.ln.Addr().String() }

// Close stops accepting, waits for requests in flight, commits every queued
// batch, records the alerts they raise, and closes the database.
func (s *server) Close(ctx context.Context) error {
	s.stop()
	err := s.http.Shutdown(ctx)
	if s.syslog != nil {
		err = errors.Join(err, s.syslog.Close())
	}
	return errors.Join(err, s.writer.Close(), s.alerts.Close(), s.db.Close())
}

// suspectsFor fits the last 6 hours of an app's history, for alerts.
func suspectsFor(db *store.DB) func(ctx context.Context, app string, at time.Time) ([]analyze.Suspect, error) {
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

// parseTokens reads DRAIN_TOKENS: "d.xxx=myapp,d.yyy=other".
func parseTokens(v string) (map[string]string, error) {
	if strings.TrimSpace(v) == "" {
		return nil, nil
	}
	out := map[string]string{}
	for _, pair := range strings.Split(v, ",") {
		tok, app, ok := strings.Cut(strings.TrimSpace(pair), "=")
		if !ok || tok == "" || app == "" {
			return nil, fmt.Errorf("DRAIN_TOKENS: %q is not TOKEN=APP (e.g. d.1a2b…=myapp)", pair)
		}
		out[tok] = app
	}
	return out, nil
}

func (s *server) healthz(w http.ResponseWriter, r *http.Request) {
	st := &s.drain.Stats
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"status":                "ok",
		"requests":              st.Requests.Load(),
		"lines_stored":          st.Stored.Load(),
		"frames_skipped":        st.Skipped.Load(),
		"duplicates":            st.Duplicates.Load(),
		"rejected":              st.Rejected.Load(),
		"unavailable_503s":      st.Unavailable.Load(),
		"alerts_recorded":       s.alerts.Fired.Load(),
		"alert_batches_dropped": s.alerts.Dropped.Load(),
		"alert_dynos_evicted":   s.alerts.Evicted.Load(),
	})
}
