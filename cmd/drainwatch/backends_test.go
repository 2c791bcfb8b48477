package main

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/drainwatch/drainwatch/store"
	"github.com/drainwatch/drainwatch/store/postgres"
	"github.com/drainwatch/drainwatch/store/postgres/pgtest"
	"github.com/drainwatch/drainwatch/store/sqlite"
)

// backends runs f once per storage backend, with what --db takes: a
// SQLite file in a temporary directory, and a PostgreSQL database of its
// own (pgtest: skipped outside CI when no server is given).
func backends(t *testing.T, file string, f func(t *testing.T, db string)) {
	t.Run("sqlite", func(t *testing.T) { f(t, filepath.Join(t.TempDir(), file)) })
	t.Run("postgres", func(t *testing.T) { f(t, pgtest.NewDB(t)) })
}

// withDB is cfg on db (a file or a postgres:// URL).
func withDB(cfg serveConfig, db string) serveConfig {
	if postgres.IsURL(db) {
		cfg.DatabaseURL = db
	} else {
		cfg.DBPath = db
	}
	return cfg
}

// openRO opens db for queries, as the CLI does.
func openRO(t *testing.T, db string) store.DB {
	t.Helper()
	var d store.DB
	var err error
	if postgres.IsURL(db) {
		d, err = postgres.Open(context.Background(), db, postgres.Options{ReadOnly: true, MaxConns: 2})
	} else {
		d, err = sqlite.Open(context.Background(), db, sqlite.Options{ReadOnly: true})
	}
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// alertsJudged waits until the alert engine has judged every batch stored
// so far: SQLite's in this process; on Postgres the leader's, once the
// alert feed is empty.
func alertsJudged(t *testing.T, s *server) {
	t.Helper()
	ctx := context.Background()
	if err := s.writer.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if s.pg == nil {
		if err := s.alerts.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		return
	}
	waitFor(t, "the alert feed judged", func() bool {
		n, err := s.pg.db.FeedLen(ctx)
		return err == nil && n == 0
	})
}
