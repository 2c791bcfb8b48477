package analyze

import (
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
	Points          []Point // memory_total, sorted by time
	QuotaMB         float64 // the latest quota seen; 0 when unknown
	Requests        []Count // requests served, per minute, sorted; only web dynos get any
}

// BootOptions tune AnalyzeBoot. Zero values take the defaults.
type BootOptions struct {
	Trend Options
	// RestRPM: a minute with fewer requests than this is "at rest". Default 3.
	RestRPM float64
	// MinRestShare: a web dyno's rise is judged a leak only if it was at
	// rest at least this share of the time. Default 0.8.
	MinRestShare float64
}

func (o BootOptions) withDefaults() BootOptions {
	if o.RestRPM <= 0 {
		o.RestRPM = 3
	}
	if o.MinRestShare <= 0 {
		o.MinRestShare = 0.8
	}
	return o
}

// Report is the analysis of one boot, as `drainwatch analyze` prints it and
// alerts quote it.
type Report struct {
	App            string        `json:"app"`
	Dyno           string        `json:"dyno"`
	Boot           string        `json:"boot"`
	Verdict        Verdict       `json:"verdict"`
	Reason         string        `json:"reason"`
	SlopeMBPerHour float64       `json:"slope_mb_per_hour"`
	EarlySlope     float64       `json:"early_slope_mb_per_hour"`
	LateSlope      float64       `json:"late_slope_mb_per_hour"`
	P              float64       `json:"p_value"`
	Points         int           `json:"samples"`
	From           time.Time     `json:"from"`
	To             time.Time     `json:"to"`
	WholeWindow    bool          `json:"whole_window"`  // no router traffic by design (worker, clock…): judged on all of it
	RestShare      float64       `json:"at_rest_share"` // share of minutes at rest; 1 for WholeWindow dynos
	RestDuration   time.Duration `json:"-"`
	RestMinutes    float64       `json:"at_rest_minutes"`
	LastMB         float64       `json:"last_mb"`
	PeakMB         float64       `json:"peak_mb"`
	QuotaMB        float64       `json:"quota_mb,omitempty"`
	PeakShare      float64       `json:"peak_share_of_quota,omitempty"`
	// HoursToQuota is how long until the quota at the current slope; absent
	// when memory is not rising or the quota is unknown; 0 when over it.
	HoursToQuota *float64 `json:"hours_to_quota,omitempty"`
}

// GetsRouterTraffic reports whether a dyno serves HTTP (web.N): only those
// have an "at rest" signal.
func GetsRouterTraffic(dyno string) bool { return strings.HasPrefix(dyno, "web.") }

// AnalyzeBoot judges one boot: a leak (rising at rest without levelling
// off), bloat (rose, then levelled off), stable, or not enough to say.
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
	r.WholeWindow = !GetsRouterTraffic(b.Dyno)
	if r.WholeWindow {
		r.RestShare = 1
		r.RestDuration = r.To.Sub(r.From)
	} else {
		r.RestShare, r.RestDuration = restShare(b.Requests, r.From, r.To, o.RestRPM)
	}
	r.RestMinutes = r.RestDuration.Minutes()

	t := Trend(b.Points, o.Trend)
	r.Verdict, r.Reason = t.Verdict, t.Reason
	r.SlopeMBPerHour, r.EarlySlope, r.LateSlope, r.P = t.Slope, t.EarlySlope, t.LateSlope, t.P
	if r.Verdict == Leak && !r.WholeWindow && r.RestShare < o.MinRestShare {
		r.Verdict = InsufficientData
		r.Reason = "memory rises, but the dyno was busy most of the time: growth under load is not judged a leak"
	}
	if r.WholeWindow && r.Verdict == Leak {
		r.Reason += " (no router traffic by design: judged on the whole window)"
	}
	if b.QuotaMB > 0 && r.SlopeMBPerHour > 0 && (r.Verdict == Leak || r.Verdict == InsufficientData) {
		h := max((b.QuotaMB-r.LastMB)/r.SlopeMBPerHour, 0)
		r.HoursToQuota = &h
	}
	return r
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
