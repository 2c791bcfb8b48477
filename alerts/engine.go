package alerts

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/drainwatch/drainwatch/analyze"
)

// Rule names an alert rule.
type Rule string

// The rules.
const (
	RuleOverQuota Rule = "over-quota" // R14/R15, mem=…(>100%), or memory_total > memory_quota
	RuleNearQuota Rule = "near-quota" // above NearShare of the quota for NearFor
	RuleLeak      Rule = "leak"       // rising at rest without levelling off
)

// State is an alert's state.
type State string

// Alert states.
const (
	Firing   State = "firing"
	Resolved State = "resolved"
)

// Alert is one notification: an episode of (app, dyno, rule) starting or
// ending. Times are log times.
type Alert struct {
	ID       int64     `json:"id,omitempty"`
	App      string    `json:"app"`
	Dyno     string    `json:"dyno"`
	Boot     string    `json:"boot,omitempty"`
	Rule     Rule      `json:"rule"`
	State    State     `json:"state"`
	Time     time.Time `json:"time"`
	Started  time.Time `json:"started"` // when the episode began
	Summary  string    `json:"summary"`
	Reason   string    `json:"reason,omitempty"` // what resolved it, or the analysis' words
	MemoryMB float64   `json:"memory_mb,omitempty"`
	QuotaMB  float64   `json:"quota_mb,omitempty"`
	Percent  float64   `json:"percent_of_quota,omitempty"`
	Codes    []string  `json:"codes,omitempty"` // R14, R15, mem seen in the episode
	// Spark is the dyno's recent memory (MB), oldest first, for a sparkline.
	Spark  []float64       `json:"spark,omitempty"`
	Report *analyze.Report `json:"analysis,omitempty"` // leak alerts
	// Suspects are the request paths confidently going with memory growth
	// when a leak or over-quota alert fired (see analyze.Suspects).
	Suspects []analyze.Suspect `json:"suspects,omitempty"`
}

// Config tunes the rules. Zero values take the defaults.
type Config struct {
	NearShare    float64       // near-quota line, as a share of the quota; default 0.9
	NearFor      time.Duration // how long above it before a warning; default 10m
	ResolveAfter time.Duration // how long back under the line before resolving; default 10m
	Cooldown     time.Duration // after a resolve, the same episode may not fire again for this long; default 30m
	Window       time.Duration // leak analysis window; default 3h
	EvalEvery    time.Duration // leak analysis cadence (log time); default 5m
	StaleAfter   time.Duration // a dyno silent this long ages out; default 30m
	Analysis     analyze.BootOptions
}

func (c Config) withDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if c.NearShare <= 0 || c.NearShare >= 1 {
		c.NearShare = 0.9
	}
	def(&c.NearFor, 10*time.Minute)
	def(&c.ResolveAfter, 10*time.Minute)
	def(&c.Cooldown, 30*time.Minute)
	def(&c.Window, 3*time.Hour)
	def(&c.EvalEvery, 5*time.Minute)
	def(&c.StaleAfter, 30*time.Minute)
	return c
}

// maxSeriesPoints bounds one dyno's series in memory.
const maxSeriesPoints = 4096

type dynoKey struct{ app, dyno string }

type episodeKey struct {
	app, dyno string
	rule      Rule
}

type dynoState struct {
	boot       string
	points     []analyze.Point // current boot, within the window
	requests   []analyze.Count // per minute, within the window
	quota      float64
	lastMB     float64
	lastSeen   time.Time
	nearSince  time.Time // above the near line since; zero when below
	overBelow  time.Time // back at or under the quota since; zero when over
	nearBelow  time.Time // back under the near line since
	lastEval   time.Time
	lastReport *analyze.Report
}

// Engine applies the rules to observations in log-time order. It is
// deterministic: the same observations give the same alerts, live or
// replayed. It is not safe for concurrent use.
type Engine struct {
	cfg          Config
	dynos        map[dynoKey]*dynoState
	open         map[episodeKey]*Alert
	lastResolved map[episodeKey]time.Time
	now          time.Time // latest log time seen
	lastSweep    time.Time
}

// NewEngine returns an engine with no history.
func NewEngine(cfg Config) *Engine {
	return &Engine{
		cfg:          cfg.withDefaults(),
		dynos:        map[dynoKey]*dynoState{},
		open:         map[episodeKey]*Alert{},
		lastResolved: map[episodeKey]time.Time{},
	}
}

// Restore marks episodes that were firing before a restart as open, so they
// are neither fired again nor forgotten.
func (e *Engine) Restore(open []Alert) {
	for _, a := range open {
		if a.State != Firing {
			continue
		}
		a := a
		e.open[episodeKey{a.App, a.Dyno, a.Rule}] = &a
	}
}

