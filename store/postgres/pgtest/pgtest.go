// Package pgtest gives tests a PostgreSQL database of their own, on the
// server named by DRAINWATCH_TEST_POSTGRES (.ci/run starts one). Without
// it a test skips, saying so — except in CI (CI set), where it fails.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// Env is the variable naming the test server: a URL of a database on it
// whose role may create databases.
const Env = "DRAINWATCH_TEST_POSTGRES"

// Server returns the test server's URL, or skips t (fails it in CI).
func Server(t testing.TB) string {
	t.Helper()
	u := os.Getenv(Env)
	if u == "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not set: CI must run a PostgreSQL server for the tests (.ci/run starts one)", Env)
		}
		t.Skipf("no PostgreSQL for this test: set %s to a server's URL (source .ci/postgres.sh; start_test_postgres)", Env)
	}
	return u
}

// NewDB creates an empty database for t, dropped at its end, and returns
// its URL.
func NewDB(t testing.TB) string {
	t.Helper()
	admin := Server(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("PostgreSQL at %s: %v", admin, err)
	}
	defer conn.Close(ctx)
	var b [6]byte
	rand.Read(b[:])
	name := "dwtest_" + hex.EncodeToString(b[:])
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		conn, err := pgx.Connect(context.Background(), admin)
		if err != nil {
			return
		}
		defer conn.Close(context.Background())
		conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	})
	return withDB(admin, name)
}

// withDB is u with its database set to name.
func withDB(u, name string) string {
	pu, err := url.Parse(u)
	if err != nil {
		return u
	}
	pu.Path = "/" + strings.TrimPrefix(name, "/")
	return pu.String()
}
