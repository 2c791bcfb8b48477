package main

import (
	"context"
	"flag"
	"fmt"
	"strconv"

	"github.com/drainwatch/drainwatch/alerts"
	"github.com/drainwatch/drainwatch/analyze"
	"github.com/drainwatch/drainwatch/api"
)

type alertsCommand struct{ env *env }

func (c *alertsCommand) Run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("alerts", flag.ContinueOnError)
	var q queryFlags
	q.register(fs, c.env)
	f, err := q.parse(fs, args, "alerts [--app A] [--dyno D] [--since 7d] [--json]\n\nEvery alert fired or resolved (by log time), oldest first.")
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
		"Per dyno boot: leak (rises without levelling off, at rest), bloat (rose, then levelled off), stable,\n"+
		"or insufficient-data; the slope, the share of time at rest, the peak against the quota, and when the\n"+
		"quota is reached at that rate. Settings: LEAK_MIN_SLOPE, LEAK_REST_RPM, LEAK_MIN_REST_SHARE (see serve -h).")
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
			return fmt.Sprintf("%s\t%s\t%s\t%s\t%.1f\t%s\t%+.1f\t%s\t%s\t%s\t%s", r.App, r.Dyno, shortBoot(r.Boot), q.fmtTime(r.From),
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
		"restart) against the requests per path template it served, across all dynos of the app, and ranks paths\n"+
		"by MB per 1000 requests. Only paths confidently positive in a bootstrap, of at least 0.5 MB/1k, that\n"+
		"explain at least 10% of the growth are named. Needs runtime metrics and router lines; minute-level\n"+
		"request counts are kept 2 days.")
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
	fmt.Fprintf(c.env.stdout, "fit: %d windows, %d paths, growth %.0f MB, drift at rest %+.1f MB/h, R² %.2f\n",
		r.Windows, r.Paths, r.GrowthMB, r.DriftMBPerH, r.R2)
	if len(r.Suspects) == 0 {
		return nil
	}
	tw := newTable(c.env.stdout)
	fmt.Fprintln(tw, "\nPATH\tMB/1K REQUESTS\tREQUESTS\tGROWTH MB\tCONFIDENCE\tNAMED")
	for i, s := range r.Suspects {
		if i >= 10 {
			break
		}
		named := ""
		if s.Named {
			named = "yes"
		}
		fmt.Fprintf(tw, "%s\t%.2f\t%d\t%.0f\t%.0f%%\t%s\n", clip(s.Path, 60), s.MBPer1k, s.Requests, s.GrowthMB, s.Confidence*100, named)
	}
	return tw.Flush()
}
