// Command drainwatch is a Heroku log drain that answers, after an R14: which
// dyno, since when, leak or bloat, and which requests. `drainwatch serve` runs
// the daemon; the other subcommands query its history.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

const usage = `drainwatch: memory history for Heroku apps, from their log drain.

Usage:
  drainwatch <command> [flags]

Commands:
  serve     run the drain endpoint (Heroku posts logs to https://USER:PASS@HOST/logs/APP)
  import    load saved logs (` + "`heroku logs`" + ` output or raw logplex bodies) into the database
  mem       memory samples per dyno (runtime metrics)
  errors    R14/R15 memory errors, H-codes, crashes and other platform errors
  dynos     each app's dynos and boots seen, last memory against the quota, restarts
  requests  request counts, error rates, service/connect percentiles by path, status or dyno
  alerts    alerts fired and resolved (over/near quota, leaks)
  analyze   per dyno boot: leak, bloat, stable or insufficient-data, with the slope and time to quota
  suspects  which request paths make memory grow (MB per 1000 requests, with confidence)
  copy      copy the history between databases (SQLite and PostgreSQL, either way), resumable

Query commands read ./drainwatch.db (--db FILE or postgres://…), or ask a running daemon: --url https://… --token API_TOKEN
(or DRAINWATCH_URL and DRAINWATCH_TOKEN). Run 'drainwatch <command> -h' for a command's flags.
`

// command is one subcommand: it parses its own flags and runs.
type command interface {
	Run(ctx context.Context, args []string) error
}

// exitError carries an exit status (2 for usage errors).
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }

func main() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(defaultMemoryLimit)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv))
}

// Main runs drainwatch with args, and returns the exit status. Tests call it
// with their own streams and environment.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	env := newEnv(stdin, stdout, stderr, getenv)
	var cmd command
	switch args[0] {
	case "serve":
		cmd = &serveCommand{env: env}
	case "import":
		cmd = &importCommand{env: env}
	case "mem":
		cmd = &memCommand{env: env}
	case "errors":
		cmd = &errorsCommand{env: env}
	case "alerts":
		cmd = &alertsCommand{env: env}
	case "analyze":
		cmd = &analyzeCommand{env: env}
	case "dynos":
		cmd = &dynosCommand{env: env}
	case "suspects":
		cmd = &suspectsCommand{env: env}
	case "requests":
		cmd = &requestsCommand{env: env}
	case "copy":
		cmd = &copyCommand{env: env}
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	case "bench", "bench-sink":
		fmt.Fprintf(stderr, "drainwatch: unknown command %q: the load test is its own command, drainwatch-bench (go run ./cmd/drainwatch-bench)\n", args[0])
		return 2
	default:
		fmt.Fprintf(stderr, "drainwatch: unknown command %q (see 'drainwatch help')\n", args[0])
		return 2
	}
	err := cmd.Run(ctx, args[1:])
	if err == nil {
		return 0
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.code == 2 {
			fmt.Fprintf(stderr, "drainwatch %s: %v (see 'drainwatch %s -h')\n", args[0], ee.err, args[0])
		} else {
			fmt.Fprintf(stderr, "drainwatch %s: %v\n", args[0], ee.err)
		}
		return ee.code
	}
	fmt.Fprintf(stderr, "drainwatch %s: %v\n", args[0], err)
	return 1
}

// env is what commands get from the outside world.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
}

func newEnv(stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) *env {
	return &env{stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv}
}

// envOr returns the environment variable key, or def when it is empty.
func (e *env) envOr(key, def string) string {
	if v := e.getenv(key); v != "" {
		return v
	}
	return def
}

// parseFlags parses args with fs, printing usage for -h and turning bad flags
// into a one-line usage error (exit 2).
func parseFlags(fs *flag.FlagSet, args []string, stdout io.Writer, summary string) error {
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprintf(stdout, "Usage: drainwatch %s\n\nFlags:\n", summary)
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		return flag.ErrHelp
	}
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	return nil
}

func usageErr(format string, args ...any) error {
	return &exitError{code: 2, err: fmt.Errorf(format, args...)}
}
