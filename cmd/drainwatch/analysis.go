package main

import (
	"context"
	"flag"
	"fmt"
	"strconv"

	"github.com/drainwatch/drainwatch/alerts"
	"github.com/drainwatch/drainwatch/analyze"
	"github.com/drainwatch/drainwatch/api"
	"github.com/drainwatch/drainwatch/store"
)

type alertsCommand struct{ env *env }

func (c *alertsCommand) Run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("alerts", flag.ContinueOnError)
	var q queryFlags
	q.register(fs, c.env)
	f, err := q.parse(fs, args, "alerts [--app A] [--dyno D] [--since 7d] [--json]\n\nEvery alert fired or resolved (by log time), oldest first; --limit N keeps the newest N.")
	if err != nil {
		return err
	}
	return show(ctx, &q, func(qr api.Querier) ([]alerts.Alert, error) { return qr.Alerts(ctx, f) },
		"no alerts match", "TIME\tAPP\tDYNO\tRULE\tSTATE\tSUMMARY",
		func(a alerts.Alert) string {
			return fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%s", q.fmtTime(a.Time), a.App, a.Dyno, a.Rule, a.State, clip(a.Summary, 140))
		})
}

type analyzeCommand struct{ env *env }

func (c *analyzeCommand) Run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("analyze", flag.ContinueOnError)
	var q queryFlags
	q.register(fs, c.env)
	f, err := q.parse(fs, args, "analyze [--app A] [--dyno D] [--since 24h] [--json]\n\n"+
		"Per dyno boot: leak (keeps rising at rest, past the warm-up), bloat (rose, then levelled off), stable,\n"+
		"grows-with-traffic (a busy dyno whose memory rises with the requests it serves), rising (not yet\n"+
		"explained), or insufficient-data (under an hour or 30 samples); the slope, the share of time at rest,\n"+
		"the peak against the quota, and when the quota is reached at that rate. --json adds the quiet stretches\n"+
		"used, the warm-up, and the traffic fit. Settings: LEAK_MIN_SLOPE, LEAK_REST_RPM, LEAK_MIN_REST,\n"+
		"LEAK_WARM_UP (see serve -h).")
	if err != nil {
		return err
	}
	return show(ctx, &q, func(qr api.Querier) ([]analyze.Report, error) { return qr.Analyze(ctx, f) },
		"no memory samples match (is log-runtime-metrics enabled?)",
		"APP\tDYNO\tBOOT\tFROM\tHOURS\tVERDICT\tMB/H\tAT REST\tPEAK/QUOTA\tQUOTA IN\tWHY",
		func(r analyze.Report) string {
			rest := fmt.Sprintf("%.0f%%", r.RestShare*100)
			if r.WholeWindow {
				rest = "n/a"
			}
			peak := fmt.Sprintf("%.0f MB", r.PeakMB)
			if r.QuotaMB > 0 {
				peak = fmt.Sprintf("%.0f/%.0f MB (%.0f%%)", r.PeakMB, r.QuotaMB, r.PeakShare*100)
			}
			toQuota := "-"
			if r.HoursToQuota != nil {
				toQuota = strconv.FormatFloat(*r.HoursToQuota, 'f', 1, 64) + " h"
			}
			return fmt.Sprintf("%s\t%s\t%s\t%s\t%.1f\t%s\t%+.1f\t%s\t%s\t%s\t%s", r.App, r.Dyno, store.ShortBoot(r.Boot), q.fmtTime(r.From),
				r.To.Sub(r.From).Hours(), r.Verdict, r.SlopeMBPerHour, rest, peak, toQuota, r.Reason)
		})
}

type suspectsCommand struct{ env *env }

func (c *suspectsCommand) Run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("suspects", flag.ContinueOnError)
	var q queryFlags
	q.register(fs, c.env)
	f, err := q.parse(fs, args, "suspects --app A [--since 24h] [--json]\n\n"+
		"Which requests make memory grow: fits each dyno's memory change over 5-minute windows (never across a\n"+
		"restart, never in the 20 minutes after a boot) against the requests it served, across all dynos of the\n"+
		"app, and adds the paths whose requests cost clearly more than the average request (t >= 4). A path is\n"+
		"named only if that holds without any one dyno (or in each half of the time, with one dyno), on every\n"+
		"dyno that served a tenth of it, at 0.5 MB/1k or more, explaining 10% of the growth, with a fit that\n"+
		"explains 5% of the variance and no falling drift. --json shows every test. Needs runtime metrics and\n"+
		"router lines; minute-level request counts are kept 2 days.")
	if err != nil {
		return err
	}
	if q.app == "" {
		return usageErr("--app is required: paths of different apps are not comparable")
	}
	qr, done, err := q.open(ctx)
	if err != nil {
		return err
	}
	defer done()
	r, err := qr.Suspects(ctx, f)
	if err != nil {
		return err
	}
	if q.json {
		return writeJSON(c.env.stdout, r)
	}
	fmt.Fprintf(c.env.stdout, "%s: %s\n", r.Verdict, r.Reason)
	fmt.Fprintf(c.env.stdout, "fit: %d windows of %s on %d dynos, %d paths, growth %.0f MB, drift with no requests %+.1f MB/h, an average request %.2f MB/1k, R² %.2f\n",
		r.Windows, r.Window, r.Dynos, r.Paths, r.GrowthMB, r.DriftMBPerH, r.PerRequestMBPer1k, r.R2)
	if len(r.Suspects) == 0 {
		return nil
	}
	tw := newTable(c.env.stdout)
	fmt.Fprintln(tw, "\nPATH\tMB/1K REQUESTS\tREQUESTS\tGROWTH MB\tT\tDYNOS\tNAMED\tWHY")
	for i, s := range r.Suspects {
		if i >= 10 {
			break
		}
		named := ""
		if s.Named {
			named = "yes"
		}
		fmt.Fprintf(tw, "%s\t%.2f\t%d\t%.0f\t%.1f\t%d\t%s\t%s\n", clip(s.Path, 60), s.MBPer1k, s.Requests, s.GrowthMB, s.T, s.Dynos, named, clip(s.Why, 100))
	}
	return tw.Flush()
}
