// Package alerts watches the stream of parsed lines for dynos in memory
// trouble — over or near their quota, or leaking at rest — and turns each
// episode into one "firing" and one "resolved" alert, stored and delivered
// (Slack is one adapter, in alerts/slack) without ever slowing ingest.
package alerts

import (
	"bytes"
	"slices"
	"time"

	"github.com/drainwatch/drainwatch/parser"
)

// ObsKind says what an Observation reports.
type ObsKind uint8

// Observation kinds.
const (
	ObsMemory   ObsKind = iota + 1 // a runtime-metrics memory sample
	ObsMemError                    // R14, R15, or "Process running mem=…(N%)" over 100%
	ObsRequests                    // N router requests served in the minute starting at Time
	ObsRestart                     // the dyno restarted, crashed, cycled or stopped
	ObsDrops                       // a drain dropped N lines (L10, L12, L13); Dyno empty
)

// Observation is the part of a log line the rules need, copied out of the
// request body (which is reused once the request is answered).
type Observation struct {
	Kind    ObsKind
	App     string
	Dyno    string
	Boot    string
	Time    time.Time
	TotalMB float64 // ObsMemory; ObsMemError from a mem= line
	SwapMB  float64 // ObsMemory
	QuotaMB float64 // ObsMemory; 0 when the line has none
	Code    string  // ObsMemError: R14, R15, mem; ObsRestart: what happened; ObsDrops: L10, L12, L13
	Percent float64 // ObsMemError from a mem= line
	N       int     // ObsRequests; ObsDrops: lines dropped
}

// FromEvents picks the observations out of one batch of events. Router lines
// are counted per dyno and minute, so a busy batch gives a few observations,
// not one per request. Strings are copied.
func FromEvents(app string, events []parser.Event, out []Observation) []Observation {
	// Router lines by dyno and minute: a batch has a few of those, so a
	// list searched in place, with the dyno copied once per entry; a map
	// keyed by the dyno would copy it for every line (BenchmarkFromEvents
	// measures the difference).
	type minuteCount struct {
		dyno []byte // a view into the events
		min  int64  // Unix seconds of the minute
		n    int
	}
	var counts []minuteCount
	start := len(out)
	for i := range events {
		ev := &events[i]
		switch ev.Kind {
		case parser.KindMemory:
			m := &ev.Memory
			quota := m.QuotaMB
			if quota < 0 {
				quota = 0
			}
			out = append(out, Observation{Kind: ObsMemory, App: app, Dyno: string(ev.Dyno), Boot: string(m.Boot),
				Time: ev.Time, TotalMB: m.TotalMB, SwapMB: max(m.SwapMB, 0), QuotaMB: quota})
		case parser.KindError:
			switch code := string(ev.Error.Code); code {
			case "R14", "R15":
				out = append(out, Observation{Kind: ObsMemError, App: app, Dyno: string(ev.Dyno), Time: ev.Time, Code: code})
			case "L10", "L12", "L13": // L11 is a `heroku logs --tail` session's, not a drain's
				if ev.Error.Dropped > 0 {
					out = append(out, Observation{Kind: ObsDrops, App: app, Time: ev.Time, Code: code, N: int(ev.Error.Dropped)})
				}
			}
		case parser.KindMemReport:
			if ev.MemReport.Percent > 100 {
				out = append(out, Observation{Kind: ObsMemError, App: app, Dyno: string(ev.Dyno), Time: ev.Time, Code: "mem",
					TotalMB: ev.MemReport.MB, Percent: ev.MemReport.Percent})
			}
		case parser.KindLifecycle:
			l := &ev.Lifecycle
			restart := l.Action == parser.ActionRestarting || l.Action == parser.ActionCycling ||
				(l.Action == parser.ActionState && (string(l.To) == "starting" || string(l.To) == "crashed" || string(l.To) == "down"))
			if restart && len(ev.Dyno) > 0 {
				out = append(out, Observation{Kind: ObsRestart, App: app, Dyno: string(ev.Dyno), Time: ev.Time, Code: l.Action.String()})
			}
		case parser.KindRouter:
			if len(ev.Dyno) == 0 {
				continue
			}
			sec := ev.Time.Unix()
			minute := sec - sec%60
			if sec < 0 && sec%60 != 0 {
				minute -= 60
			}
			found := false
			for i := len(counts) - 1; i >= 0; i-- {
				if c := &counts[i]; c.min == minute && bytes.Equal(c.dyno, ev.Dyno) {
					c.n++
					found = true
					break
				}
			}
			if !found {
				counts = append(counts, minuteCount{dyno: ev.Dyno, min: minute, n: 1})
			}
		}
	}
	if len(counts) == 0 {
		return out
	}
	// In time order, each minute's request counts at its start, before the
	// samples of that minute: the leak rule judges memory against the
	// requests served around it, and each app's clock advances with its
	// observations. A batch of a saved log (import) spans an hour: counts
	// put first would move the clock to its end before its first sample.
	rest := append([]Observation(nil), out[start:]...)
	out = out[:start]
	for _, c := range counts {
		out = append(out, Observation{Kind: ObsRequests, App: app, Dyno: string(c.dyno), Time: time.Unix(c.min, 0).UTC(), N: c.n})
	}
	out = append(out, rest...)
	slices.SortStableFunc(out[start:], func(a, b Observation) int { return a.Time.Compare(b.Time) })
	return out
}