// Open returns the episodes currently firing, in a stable order.
func (e *Engine) Open() []Alert {
	var out []Alert
	for _, a := range e.open {
		out = append(out, *a)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].App != out[j].App {
			return out[i].App < out[j].App
		}
		if out[i].Dyno != out[j].Dyno {
			return out[i].Dyno < out[j].Dyno
		}
		return out[i].Rule < out[j].Rule
	})
	return out
}

// Observe applies one observation and returns the alerts it fires or
// resolves, in order.
func (e *Engine) Observe(o Observation) []Alert {
	if o.Dyno == "" {
		return nil
	}
	var out []Alert
	if o.Time.After(e.now) {
		e.now = o.Time
	}
	k := dynoKey{o.App, o.Dyno}
	d := e.dynos[k]
	if d == nil {
		d = &dynoState{}
		e.dynos[k] = d
	}
	if o.Time.After(d.lastSeen) {
		d.lastSeen = o.Time
	}
	switch o.Kind {
	case ObsMemory:
		out = e.memory(k, d, o, out)
	case ObsMemError:
		out = e.memError(k, d, o, out)
	case ObsRequests:
		e.requests(d, o)
	case ObsRestart:
		out = e.restart(k, d, o.Time, "dyno restarted ("+o.Code+")", out)
	}
	if e.now.Sub(e.lastSweep) >= time.Minute {
		e.lastSweep = e.now
		out = e.sweep(out)
	}
	return out
}

func (e *Engine) memory(k dynoKey, d *dynoState, o Observation, out []Alert) []Alert {
	if d.boot != "" && o.Boot != "" && o.Boot != d.boot {
		out = e.restart(k, d, o.Time, "dyno restarted (new boot)", out)
	}
	if o.Boot != "" {
		d.boot = o.Boot
	}
	if o.QuotaMB > 0 {
		d.quota = o.QuotaMB
	}
	d.lastMB = o.TotalMB
	d.points = append(d.points, analyze.Point{T: o.Time, MB: o.TotalMB})
	cut := o.Time.Add(-e.cfg.Window)
	i := 0
	for i < len(d.points) && d.points[i].T.Before(cut) {
		i++
	}
	// Bounded even when timestamps repeat (the same lines sent twice):
	// a window holds a sample every 20 s, so this is far more than enough.
	if over := len(d.points) - i - maxSeriesPoints; over > 0 {
		i += over
	}
	if i > 0 {
		d.points = append(d.points[:0], d.points[i:]...)
	}

	if d.quota > 0 {
		share := o.TotalMB / d.quota
		// Over the quota.
		over := episodeKey{k.app, k.dyno, RuleOverQuota}
		if share > 1 {
			d.overBelow = time.Time{}
			out = e.fire(over, d, o.Time, out, func(a *Alert) {
				a.Summary = fmt.Sprintf("%s of %s is over its memory quota: %.0f MB of %.0f MB (%.0f%%)", k.dyno, k.app, o.TotalMB, d.quota, share*100)
			})
		} else if e.open[over] != nil {
			if d.overBelow.IsZero() {
				d.overBelow = o.Time
			}
			if o.Time.Sub(d.overBelow) >= e.cfg.ResolveAfter {
				out = e.resolve(over, o.Time, fmt.Sprintf("back under the quota for %s", FormatDuration(e.cfg.ResolveAfter)), d, out)
			}
		}
		// Near the quota, for a while.
		near := episodeKey{k.app, k.dyno, RuleNearQuota}
		if share >= e.cfg.NearShare {
			d.nearBelow = time.Time{}
			if d.nearSince.IsZero() {
				d.nearSince = o.Time
			}
			if o.Time.Sub(d.nearSince) >= e.cfg.NearFor && e.open[over] == nil {
				out = e.fire(near, d, o.Time, out, func(a *Alert) {
					a.Started = d.nearSince
					a.Summary = fmt.Sprintf("%s of %s has been above %.0f%% of its memory quota for %s: %.0f MB of %.0f MB (%.0f%%)",
						k.dyno, k.app, e.cfg.NearShare*100, FormatDuration(o.Time.Sub(d.nearSince)), o.TotalMB, d.quota, share*100)
				})
			}
		} else {
			d.nearSince = time.Time{}
			if e.open[near] != nil {
				if d.nearBelow.IsZero() {
					d.nearBelow = o.Time
				}
				if o.Time.Sub(d.nearBelow) >= e.cfg.ResolveAfter {
					out = e.resolve(near, o.Time, fmt.Sprintf("back under %.0f%% of the quota for %s", e.cfg.NearShare*100, FormatDuration(e.cfg.ResolveAfter)), d, out)
				}
			}
		}
	}

	if o.Time.Sub(d.lastEval) >= e.cfg.EvalEvery {
		d.lastEval = o.Time
		out = e.evaluateLeak(k, d, o.Time, out)
	}
	return out
}

