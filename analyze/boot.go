package analyze

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"
)

// Count is how many requests a dyno served in the minute starting at T.
type Count struct {
	T time.Time
	N int
}

// Boot is the history of one dyno boot (one value of the uuid in
// dyno=heroku.<app>.<uuid>): a restart starts a new Boot.
type Boot struct {
	App, Dyno, Boot string
	// Started is when the boot began (its first memory sample), when that
	// was seen; zero: it began before the samples (the first of Points
	// stands for it). The warm-up after it is not judged as a leak.
	Started time.Time
	// BusyWarm, for a web dyno, is when the boot had served its first
	// WarmUpBusy minutes of traffic (zero: worked out from Requests).
	BusyWarm time.Time
	Points   []Point // memory_total, sorted by time
	QuotaMB  float64 // the latest quota seen; 0 when unknown
	Requests []Count // requests served, per minute, sorted; only web dynos get any
	// PeerFloorMB, for a boot seen starting, is the highest floor the app's
	// warmed-up dynos of the same process type hold at the end of its
	// samples (PeerFloor); 0 when there are none or it is not known.
	PeerFloorMB float64
}

// BootOptions tune AnalyzeBoot. Zero values take the defaults.
type BootOptions struct {
	Trend Options
	// RestRPM: a minute with fewer requests than this is "at rest". Default 3.
	RestRPM float64
	// Settle: a sample is at rest only when the minutes this long before it
	// were at rest too (memory takes a while to settle after a burst).
	// Default 5m.
	Settle time.Duration
	// WarmUp: memory rising this soon after a boot is the warm-up (caches,
	// pools, workers filling up), never judged a leak. Default 20m.
	WarmUp time.Duration
	// WarmUpBusy: a web dyno's warm-up lasts, beyond WarmUp, until it has
	// served this many busy minutes (RestRPM requests or more): caches fill
	// with traffic, so a boot that came up at night keeps warming with the
	// trickle of requests it gets. Default 10m.
	WarmUpBusy time.Duration
	// MinRest: a leak at rest is judged on at least this much quiet time
	// (after the warm-up); less, and a web dyno is judged as a busy one.
	// Default: Trend.MinDuration (1h).
	MinRest time.Duration
	// MinStretch: quiet stretches shorter than this are not used. Default 15m.
	MinStretch time.Duration
	// LeakAlpha is the significance a rise at rest needs to be called a
	// leak (a stratified Mann–Kendall test). Default 0.001: the rule is
	// evaluated every few minutes for weeks, and a false alarm costs more
	// than a late one.
	LeakAlpha float64
	// MinRiseMB: a leak must have raised memory's floor (its low tenth,
	// which a GC sawtooth keeps returning to) by at least this much. Default 10.
	MinRiseMB float64
	// Now: judge whether a leak is going on now (the alert engine), not
	// whether the boot leaked at rest in its window (`analyze`): the dyno
	// must then be at rest, in a quiet stretch of 30 minutes or more whose
	// floor rises too.
	Now bool
}

func (o BootOptions) withDefaults() BootOptions {
	o.Trend = o.Trend.withDefaults()
	if o.RestRPM <= 0 {
		o.RestRPM = 3
	}
	if o.Settle <= 0 {
		o.Settle = 5 * time.Minute
	}
	if o.WarmUp <= 0 {
		o.WarmUp = 20 * time.Minute
	}
	if o.WarmUpBusy <= 0 {
		o.WarmUpBusy = 10 * time.Minute
	}
	if o.MinRest <= 0 {
		o.MinRest = o.Trend.MinDuration
	}
	if o.MinStretch <= 0 {
		o.MinStretch = 15 * time.Minute
	}
	if o.LeakAlpha <= 0 {
		o.LeakAlpha = 0.001
	}
	if o.MinRiseMB <= 0 {
		o.MinRiseMB = 10
	}
	return o
}

