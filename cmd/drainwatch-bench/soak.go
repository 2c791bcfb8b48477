package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/drainwatch/drainwatch/analyze"
)

// soakWarmup is the start of a bench run left out of drainwatch's leak test
// of itself: the heap, the page cache and the rollup cache fill up first.
const soakWarmup = time.Minute

// soakMinJudged is the shortest stretch after the warm-up that the leak test
// judges (with one RSS sample a second, 240 samples or more).
const soakMinJudged = 4 * time.Minute

// rssReport prints the daemon's RSS through a run, a column a tenth of the
// run, and, for runs long enough, the verdict of drainwatch's own leak test
// (analyze.Trend, what judges a dyno's memory) on the RSS sampled each
// second after the warm-up: a daemon that leaked would say so about itself.
func rssReport(pts []analyze.Point) string {
	if len(pts) < 10 {
		return ""
	}
	var b strings.Builder
	start := pts[0].T
	b.WriteString("  RSS through the run:")
	for i := 0; i < 10; i++ {
		p := pts[(i+1)*(len(pts)-1)/10]
		fmt.Fprintf(&b, " %s %.1f", p.T.Sub(start).Round(time.Second), p.MB)
	}
	b.WriteString(" (MB)\n")
	var judged []analyze.Point
	for _, p := range pts {
		if p.T.Sub(start) >= soakWarmup {
			judged = append(judged, p)
		}
	}
	if len(judged) < 2 || judged[len(judged)-1].T.Sub(judged[0].T) < soakMinJudged {
		fmt.Fprintf(&b, "  leak test of its own RSS: needs --duration %s or more\n", soakWarmup+soakMinJudged+10*time.Second)
		return b.String()
	}
	r := analyze.Trend(judged, analyze.Options{MinDuration: soakMinJudged})
	fmt.Fprintf(&b, "  leak test of its own RSS after the first %s: %s, %s (%+.1f MB/h; first half %+.1f, second half %+.1f; p %.2g; %d samples over %s)\n",
		soakWarmup, r.Verdict, r.Reason, r.Slope, r.EarlySlope, r.LateSlope, r.P, r.Points, r.Duration.Round(time.Second))
	return b.String()
}