func (e *Engine) evaluateLeak(k dynoKey, d *dynoState, now time.Time, out []Alert) []Alert {
	r := analyze.AnalyzeBoot(analyze.Boot{App: k.app, Dyno: k.dyno, Boot: d.boot, Points: d.points, QuotaMB: d.quota, Requests: d.requests}, e.cfg.Analysis)
	d.lastReport = &r
	key := episodeKey{k.app, k.dyno, RuleLeak}
	switch r.Verdict {
	case analyze.Leak:
		out = e.fire(key, d, now, out, func(a *Alert) {
			a.Report = &r
			a.Reason = r.Reason
			rest := fmt.Sprintf("at rest %.0f%% of the last %s", r.RestShare*100, FormatDuration(r.To.Sub(r.From)))
			if r.WholeWindow {
				rest = fmt.Sprintf("over the last %s (no router traffic by design: judged on the whole window)", FormatDuration(r.To.Sub(r.From)))
			}
			a.Summary = fmt.Sprintf("%s of %s is leaking memory: +%.1f MB/h, %s", k.dyno, k.app, r.SlopeMBPerHour, rest)
			if r.HoursToQuota != nil {
				a.Summary += fmt.Sprintf("; reaches its %.0f MB quota in about %s", r.QuotaMB, fmtHours(*r.HoursToQuota))
			}
		})
	case analyze.Stable, analyze.Bloat:
		if e.open[key] != nil {
			out = e.resolve(key, now, "memory "+map[analyze.Verdict]string{analyze.Stable: "is stable", analyze.Bloat: "levelled off (bloat, not a leak)"}[r.Verdict], d, out)
		}
	}
	return out
}

// FormatDuration prints a duration to the minute: "3h0m", "45m", "0m".
func FormatDuration(d time.Duration) string {
	d = d.Round(time.Minute)
	if d < time.Minute {
		return "0m"
	}
	return strings.TrimSuffix(d.String(), "0s")
}

func fmtHours(h float64) string {
	switch {
	case h <= 0:
		return "no time: already over"
	case h < 1:
		return fmt.Sprintf("%.0f min", h*60)
	case h < 48:
		return fmt.Sprintf("%.1f h", h)
	default:
		return fmt.Sprintf("%.0f days", h/24)
	}
}

func (e *Engine) memError(k dynoKey, d *dynoState, o Observation, out []Alert) []Alert {
	key := episodeKey{k.app, k.dyno, RuleOverQuota}
	d.overBelow = time.Time{}
	if a := e.open[key]; a != nil {
		if !contains(a.Codes, o.Code) {
			a.Codes = append(a.Codes, o.Code)
		}
		return out
	}
	return e.fire(key, d, o.Time, out, func(a *Alert) {
		a.Codes = []string{o.Code}
		switch o.Code {
		case "R15":
			a.Summary = fmt.Sprintf("%s of %s: Error R15 (Memory quota vastly exceeded) — Heroku kills the process", k.dyno, k.app)
		case "R14":
			a.Summary = fmt.Sprintf("%s of %s: Error R14 (Memory quota exceeded) — the dyno is swapping", k.dyno, k.app)
		default:
			a.Summary = fmt.Sprintf("%s of %s is over its memory quota: %.0f MB (%.1f%%)", k.dyno, k.app, o.TotalMB, o.Percent)
		}
		if o.Percent > 0 {
			a.MemoryMB, a.Percent = o.TotalMB, o.Percent
		}
	})
}

func (e *Engine) requests(d *dynoState, o Observation) {
	t := o.Time.Truncate(time.Minute)
	// Usually the newest minute; search from the end.
	for i := len(d.requests) - 1; i >= 0; i-- {
		if d.requests[i].T.Equal(t) {
			d.requests[i].N += o.N
			return
		}
		if d.requests[i].T.Before(t) {
			d.requests = append(d.requests, analyze.Count{})
			copy(d.requests[i+2:], d.requests[i+1:])
			d.requests[i+1] = analyze.Count{T: t, N: o.N}
			e.trimRequests(d)
			return
		}
	}
	d.requests = append([]analyze.Count{{T: t, N: o.N}}, d.requests...)
	e.trimRequests(d)
}