// Report is the analysis of one boot, as `drainwatch analyze` prints it and
// alerts quote it.
type Report struct {
	App     string  `json:"app"`
	Dyno    string  `json:"dyno"`
	Boot    string  `json:"boot"`
	Verdict Verdict `json:"verdict"`
	Reason  string  `json:"reason"`
	// SlopeMBPerHour is the rate the verdict is about: at rest for a leak,
	// over the whole window otherwise.
	SlopeMBPerHour float64   `json:"slope_mb_per_hour"`
	EarlySlope     float64   `json:"early_slope_mb_per_hour"`
	LateSlope      float64   `json:"late_slope_mb_per_hour"`
	P              float64   `json:"p_value"`
	Points         int       `json:"samples"`
	From           time.Time `json:"from"`
	To             time.Time `json:"to"`
	WarmUpUntil    time.Time `json:"warm_up_until"` // samples before this were the boot's warm-up
	WholeWindow    bool      `json:"whole_window"`  // no router traffic by design (worker, clock…): judged on all of it
	// AtRestNow: the dyno is at rest at the end of the window (its latest
	// sample in a quiet stretch), or has no router traffic by design.
	AtRestNow    bool          `json:"at_rest_now"`
	RestShare    float64       `json:"at_rest_share"` // share of minutes at rest; 1 for WholeWindow dynos
	RestDuration time.Duration `json:"-"`
	RestMinutes  float64       `json:"at_rest_minutes"`
	LastMB       float64       `json:"last_mb"`
	PeakMB       float64       `json:"peak_mb"`
	QuotaMB      float64       `json:"quota_mb,omitempty"`
	PeakShare    float64       `json:"peak_share_of_quota,omitempty"`
	// HoursToQuota is how long until the quota at the current slope; absent
	// when memory is not rising or the quota is unknown; 0 when over it.
	HoursToQuota *float64 `json:"hours_to_quota,omitempty"`
	// AtRest is the judgment on the quiet stretches, when there were enough.
	AtRest *RestReport `json:"at_rest,omitempty"`
	// Traffic is memory against requests served, for a dyno that keeps
	// rising while busy.
	Traffic *TrafficReport `json:"traffic,omitempty"`
}

// Stretch is one run of at-rest samples used for the leak test.
type Stretch struct {
	From           time.Time `json:"from"`
	To             time.Time `json:"to"`
	Samples        int       `json:"samples"`
	SlopeMBPerHour float64   `json:"slope_mb_per_hour"`
}

// RestReport says how memory moved while the dyno was at rest. Only growth
// within quiet stretches counts: a rise during a busy stretch (load, warm-up)
// moves the level between stretches and is not growth at rest.
type RestReport struct {
	Stretches      []Stretch `json:"stretches"`
	Minutes        float64   `json:"minutes"`
	SlopeMBPerHour float64   `json:"slope_mb_per_hour"` // median slope between the segments' floors, within stretches
	EarlySlope     float64   `json:"early_slope_mb_per_hour"`
	LateSlope      float64   `json:"late_slope_mb_per_hour"`
	P              float64   `json:"p_value"`          // stratified Mann–Kendall, one-sided "rising"
	FloorRiseMB    float64   `json:"floor_rise_mb"`    // rise of each stretch's low tenth, second half over first, summed
	ExpectedRiseMB float64   `json:"expected_rise_mb"` // what the slope predicts for that
	SegmentMinutes float64   `json:"segment_minutes"`  // floors are taken over segments this long (a GC cycle, at least 15 min)
	Segments       int       `json:"segments"`
	RiseMB         float64   `json:"rise_mb"` // the stretches' floors, last quarter over first, summed
	// GCAllowanceMB is how much of RiseMB GC cycles alone could climb: a
	// drop's worth, and one more for each busy gap between stretches in
	// which memory dropped (none when every stretch's quarters hold whole
	// cycles). A leak's rise must be larger.
	GCAllowanceMB float64 `json:"gc_allowance_mb"`
	GCDropMB      float64 `json:"gc_drop_mb"` // the largest sharp drop of the boot (a GC), or the one assumed while none was seen
	// BusyNow (judging now, BootOptions.Now): the rise at rest would be a
	// leak, but the dyno is busy now, its latest quiet stretch over.
	BusyNow bool   `json:"busy_now,omitempty"`
	Leak    bool   `json:"leak"`
	Why     string `json:"why"`
}

// GetsRouterTraffic reports whether a dyno serves HTTP (web.N): only those
// have an "at rest" signal.
func GetsRouterTraffic(dyno string) bool { return strings.HasPrefix(dyno, "web.") }

