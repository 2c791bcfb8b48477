package main

import (
	"context"
	"flag"
	"fmt"
	"sort"
	"strings"

	"github.com/drainwatch/drainwatch/api"
	"github.com/drainwatch/drainwatch/store"
)

type dynosCommand struct{ env *env }

func (c *dynosCommand) Run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("dynos", flag.ContinueOnError)
	var q queryFlags
	q.register(fs, c.env)
	f, err := q.parse(fs, args, "dynos [--app A] [--since 7d] [--json]\n\nEach app's dynos and the boots seen (a new boot id is a restart), first and last seen, the last memory\nsample against the quota, and the R14/R15 count. Dynos with error lines but no memory sample (runtime metrics\noff) are listed too, marked \"no memory samples\".")
	if err != nil {
		return err
	}
	var silent []string // dynos with error lines and no memory sample
	err = show(ctx, &q, func(qr api.Querier) ([]store.DynoSummary, error) { return qr.Dynos(ctx, f) },
		"no dynos match (none with memory samples or error lines; is log-runtime-metrics enabled?)",
		"APP\tDYNO\tFIRST SEEN\tLAST SEEN\tLAST MB\tQUOTA MB\t% QUOTA\tBOOTS\tRESTARTS\tR14/R15",
		func(d store.DynoSummary) string {
			if d.NoMemorySamples {
				silent = append(silent, d.App+"/"+d.Dyno)
				return fmt.Sprintf("%s\t%s\t%s\t%s\t-\t-\t-\tno memory samples*\t-\t%d", d.App, d.Dyno, q.fmtTime(d.First), q.fmtTime(d.Last), d.Errors)
			}
			if d.Dyno == store.OtherDynos {
				return fmt.Sprintf("%s\t%s\t%s\t%s\t-\t-\t-\t%d more dynos, peak %s MB\t-\t%d", d.App, d.Dyno, q.fmtTime(d.First), q.fmtTime(d.Last),
					d.Dynos, fmtMB(d.PeakMB), d.Errors)
			}
			pct := "-"
			if d.LastMB != nil && d.LastQuotaMB != nil && *d.LastQuotaMB > 0 {
				pct = fmt.Sprintf("%.0f%%", 100**d.LastMB / *d.LastQuotaMB)
			}
			var boots []string
			for _, b := range d.Boots {
				boots = append(boots, store.ShortBoot(b.Boot))
			}
			return fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d", d.App, d.Dyno, q.fmtTime(d.First), q.fmtTime(d.Last),
				fmtMB(d.LastMB), fmtMB(d.LastQuotaMB), pct, strings.Join(boots, ","), d.Restarts, d.Errors)
		})
	if err == nil && len(silent) > 0 {
		fmt.Fprintf(c.env.stderr, "* %s: error lines but no memory samples in range (first and last seen are its errors): "+
			"are its runtime metrics off? heroku labs:enable log-runtime-metrics -a APP, then restart the dynos\n", strings.Join(silent, ", "))
	}
	return err
}

type requestsCommand struct{ env *env }

func (c *requestsCommand) Run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("requests", flag.ContinueOnError)
	var q queryFlags
	q.register(fs, c.env)
	by := fs.String("by", "path", "group by path (templated: /users/123 → /users/:id), status or dyno")
	top := fs.Int("top", api.DefaultLimits.Top, fmt.Sprintf("show the N largest groups, then one (other) row summing the rest (at most %d)", api.DefaultLimits.MaxGroups))
	f, err := q.parse(fs, args, "requests [--app A] [--since 1h] [--by path|status|dyno] [--top 20] [--json]\n\nFrom the router lines: requests, error rate (5xx or H-code), p50/p95/p99 of service and connect time,\nbytes, and the H-codes seen — what load-test reports show.")
	if err != nil {
		return err
	}
	if *by != "path" && *by != "status" && *by != "dyno" {
		return usageErr("--by %q: want path, status or dyno", *by)
	}
	if *top < 1 || *top > api.DefaultLimits.MaxGroups {
		return usageErr("--top must be 1 to %d", api.DefaultLimits.MaxGroups)
	}
	f.By, f.Top = *by, *top
	return show(ctx, &q, func(qr api.Querier) ([]store.RequestGroup, error) { return qr.Requests(ctx, f) },
		"no router lines match",
		strings.ToUpper(*by)+"\tREQUESTS\tERRORS\tSERVICE p50/p95/p99 ms\tCONNECT p50/p95/p99 ms\tBYTES\tCODES",
		func(g store.RequestGroup) string {
			var codes []string
			for code, n := range g.Codes {
				codes = append(codes, fmt.Sprintf("%s×%d", code, n))
			}
			sort.Strings(codes)
			return fmt.Sprintf("%s\t%d\t%.1f%%\t%.0f/%.0f/%.0f\t%.0f/%.0f/%.0f\t%s\t%s", clip(g.Key, 60), g.Count, g.ErrorRate*100,
				g.ServiceP50, g.ServiceP95, g.ServiceP99, g.ConnectP50, g.ConnectP95, g.ConnectP99, fmtBytes(g.Bytes), strings.Join(codes, " "))
		})
}

// fmtBytes prints a byte count in binary units (KiB, MiB, GiB: powers of
// 1024), labelled as such.
func fmtBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
