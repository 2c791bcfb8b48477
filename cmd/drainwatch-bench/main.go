// Command drainwatch-bench load-tests drainwatch: it runs a drainwatch daemon
// as a child process on 127.0.0.1, with a database of its own, posts drain
// bodies to it, and compares it with the machine's ceiling. It is tooling for
// whoever works on drainwatch; the product is cmd/drainwatch.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/drainwatch/drainwatch/store/postgres"
)

const usage = `drainwatch-bench: load tests of drainwatch, on loopback.

Usage:
  drainwatch-bench [flags]                 realistic drain bodies, against the machine's ceiling
  drainwatch-bench --adversarial [flags]   hostile loads, then every query (docs/bounds.md)
  drainwatch-bench --db postgres://… [--rounds N]   the load on SQLite and on PostgreSQL, alternated

Posts realistic logplex bodies (mostly router lines, runtime metrics, app lines) to a fresh daemon started
as a child process on 127.0.0.1 with its own database, then to a bare server that only reads bodies and
counts frames (the machine's ceiling), and prints acknowledged lines/s, ack latency, failures, the daemon's
peak and final RSS, its database size per million router lines, and its share of the ceiling. Each post to
the daemon carries the times of the moment it is sent, as a drain's batches do.

The daemon is the drainwatch binary given by --serve-bin; without it, the drainwatch beside this binary,
else one built (go build) from the drainwatch source tree around the working directory, else drainwatch
on PATH.

Flags:
`

// options are the flags of a run.
type options struct {
	duration    time.Duration
	conns       int
	bodyKB      int
	skipCeiling bool
	target      string
	password    string
	serveBin    string
	adversarial bool
	adv         advOptions
	pgURL       string // --db: SQLite and PostgreSQL alternated
	rounds      int
}

// usageError is a mistake in the command line (exit status 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }

func usageErr(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(Main(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv))
}

// Main runs drainwatch-bench with args and returns the exit status. Its
// first argument "sink" runs the ceiling's bare server instead (the bench
// starts it as a child process of its own).
func Main(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	var err error
	if len(args) > 0 && args[0] == "sink" {
		err = runSink(ctx, args[1:], stdout)
	} else {
		err = run(ctx, args, stdout, stderr, getenv)
	}
	var ue usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "drainwatch-bench: %v (see 'drainwatch-bench -h')\n", err)
		return 2
	default:
		fmt.Fprintf(stderr, "drainwatch-bench: %v\n", err)
		return 1
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	var o options
	fs := flag.NewFlagSet("drainwatch-bench", flag.ContinueOnError)
	fs.DurationVar(&o.duration, "duration", 20*time.Second, "how long each load runs")
	fs.IntVar(&o.conns, "conns", 4, "concurrent connections posting bodies")
	fs.IntVar(&o.bodyKB, "body-kb", 100, "size of each logplex body in KiB")
	fs.BoolVar(&o.skipCeiling, "skip-ceiling", false, "do not measure the bare-server ceiling")
	fs.StringVar(&o.target, "target", "", "load this running daemon (host:port) instead of starting one; its RSS is not measured")
	fs.StringVar(&o.password, "password", getenv("DRAIN_PASSWORD"), "with --target: the drain password (env DRAIN_PASSWORD)")
	fs.StringVar(&o.serveBin, "serve-bin", "", "the drainwatch binary to run as the daemon (A/B against another build; default: see above)")
	fs.BoolVar(&o.adversarial, "adversarial", false, "run hostile loads instead: idle connections, bodies of tiny frames, one-off dynos, random paths, more apps than MAX_APPS, then every query")
	fs.IntVar(&o.adv.paths, "paths", 1000000, "with --adversarial: router lines with random paths")
	fs.IntVar(&o.adv.dynos, "dynos", 100000, "with --adversarial: distinct one-off dynos")
	fs.IntVar(&o.adv.bodies, "bodies", 16, "with --adversarial: concurrent 1 MiB bodies of minimal frames")
	fs.StringVar(&o.adv.phases, "phases", strings.Join(advPhases, ","), "with --adversarial: which loads, in order")
	fs.StringVar(&o.adv.keep, "keep-db", "", "with --adversarial: leave the database at this path (to query it again)")
	fs.StringVar(&o.pgURL, "db", "", "also run the daemon on this PostgreSQL server (postgres://…; a fresh database is created for each run), alternated with SQLite, and compare")
	fs.IntVar(&o.rounds, "rounds", 1, "with --db: how many SQLite/PostgreSQL pairs of runs")
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, usage)
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			return err
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageErr("unexpected argument %q", fs.Arg(0))
	}
	if o.duration <= 0 || o.conns <= 0 || o.bodyKB <= 0 {
		return usageErr("--duration, --conns and --body-kb must be positive")
	}
	if o.pgURL != "" && !postgres.IsURL(o.pgURL) {
		return usageErr("--db %q is not a postgres:// URL", o.pgURL)
	}
	for _, p := range strings.Split(o.adv.phases, ",") {
		if !slices.Contains(advPhases, strings.TrimSpace(p)) {
			return usageErr("--phases: unknown phase %q (the phases: %s)", p, strings.Join(advPhases, ","))
		}
	}
	if o.target != "" && !o.adversarial {
		return runBench(ctx, stdout, o, "")
	}
	bin, cleanup, err := findDrainwatch(ctx, o.serveBin, stderr)
	if err != nil {
		return err
	}
	defer cleanup()
	if o.adversarial {
		return runAdversarial(ctx, stdout, bin, o.adv)
	}
	return runBench(ctx, stdout, o, bin)
}