// AnalyzeBoot judges one boot. A leak is memory that keeps rising while the
// dyno is at rest (a worker: over its whole window), past the warm-up after
// the boot. A dyno that rises only while busy is judged on its requests:
// grows with traffic, levelled off (bloat), or rising, not yet explained.
func AnalyzeBoot(b Boot, o BootOptions) Report {
	o = o.withDefaults()
	r := Report{App: b.App, Dyno: b.Dyno, Boot: b.Boot, QuotaMB: b.QuotaMB, Points: len(b.Points)}
	if len(b.Points) == 0 {
		r.Verdict, r.Reason = InsufficientData, "no memory samples"
		return r
	}
	r.From, r.To = b.Points[0].T, b.Points[len(b.Points)-1].T
	r.LastMB = b.Points[len(b.Points)-1].MB
	for _, p := range b.Points {
		r.PeakMB = max(r.PeakMB, p.MB)
	}
	if b.QuotaMB > 0 {
		r.PeakShare = r.PeakMB / b.QuotaMB
	}
	// A boot up before its first sample (most are: dynos run for hours)
	// has warmed up already; one seen starting warms up from then.
	started := b.Started
	r.WarmUpUntil = r.From
	if !started.IsZero() {
		r.WarmUpUntil = started.Add(o.WarmUp)
	}
	// The traffic rule needs to know when the boot began.
	if GetsRouterTraffic(b.Dyno) && len(b.Requests) > 0 && !b.Started.IsZero() {
		busy := b.BusyWarm
		if busy.IsZero() {
			busy = BusyWarmUp(b.Requests, started, o.RestRPM, o.WarmUpBusy)
		}
		if busy.IsZero() {
			busy = far // not yet busy since the boot: still warming up
		}
		r.WarmUpUntil = maxTime(r.WarmUpUntil, busy)
	}
	r.WholeWindow = !GetsRouterTraffic(b.Dyno)
	if r.WholeWindow {
		r.RestShare = 1
		r.RestDuration = r.To.Sub(r.From)
	} else {
		r.RestShare, r.RestDuration = restShare(b.Requests, r.From, r.To, o.RestRPM)
	}
	r.RestMinutes = r.RestDuration.Minutes()

	whole := Trend(b.Points, o.Trend)
	r.SlopeMBPerHour, r.EarlySlope, r.LateSlope, r.P = whole.Slope, whole.EarlySlope, whole.LateSlope, whole.P
	if whole.Verdict == InsufficientData {
		r.Verdict, r.Reason = InsufficientData, whole.Reason
		return r
	}

	stretches := quietStretches(b, r.WarmUpUntil, o)
	if n := len(stretches); r.WholeWindow || n > 0 && r.To.Sub(stretches[n-1][len(stretches[n-1])-1].T) <= o.Settle+5*time.Minute {
		r.AtRestNow = true
	}
	var quiet time.Duration
	for _, s := range stretches {
		quiet += s[len(s)-1].T.Sub(s[0].T)
	}
	// A garbage collector's sawtooth rises steadily for a whole cycle, and
	// at rest a cycle can last an hour: a rise at rest must outgrow the
	// largest drop the boot has shown. One that has shown none is assumed
	// to have a cycle of unseenGCDrop until its samples span long enough
	// for a cycle to have ended in them.
	gcDrop := typicalDrop(b.Points)
	if gcDrop == 0 && r.To.Sub(r.From) < o.MinRest+40*time.Minute {
		gcDrop = unseenGCDrop
	}
	if quiet >= o.MinRest {
		rest := judgeRest(stretches, b.Points, gcDrop, o)
		// A leak at rest is one still going on: the dyno is at rest now,
		// and memory rose in its latest quiet stretch too.
		if last := stretches[len(stretches)-1]; rest.Leak && o.Now {
			lastEnd := last[len(last)-1].T
			lastRise := floorRise(last)
			switch {
			case !r.AtRestNow:
				rest.Leak, rest.BusyNow, rest.Why = false, true, "busy now: a leak at rest is judged while the dyno is at rest"
			case lastEnd.Sub(last[0].T) < 30*time.Minute:
				rest.Leak, rest.Why = false, "at rest for under 30 minutes now"
			case !(lastRise >= 0.5*rest.SlopeMBPerHour*lastEnd.Sub(last[0].T).Hours()/2):
				rest.Leak, rest.Why = false, fmt.Sprintf("flat in the latest quiet stretch (its floor rose %.0f MB)", lastRise)
			}
		}
		// A boot that restarted beside warmed-up peers and is still below
		// the level they hold is climbing back to it: the warm-up of the
		// requests it serves, however slowly it comes at night. A leak
		// in the code would raise it past them.
		if rest.Leak && !b.Started.IsZero() && b.PeerFloorMB > 0 {
			if now := floorSince(b.Points, r.To.Add(-peerWindow)); now < b.PeerFloorMB {
				rest.Leak, rest.Why = false, fmt.Sprintf("still warming up: its floor (%.0f MB) is below the %.0f MB its warmed-up peers hold", now, b.PeerFloorMB)
			}
		}
		r.AtRest = &rest
		if rest.Leak {
			r.Verdict = Leak
			r.SlopeMBPerHour, r.EarlySlope, r.LateSlope, r.P = rest.SlopeMBPerHour, rest.EarlySlope, rest.LateSlope, rest.P
			r.Reason = fmt.Sprintf("keeps rising at rest: %+.1f MB/h over %s of quiet time in %d stretch(es), past the warm-up", rest.SlopeMBPerHour, fmtMinutes(rest.Minutes), len(rest.Stretches))
			if r.WholeWindow {
				r.Reason = fmt.Sprintf("keeps rising: %+.1f MB/h over %s past the warm-up (no router traffic by design: judged on the whole window)", rest.SlopeMBPerHour, fmtMinutes(rest.Minutes))
			}
			r.HoursToQuota = hoursToQuota(b.QuotaMB, r.LastMB, rest.SlopeMBPerHour)
			return r
		}
	}

	switch whole.Verdict {
	case Stable:
		r.Verdict, r.Reason = Stable, "no significant rise"
		if rise, ok := riseFromStart(b.Points, gcDrop); ok {
			r.Verdict, r.Reason = Bloat, fmt.Sprintf("rose %.0f MB in its first samples, then levelled off (bloat, not a leak)", rise)
		}
	case Bloat:
		r.Verdict, r.Reason = Bloat, "rose, then levelled off (bloat, not a leak)"
	default: // keeps rising over the whole window, but not at rest
		switch {
		case r.AtRest != nil:
			r.Reason = "flat at rest (" + r.AtRest.Why + "); rises while busy"
		case r.WholeWindow:
			r.Reason = "rises, but not steadily enough past the warm-up to call it a leak"
		case r.WarmUpUntil.After(r.To):
			r.Reason = fmt.Sprintf("still warming up: not yet busy for %s since its boot (caches fill with traffic)", fmtMinutes(o.WarmUpBusy.Minutes()))
		default:
			r.Reason = fmt.Sprintf("busy most of the time (%s at rest, %s needed to judge a leak)", fmtMinutes(quiet.Minutes()), fmtMinutes(o.MinRest.Minutes()))
		}
		r.Verdict = Rising
		if !r.WholeWindow {
			tr := trafficFit(b, o)
			r.Traffic = &tr
			if tr.Grows {
				r.Verdict = GrowsWithTraffic
				r.Reason = fmt.Sprintf("grows with traffic: %.2f MB per 1000 requests (%s)", tr.MBPer1k, r.Reason)
			}
		}
		if r.Verdict == Rising {
			r.Reason = "rising, not yet explained: " + r.Reason
		}
		r.HoursToQuota = hoursToQuota(b.QuotaMB, r.LastMB, r.SlopeMBPerHour)
	}
	return r
}

