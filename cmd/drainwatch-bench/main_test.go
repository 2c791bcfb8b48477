package main

import (
	"bytes"
	"context"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"
)

// TestMain lets the bench run this test binary as its own child process
// (the ceiling's sink): with DRAINWATCH_BENCH_TEST_MAIN=1 it is
// drainwatch-bench itself.
func TestMain(m *testing.M) {
	if os.Getenv("DRAINWATCH_BENCH_TEST_MAIN") == "1" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := Main(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
		stop()
		os.Exit(code)
	}
	os.Exit(m.Run())
}

func runBenchCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := Main(context.Background(), args, &stdout, &stderr, func(string) string { return "" })
	return code, stdout.String(), stderr.String()
}

// drainwatchBin builds cmd/drainwatch from this module, as the bench does
// when it is given no binary.
func drainwatchBin(t *testing.T) string {
	t.Helper()
	var log bytes.Buffer
	bin, cleanup, err := findDrainwatch(context.Background(), "", &log)
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	t.Cleanup(cleanup)
	return bin
}

// A short run end to end: the sink (this binary as a child process) and a
// real drainwatch daemon (built from this module) each take the load, and
// every post is acknowledged.
func TestBenchAgainstTheCeiling(t *testing.T) {
	t.Setenv("DRAINWATCH_BENCH_TEST_MAIN", "1")
	bin := drainwatchBin(t)
	code, out, errOut := runBenchCmd(t, "--duration", "1s", "--conns", "1", "--body-kb", "10", "--serve-bin", bin)
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	for _, want := range []string{
		"ceiling (bare server: read body, count frames):",
		"drainwatch serve (parse, store, rollups, alert engine",
		" 0 failed)",
		"peak RSS ",
		"per million router lines",
		"share of the ceiling: ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output does not say %q:\n%s", want, out)
		}
	}
	if strings.Count(out, " 0 failed)") != 2 {
		t.Errorf("the ceiling and the daemon should both have 0 failed:\n%s", out)
	}
}

// The adversarial bench's queries against a fresh daemon: every API query
// and the page answer 200.
func TestAdversarialQueries(t *testing.T) {
	bin := drainwatchBin(t)
	code, out, errOut := runBenchCmd(t, "--adversarial", "--phases", "queries", "--serve-bin", bin)
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if !strings.Contains(out, "peak RSS") || !strings.Contains(out, "api/requests?app=adv-paths&by=path ") || !strings.Contains(out, "healthz ") {
		t.Errorf("output:\n%s", out)
	}
}

func TestUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"-h"}, 0, "drainwatch-bench --adversarial"},
		{[]string{"--bogus"}, 2, "flag provided but not defined: -bogus (see 'drainwatch-bench -h')"},
		{[]string{"--duration", "0s"}, 2, "must be positive"},
		{[]string{"extra"}, 2, `unexpected argument "extra"`},
		{[]string{"--serve-bin", "/no/such/drainwatch"}, 1, "--serve-bin: "},
		{[]string{"--adversarial", "--phases", "conns,nope"}, 2, `unknown phase "nope"`},
	} {
		code, out, errOut := runBenchCmd(t, tc.args...)
		if code != tc.code || !strings.Contains(out+errOut, tc.out) {
			t.Errorf("%v: exit %d, %q %q; want %d and %q", tc.args, code, out, errOut, tc.code, tc.out)
		}
	}
}
