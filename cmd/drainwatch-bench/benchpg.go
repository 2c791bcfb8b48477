package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/drainwatch/drainwatch/store/postgres"
)

// benchBackends is `drainwatch-bench --db postgres://…`: the same load
// against a daemon on SQLite and one on PostgreSQL, alternated rounds
// times, each on a fresh database (a file; a database created on the
// server of pgURL and dropped after), and the ratio of their rates.
func benchBackends(ctx context.Context, out io.Writer, serveBin, pgURL string, bodies [][]byte, lines, routerLines, conns, rounds int, d time.Duration) error {
	dir, err := os.MkdirTemp("", "drainwatch-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	type run struct {
		r       loadResult
		stopped time.Duration // SIGTERM to exit: storing what was still pending
		bytes   int64
	}
	one := func(backend string, round int) (run, error) {
		var db string
		var size func() int64
		if backend == "sqlite" {
			db = filepath.Join(dir, fmt.Sprintf("bench-%d.db", round))
			size = func() int64 {
				var n int64
				for _, suffix := range []string{"", "-wal"} {
					if st, err := os.Stat(db + suffix); err == nil {
						n += st.Size()
					}
				}
				return n
			}
		} else {
			var drop func()
			if db, drop, err = scratchDatabase(ctx, pgURL); err != nil {
				return run{}, err
			}
			defer drop()
			size = func() int64 {
				pdb, err := postgres.Open(ctx, db, postgres.Options{ReadOnly: true, MaxConns: 1})
				if err != nil {
					return 0
				}
				defer pdb.Close()
				n, _ := pdb.Size(ctx)
				return n
			}
		}
		secret := rand.Text()
		daemon, err := startBin(ctx, serveBin, []string{"DRAIN_PASSWORD=" + secret}, "serve", "--addr", "127.0.0.1:0", "--db", db)
		if err != nil {
			return run{}, err
		}
		base := size()
		r := runLoad(ctx, daemon.addr, secret, bodies, true, conns, d, nil)
		t0 := time.Now()
		daemon.stop()
		return run{r: r, stopped: time.Since(t0), bytes: size() - base}, nil
	}
	var ratios []float64
	for round := range rounds {
		var rates [2]float64
		for i, backend := range []string{"sqlite", "postgres"} {
			x, err := one(backend, round)
			if err != nil {
				return err
			}
			rates[i] = x.r.rate()
			router := float64(x.r.lines) * float64(routerLines) / float64(lines)
			fmt.Fprintf(out, "round %d, %s:\n  %s\n  stopped (storing what was pending) in %s; database grew %.1f MiB, %.1f MiB per million router lines\n",
				round+1, backend, x.r, x.stopped.Round(time.Millisecond), float64(x.bytes)/(1<<20), float64(x.bytes)/(1<<20)/(router/1e6))
			if x.r.failed > 0 {
				return fmt.Errorf("%s: %d requests failed", backend, x.r.failed)
			}
		}
		if rates[0] > 0 {
			ratios = append(ratios, rates[1]/rates[0])
		}
	}
	sort.Float64s(ratios)
	var parts []string
	for _, r := range ratios {
		parts = append(parts, fmt.Sprintf("%.2f", r))
	}
	if len(ratios) > 0 {
		fmt.Fprintf(out, "\npostgres/sqlite lines/s: %s (median %.2f)\n", strings.Join(parts, ", "), ratios[len(ratios)/2])
	}
	return nil
}

// scratchDatabase creates an empty database on the server of u and
// returns its URL and how to drop it.
func scratchDatabase(ctx context.Context, u string) (string, func(), error) {
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		return "", nil, fmt.Errorf("--db: %w", err)
	}
	defer conn.Close(ctx)
	name := "drainwatch_bench_" + strings.ToLower(rand.Text()[:8])
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", nil, fmt.Errorf("--db: a fresh database for each run is created on that server, and this failed: %w", err)
	}
	pu, err := url.Parse(u)
	if err != nil {
		return "", nil, err
	}
	pu.Path = "/" + name
	drop := func() {
		c, err := pgx.Connect(context.Background(), u)
		if err != nil {
			return
		}
		defer c.Close(context.Background())
		c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	}
	return pu.String(), drop, nil
}