// peerWindow is how far back a dyno's floor is taken when comparing it with
// its peers': long enough to hold a GC cycle at rest.
const peerWindow = 30 * time.Minute

// floorSince is the low tenth of the samples from t on (a GC sawtooth keeps
// returning to it); +Inf when there are fewer than three.
func floorSince(pts []Point, t time.Time) float64 {
	i := sort.Search(len(pts), func(i int) bool { return !pts[i].T.Before(t) })
	if len(pts)-i < 3 {
		return math.Inf(1)
	}
	vals := make([]float64, 0, len(pts)-i)
	for _, p := range pts[i:] {
		vals = append(vals, p.MB)
	}
	return quantile(vals, 0.1)
}

// ProcessType is the part of a dyno's name before its number: "web" of
// "web.3".
func ProcessType(dyno string) string {
	if i := strings.LastIndexByte(dyno, '.'); i > 0 {
		return dyno[:i]
	}
	return dyno
}

// PeerFloor returns the highest floor, in the peerWindow up to at, among
// peers that are warmed up beside a boot of dyno that began at started:
// other dynos of its process type whose boots began an hour or more before
// it (or before anything was seen). 0 when there are none.
func PeerFloor(dyno string, started, at time.Time, peers []Boot) float64 {
	if started.IsZero() {
		return 0
	}
	pt := ProcessType(dyno)
	best := 0.0
	for _, p := range peers {
		if p.Dyno == dyno || ProcessType(p.Dyno) != pt {
			continue
		}
		if !p.Started.IsZero() && started.Sub(p.Started) < time.Hour {
			continue
		}
		if len(p.Points) == 0 || p.Points[len(p.Points)-1].T.Before(at.Add(-peerWindow)) {
			continue
		}
		i := sort.Search(len(p.Points), func(i int) bool { return p.Points[i].T.After(at) })
		if f := floorSince(p.Points[:i], at.Add(-peerWindow)); !math.IsInf(f, 1) {
			best = max(best, f)
		}
	}
	return best
}