func (e *Engine) trimRequests(d *dynoState) {
	if len(d.requests) == 0 {
		return
	}
	cut := d.requests[len(d.requests)-1].T.Add(-e.cfg.Window - time.Minute)
	i := 0
	for i < len(d.requests) && d.requests[i].T.Before(cut) {
		i++
	}
	if i > 0 {
		d.requests = append(d.requests[:0], d.requests[i:]...)
	}
}

// restart resolves the quota episodes (a restart frees the memory) and starts
// a new series. A leak episode stays open: a restart's drop is not a fix.
func (e *Engine) restart(k dynoKey, d *dynoState, t time.Time, why string, out []Alert) []Alert {
	for _, r := range []Rule{RuleOverQuota, RuleNearQuota} {
		if key := (episodeKey{k.app, k.dyno, r}); e.open[key] != nil {
			out = e.resolve(key, t, why, d, out)
		}
	}
	d.points = d.points[:0]
	d.nearSince, d.overBelow, d.nearBelow = time.Time{}, time.Time{}, time.Time{}
	d.lastEval = t
	return out
}

// sweep ages out dynos that stopped reporting, resolving their episodes.
func (e *Engine) sweep(out []Alert) []Alert {
	var stale []dynoKey
	for k, d := range e.dynos {
		if e.now.Sub(d.lastSeen) > e.cfg.StaleAfter {
			stale = append(stale, k)
		}
	}
	sort.Slice(stale, func(i, j int) bool {
		if stale[i].app != stale[j].app {
			return stale[i].app < stale[j].app
		}
		return stale[i].dyno < stale[j].dyno
	})
	for _, k := range stale {
		d := e.dynos[k]
		for _, r := range []Rule{RuleOverQuota, RuleNearQuota, RuleLeak} {
			if key := (episodeKey{k.app, k.dyno, r}); e.open[key] != nil {
				out = e.resolve(key, e.now, fmt.Sprintf("dyno stopped reporting (silent for over %s)", FormatDuration(e.cfg.StaleAfter)), d, out)
			}
		}
		delete(e.dynos, k)
	}
	// Cooldowns that have run out are forgotten, or one-off dynos (run.N,
	// a new name each time) would grow this map forever.
	for k, t := range e.lastResolved {
		if e.now.Sub(t) > e.cfg.Cooldown {
			delete(e.lastResolved, k)
		}
	}
	return out
}

func (e *Engine) fire(key episodeKey, d *dynoState, t time.Time, out []Alert, fill func(*Alert)) []Alert {
	if e.open[key] != nil {
		return out
	}
	if last, ok := e.lastResolved[key]; ok && t.Sub(last) < e.cfg.Cooldown {
		return out
	}
	a := &Alert{App: key.app, Dyno: key.dyno, Boot: d.boot, Rule: key.rule, State: Firing, Time: t, Started: t,
		MemoryMB: d.lastMB, QuotaMB: d.quota, Spark: spark(d.points, 24)}
	if d.quota > 0 && d.lastMB > 0 {
		a.Percent = 100 * d.lastMB / d.quota
	}
	fill(a)
	e.open[key] = a
	return append(out, *a)
}

func (e *Engine) resolve(key episodeKey, t time.Time, why string, d *dynoState, out []Alert) []Alert {
	a := e.open[key]
	delete(e.open, key)
	e.lastResolved[key] = t
	r := Alert{App: a.App, Dyno: a.Dyno, Boot: d.boot, Rule: a.Rule, State: Resolved, Time: t, Started: a.Started,
		Reason: why, MemoryMB: d.lastMB, QuotaMB: d.quota, Codes: a.Codes, Spark: spark(d.points, 24), Report: d.lastReport}
	if d.quota > 0 && d.lastMB > 0 {
		r.Percent = 100 * d.lastMB / d.quota
	}
	if a.Rule != RuleLeak {
		r.Report = nil
	}
	r.Summary = fmt.Sprintf("Resolved: %s of %s, %s, after %s: %s", a.Dyno, a.App, a.Rule, FormatDuration(t.Sub(a.Started)), why)
	return append(out, r)
}

// spark returns at most n values evenly through pts.
func spark(pts []analyze.Point, n int) []float64 {
	if len(pts) == 0 {
		return nil
	}
	if len(pts) <= n {
		out := make([]float64, len(pts))
		for i, p := range pts {
			out[i] = p.MB
		}
		return out
	}
	out := make([]float64, n)
	for i := range out {
		out[i] = pts[i*(len(pts)-1)/(n-1)].MB
	}
	return out
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
