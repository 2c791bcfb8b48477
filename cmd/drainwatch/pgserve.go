package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/drainwatch/drainwatch/alerts"
	"github.com/drainwatch/drainwatch/drain"
	"github.com/drainwatch/drainwatch/store/pending"
	"github.com/drainwatch/drainwatch/store/postgres"
)

// pgState is what a daemon on PostgreSQL runs besides the shared parts:
// the leader election and, while this process leads, the alert service
// fed from the database, retention and folding.
type pgState struct {
	db      *postgres.DB
	elector *postgres.Elector
	cancel  context.CancelFunc
	done    sync.WaitGroup
	alerts  atomic.Pointer[alerts.Service] // while leading
	size    atomic.Int64                   // pg_database_size, last measured
	warnAt  int64
}

// alertService is the alert service of this process: SQLite's, or the
// leader's on Postgres (nil on a follower).
func (s *server) alertService() *alerts.Service {
	if s.pg != nil {
		return s.pg.alerts.Load()
	}
	return s.alerts
}

func (s *server) openPostgresStore(ctx context.Context) (err error) {
	db, err := postgres.Open(ctx, s.cfg.DatabaseURL, postgres.Options{})
	if err != nil {
		return err
	}
	// Each process folds on its own (docs/bounds.md).
	folder := pending.NewFolder(s.cfg.MaxPaths)
	writer, err := postgres.NewWriter(db, postgres.WriterOptions{Logger: s.log, RawRequests: s.cfg.RawRequests, Folder: folder})
	if err != nil {
		db.Close()
		return err
	}
	fail := func(err error) error {
		writer.Close()
		db.Close()
		return err
	}
	apps, err := appLimit(ctx, db, s)
	if err != nil {
		return fail(err)
	}
	acfg, notifier, err := s.alertParts(db)
	if err != nil {
		return fail(err)
	}
	// Every process ingests; the alert engine sees every process's batches
	// through the database (postgres.DB.Feed), in the leader only.
	dr, err := drain.New(drain.Config{
		User: s.cfg.User, Password: s.cfg.Password, AllowNoAuth: s.cfg.NoAuth, MaxBody: s.cfg.MaxBody, Logger: s.log,
		Tokens: s.cfg.Tokens, RequireHTTPS: s.cfg.RequireTLS, Memory: s.cfg.DrainMemory, MemoryWait: s.cfg.DrainMemoryWait,
		Apps: apps,
	}, writer)
	if err != nil {
		if err == drain.ErrNoPassword {
			return fail(errNoPassword)
		}
		return fail(err)
	}
	var sl *drain.SyslogServer
	if s.cfg.SyslogAddr != "" {
		sc := drain.SyslogConfig{Addr: s.cfg.SyslogAddr, Tokens: s.cfg.Tokens, AllowAnyApp: s.cfg.SyslogAllowAny, Logger: s.log,
			MaxConns: s.cfg.SyslogMaxConns, FirstByteTimeout: s.cfg.SyslogFirstByte, Apps: apps}
		if !s.cfg.SyslogPlain {
			sc.TLS = s.tls
		}
		if sl, err = drain.ListenSyslog(sc, writer); err != nil {
			return fail(err)
		}
	}
	retention := s.cfg.Retention
	if retention.Logs == 0 {
		// App lines are most of the bytes (docs/deploy.md's size table):
		// a day of them keeps a week of everything within essential-0.
		retention.Logs = postgres.DefaultLogRetention
	}
	pg := &pgState{db: db, warnAt: s.cfg.DBSizeWarn * 8 / 10}
	pg.elector = &postgres.Elector{DB: db, Every: s.cfg.LeaderEvery, Log: s.log, Lead: func(ctx context.Context) {
		svc, err := alerts.NewService(ctx, acfg, db, notifier)
		if err != nil {
			s.log.Error("alert service", "error", err.Error())
			return
		}
		pg.alerts.Store(svc)
		var wg sync.WaitGroup
		wg.Go(func() { db.Maintain(ctx, retention, s.log, nil) })
		db.Feed(ctx, svc, time.Second, s.log)
		wg.Wait()
		pg.alerts.Store(nil)
		svc.Close()
	}}
	bg, cancel := context.WithCancel(context.Background())
	pg.cancel = cancel
	pg.done.Go(func() { pg.elector.Run(bg) })
	pg.done.Go(func() { pg.watchSize(bg, s) })
	s.db, s.writer, s.drain, s.syslog, s.pg = db, writer, dr, sl, pg
	s.folder, s.apps = folder, apps
	s.serveMux(db, acfg)
	return nil
}

// close stops leading (the alert service records what it was given) and
// the size watch.
func (pg *pgState) close() error {
	pg.cancel()
	pg.done.Wait()
	return nil
}

// watchSize measures the database's size every minute and warns in the
// log when it is past 80% of DATABASE_SIZE_LIMIT.
func (pg *pgState) watchSize(ctx context.Context, s *server) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		if n, err := pg.db.Size(ctx); err == nil {
			pg.size.Store(n)
			if pg.warnAt > 0 && n >= pg.warnAt {
				s.log.Warn("database nearly full: shorten RETENTION (and LOG_RETENTION) or move to a larger plan",
					"bytes", n, "limit", s.cfg.DBSizeWarn)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// sizeWarning is /healthz's status when the database is nearly full.
func (pg *pgState) sizeWarning() string {
	if n := pg.size.Load(); pg.warnAt > 0 && n >= pg.warnAt {
		return fmt.Sprintf("ok, but the database is nearly full: %d of %d bytes (DATABASE_SIZE_LIMIT)", n, pg.warnAt*10/8)
	}
	return ""
}

// parseBytes reads a size: 1GB, 10GiB, 500MB, or a number of bytes.
func parseBytes(v string) (int64, error) {
	v = strings.TrimSpace(strings.ToUpper(v))
	mult := int64(1)
	for _, u := range []struct {
		s string
		m int64
	}{{"GIB", 1 << 30}, {"MIB", 1 << 20}, {"KIB", 1 << 10}, {"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}, {"B", 1}} {
		if n, ok := strings.CutSuffix(v, u.s); ok {
			v, mult = strings.TrimSpace(n), u.m
			break
		}
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f <= 0 {
		return 0, fmt.Errorf("not a size (like 1GB or 10GiB)")
	}
	return int64(f * float64(mult)), nil
}