// riseFromStart reports how much a series rose from its first ten minutes
// to where it stays: a warm-up fast enough to end in the first minutes of a
// long series leaves it flat to Trend, yet the dyno did grow, then level
// off. It counts only when the rise outgrows the boot's GC drops (and
// 30 MB): a sawtooth is not a warm-up.
func riseFromStart(pts []Point, gcDrop float64) (float64, bool) {
	var first, late []float64
	for _, p := range pts {
		if p.T.Sub(pts[0].T) > 10*time.Minute {
			break
		}
		first = append(first, p.MB)
	}
	for _, p := range pts[len(pts)/2:] {
		late = append(late, p.MB)
	}
	if len(first) < 3 || len(late) < 3 {
		return 0, false
	}
	rise := quantile(late, 0.1) - median(first)
	return rise, rise >= max(30, 2*gcDrop)
}

// NewDynoAfter: a dyno whose first sample comes this long after the app's
// first is a new dyno (a scale-up, a one-off), and that sample is its boot's
// start; earlier, it had been up before anything was seen.
const NewDynoAfter = 5 * time.Minute

// far stands for "not yet": a warm-up that has not ended.
var far = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)

// BusyWarmUp returns the end of the minute in which the boot that started
// at started had served busy minutes (rpm requests or more) for d, or zero.
func BusyWarmUp(reqs []Count, started time.Time, rpm float64, d time.Duration) time.Time {
	need := int(d / time.Minute)
	n := 0
	for _, c := range reqs {
		if c.T.Before(started.Truncate(time.Minute)) || float64(c.N) < rpm {
			continue
		}
		if n++; n >= need {
			return c.T.Add(time.Minute)
		}
	}
	return time.Time{}
}

func hoursToQuota(quota, last, slope float64) *float64 {
	if quota <= 0 || slope <= 0 {
		return nil
	}
	h := max((quota-last)/slope, 0)
	return &h
}

func fmtMinutes(m float64) string {
	if m < 90 {
		return fmt.Sprintf("%.0f min", m)
	}
	return fmt.Sprintf("%.1f h", m/60)
}

// quietStretches returns the runs of samples after warmEnd taken while the
// dyno was at rest: fewer than RestRPM requests a minute on average over
// the Settle before the sample (so a trickle of requests is rest, and
// memory has had time to settle after a burst), with no gap in the samples
// longer than Settle unless the dyno was at rest through it (up to
// maxRestGap). Runs shorter than MinStretch are left out. A dyno
// without router traffic is at rest all the time.
func quietStretches(b Boot, warmEnd time.Time, o BootOptions) [][]Point {
	perMinute := map[int64]int{}
	if GetsRouterTraffic(b.Dyno) {
		for _, c := range b.Requests {
			perMinute[c.T.Unix()/60] += c.N
		}
	}
	settle := int64(o.Settle / time.Minute)
	quiet := func(t time.Time) bool {
		m := t.Unix() / 60
		n := 0
		for k := m - settle; k <= m; k++ {
			n += perMinute[k]
		}
		return float64(n) < o.RestRPM*float64(settle+1)
	}
	var out [][]Point
	var cur []Point
	flush := func() {
		if len(cur) > 1 && cur[len(cur)-1].T.Sub(cur[0].T) >= o.MinStretch {
			out = append(out, cur)
		}
		cur = nil
	}
	// A gap between samples (some lost on the way, a late runtime-metrics
	// tick) stays in the stretch when the dyno was at rest through it, up
	// to maxRestGap: a longer one may be the drain's outage, router lines
	// lost too.
	restThrough := func(from, to time.Time) bool {
		if to.Sub(from) <= o.Settle {
			return true
		}
		if to.Sub(from) > maxRestGap {
			return false
		}
		for t := from.Add(time.Minute); t.Before(to); t = t.Add(time.Minute) {
			if !quiet(t) {
				return false
			}
		}
		return true
	}
	for _, p := range b.Points {
		if p.T.Before(warmEnd) {
			continue
		}
		if !quiet(p.T) || (len(cur) > 0 && !restThrough(cur[len(cur)-1].T, p.T)) {
			flush()
			if !quiet(p.T) {
				continue
			}
		}
		cur = append(cur, p)
	}
	flush()
	return out
}

// maxRestGap is the longest gap between two samples a quiet stretch spans.
const maxRestGap = 15 * time.Minute

// judgeRest decides whether memory rises at rest. Every statistic is taken
// within stretches and pooled, so a level change between two quiet
// stretches (a busy hour's bloat) is not growth at rest. A leak needs all
// of: a robust slope above the minimum, a significant monotonic rise, a
// floor that rises with it (a GC sawtooth keeps falling back to its floor),
// and a later half rising about as fast as the earlier one.
func judgeRest(stretches [][]Point, all []Point, gcDrop float64, o BootOptions) RestReport {
	r := RestReport{GCDropMB: gcDrop}
	total := 0
	for _, s := range stretches {
		total += len(s)
	}
	// Thin each stretch so the pooled pairs stay about maxPoints² / 2.
	thinned := make([][]Point, len(stretches))
	for i, s := range stretches {
		n := len(s)
		if total > maxPoints {
			n = max(2, len(s)*maxPoints/total)
		}
		thinned[i] = thinTo(s, n)
		d := s[len(s)-1].T.Sub(s[0].T)
		r.Minutes += d.Minutes()
		r.Stretches = append(r.Stretches, Stretch{From: s[0].T, To: s[len(s)-1].T, Samples: len(s), SlopeMBPerHour: TheilSen(thinned[i])})
	}
	// The slope is that of the floor a GC sawtooth keeps falling back to
	// (pairs of raw samples within one tooth all rise, and would add the
	// sawtooth's climb to the leak's): each stretch is cut into segments at
	// least as long as one tooth, each segment's low tenth is its floor, and
	// the slope is the median slope between floors of the same stretch.
	seg, drops := segmentLength(stretches)
	var floors [][]Point
	for _, s := range stretches {
		if f := segmentFloors(s, seg); len(f) >= 2 {
			floors = append(floors, f)
			r.Segments += len(f)
		}
	}
	r.SegmentMinutes = seg.Minutes()
	r.SlopeMBPerHour = pooledTheilSen(floors)
	r.P = stratifiedMannKendall(thinned)
	// The floor rise: the low tenth of each stretch's second half over its
	// first, against what the slope predicts.
	measured, climbing := 0, 0
	for _, s := range stretches {
		rise := floorRise(s)
		if math.IsNaN(rise) {
			continue
		}
		r.FloorRiseMB += rise
		r.ExpectedRiseMB += r.SlopeMBPerHour * s[len(s)-1].T.Sub(s[0].T).Hours() / 2
		// The rise over the stretch: its last quarter's floor over its first.
		q := s[len(s)-1].T.Sub(s[0].T) / 4
		var head, tail []float64
		for _, p := range s {
			switch {
			case p.T.Before(s[0].T.Add(q)):
				head = append(head, p.MB)
			case p.T.After(s[len(s)-1].T.Add(-q)):
				tail = append(tail, p.MB)
			}
		}
		if len(head) >= 3 && len(tail) >= 3 {
			r.RiseMB += quantile(tail, 0.1) - quantile(head, 0.1)
			measured++
			// Unless its quarters each hold a whole cycle, a GC
			// sawtooth can add its climb to the stretch's rise.
			if drops < 2 || q < seg*5/4 {
				climbing++
			}
		}
	}
	// A sawtooth climbs at most one drop's worth before it drops: across
	// stretches too, unless it dropped in the busy time between them and
	// climbed again. So GC cycles alone could raise the summed rise by a
	// drop for the first stretch, and one more for each gap with a drop.
	r.GCAllowanceMB = gcDrop * float64(min(climbing, 1+gapsWithDrops(stretches, all)))
	if measured == 0 {
		r.GCAllowanceMB = gcDrop // no stretch long enough to measure a rise
	}
	early, late := splitByQuietTime(thinned)
	r.EarlySlope, r.LateSlope = pooledTheilSen(early), pooledTheilSen(late)

	to := o.Trend
	switch {
	case len(floors) == 0:
		r.Why = fmt.Sprintf("no quiet stretch yet spans two GC cycles (%s each)", fmtMinutes(r.SegmentMinutes))
	case r.SlopeMBPerHour < to.MinSlope:
		r.Why = fmt.Sprintf("%+.1f MB/h at rest, under the %.0f MB/h that counts", r.SlopeMBPerHour, to.MinSlope)
	case r.P > o.LeakAlpha:
		r.Why = fmt.Sprintf("no significant rise at rest (p=%.2g)", r.P)
	case r.FloorRiseMB < o.MinRiseMB || r.FloorRiseMB < 0.5*r.ExpectedRiseMB:
		r.Why = fmt.Sprintf("the floor rose %.0f MB where a leak would raise it %.0f MB: memory keeps falling back (GC)", r.FloorRiseMB, max(r.ExpectedRiseMB, o.MinRiseMB))
	case r.RiseMB < r.GCAllowanceMB:
		r.Why = fmt.Sprintf("a rise of %.0f MB at rest, no more than garbage-collection cycles of this dyno would climb (%.0f MB: its drops are about %.0f MB)", r.RiseMB, r.GCAllowanceMB, gcDrop)
	case r.EarlySlope <= 0:
		// A level that fell, then jumped: not memory that keeps rising.
		r.Why = fmt.Sprintf("not rising at rest in its earlier half (%+.1f then %+.1f MB/h)", r.EarlySlope, r.LateSlope)
	case r.LateSlope < to.LevelRatio*r.EarlySlope:
		r.Why = fmt.Sprintf("levelling off at rest (%+.1f then %+.1f MB/h)", r.EarlySlope, r.LateSlope)
	default:
		r.Leak = true
		r.Why = "keeps rising at rest"
	}
	return r
}

// unseenGCDrop is the garbage-collection cycle assumed of a boot that has
// shown none yet: a rise at rest must outgrow it until its
// samples span long enough (MinRest + 40 minutes) for a cycle to have
// ended in them.
const unseenGCDrop = 40.0

// gapsWithDrops counts the gaps between consecutive stretches in which all
// (the boot's samples, busy ones too) fell sharply, as typicalDrop says.
func gapsWithDrops(stretches [][]Point, all []Point) int {
	typical := typicalStep(all)
	n := 0
	for k := 1; k < len(stretches); k++ {
		from, to := stretches[k-1][len(stretches[k-1])-1].T, stretches[k][0].T
		i := sort.Search(len(all), func(i int) bool { return !all[i].T.Before(from) })
		for ; i+1 < len(all) && !all[i+1].T.After(to); i++ {
			if sharpDrop(all[i].MB-all[i+1].MB, typical) {
				n++
				break
			}
		}
	}
	return n
}

// typicalStep is the median size of the steps between consecutive samples
// within each group.
func typicalStep(groups ...[]Point) float64 {
	var steps []float64
	for _, g := range groups {
		for i := 1; i < len(g); i++ {
			steps = append(steps, math.Abs(g[i].MB-g[i-1].MB))
		}
	}
	return median(steps)
}

// sharpDrop reports whether a fall of d MB between samples is a sharp drop
// (a garbage collection): more than 5 MB and four typical steps.
func sharpDrop(d, typical float64) bool { return d > 5 && d > 4*typical }

// typicalDrop is the size of this boot's largest sharp drop (more than
// four times the typical step between samples, and 5 MB, over one or two
// samples), or 0 when there is none.
func typicalDrop(pts []Point) float64 {
	typical := typicalStep(pts)
	largest := 0.0
	for i := 1; i < len(pts); i++ {
		d := pts[i-1].MB - pts[i].MB
		if i >= 2 {
			d = max(d, pts[i-2].MB-pts[i].MB) // a drop split over two samples
		}
		if sharpDrop(d, typical) {
			largest = max(largest, d)
		}
	}
	return largest
}

// segmentLength is how long a segment must be to hold a whole GC cycle: the
// quiet time over the number of sharp drops in it (a drop of more than
// four times the typical step, and 5 MB), within 15 minutes to an hour; and
// how many drops there were.
func segmentLength(stretches [][]Point) (time.Duration, int) {
	typical := typicalStep(stretches...)
	var total time.Duration
	drops := 0
	for _, s := range stretches {
		total += s[len(s)-1].T.Sub(s[0].T)
		for i := 1; i < len(s); i++ {
			if sharpDrop(s[i-1].MB-s[i].MB, typical) {
				drops++
			}
		}
	}
	seg := 15 * time.Minute
	if drops > 0 {
		seg = max(seg, total/time.Duration(drops))
	}
	return min(seg, time.Hour), drops
}

// segmentFloors cuts pts into segments of d from the first sample (the last
// one kept when at least half as long) and returns each one's low tenth,
// at its middle.
func segmentFloors(pts []Point, d time.Duration) []Point {
	var out []Point
	end := pts[len(pts)-1].T
	for start := pts[0].T; end.Sub(start) >= d/2; start = start.Add(d) {
		var vals []float64
		for _, p := range pts {
			if !p.T.Before(start) && p.T.Before(start.Add(d)) {
				vals = append(vals, p.MB)
			}
		}
		if len(vals) >= 3 {
			mid := start.Add(min(d, end.Sub(start)) / 2)
			out = append(out, Point{T: mid, MB: quantile(vals, 0.1)})
		}
	}
	return out
}

// floorRise is the low tenth of the second half of s over its first's
// (NaN when a half has under 3 samples).
func floorRise(s []Point) float64 {
	mid := s[0].T.Add(s[len(s)-1].T.Sub(s[0].T) / 2)
	var first, second []float64
	for _, p := range s {
		if p.T.Before(mid) {
			first = append(first, p.MB)
		} else {
			second = append(second, p.MB)
		}
	}
	if len(first) < 3 || len(second) < 3 {
		return math.NaN()
	}
	return quantile(second, 0.1) - quantile(first, 0.1)
}

// thinTo returns at most n points evenly through pts.
func thinTo(pts []Point, n int) []Point {
	if len(pts) <= n {
		return pts
	}
	out := make([]Point, n)
	for i := range out {
		out[i] = pts[i*(len(pts)-1)/(n-1)]
	}
	return out
}

// pooledTheilSen is the median slope (MB/h) over pairs of points within the
// same group.
func pooledTheilSen(groups [][]Point) float64 {
	var slopes []float64
	for _, g := range groups {
		for i := 0; i < len(g); i++ {
			for j := i + 1; j < len(g); j++ {
				if dt := g[j].T.Sub(g[i].T).Hours(); dt > 0 {
					slopes = append(slopes, (g[j].MB-g[i].MB)/dt)
				}
			}
		}
	}
	return median(slopes)
}

// stratifiedMannKendall is the one-sided p-value of "rising" from
// Mann–Kendall statistics summed over groups (the seasonal Kendall test):
// only order within a group counts.
func stratifiedMannKendall(groups [][]Point) float64 {
	var s, v float64
	for _, g := range groups {
		gs, gv := mkStat(g)
		s += gs
		v += gv
	}
	if v <= 0 {
		return 1
	}
	var z float64
	switch {
	case s > 0:
		z = (s - 1) / math.Sqrt(v)
	case s < 0:
		z = (s + 1) / math.Sqrt(v)
	}
	return 0.5 * math.Erfc(z/math.Sqrt2)
}

// splitByQuietTime cuts the stretches at half of their total duration.
func splitByQuietTime(groups [][]Point) (early, late [][]Point) {
	var total time.Duration
	for _, g := range groups {
		total += g[len(g)-1].T.Sub(g[0].T)
	}
	half := total / 2
	var seen time.Duration
	for _, g := range groups {
		d := g[len(g)-1].T.Sub(g[0].T)
		switch {
		case seen+d <= half:
			early = append(early, g)
		case seen >= half:
			late = append(late, g)
		default:
			cut := g[0].T.Add(half - seen)
			i := sort.Search(len(g), func(i int) bool { return g[i].T.After(cut) })
			if i > 1 {
				early = append(early, g[:i])
			}
			if len(g)-i > 1 {
				late = append(late, g[i:])
			}
		}
		seen += d
	}
	return early, late
}

// quantile returns the q-quantile of vals (reordering them).
func quantile(vals []float64, q float64) float64 {
	sort.Float64s(vals)
	pos := q * float64(len(vals)-1)
	i := int(pos)
	if i+1 >= len(vals) {
		return vals[len(vals)-1]
	}
	f := pos - float64(i)
	return vals[i]*(1-f) + vals[i+1]*f
}

// restShare returns the share of minutes in [from, to] with fewer than rpm
// requests, and their total duration.
func restShare(reqs []Count, from, to time.Time, rpm float64) (float64, time.Duration) {
	start := from.Truncate(time.Minute)
	end := to.Truncate(time.Minute)
	minutes := int(end.Sub(start)/time.Minute) + 1
	busy := 0
	for _, c := range reqs {
		if c.T.Before(start) || c.T.After(end) {
			continue
		}
		if float64(c.N) >= rpm {
			busy++
		}
	}
	rest := max(minutes-busy, 0)
	return float64(rest) / float64(minutes), time.Duration(rest) * time.Minute
}
