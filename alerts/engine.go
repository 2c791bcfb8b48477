package alerts

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unsafe"

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
	Worse    State = "worse" // an open episode got materially worse: a follow-up, not a new episode
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
	SwapMB   float64   `json:"swap_mb,omitempty"`
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
	StaleAfter   time.Duration // a dyno silent this long (by its app's log time) ages out; default 30m
	// AppSilentAfter: an app none of whose lines arrived for this long by
	// the wall clock has its episodes resolved ("no logs from myapp"); the
	// log clock cannot tell, since it stops with the app. Default 30m.
	AppSilentAfter time.Duration
	// EvalLag: the leak rule judges samples up to this long before the
	// app's latest line, so that the router lines of those minutes, which
	// may arrive in later batches, are in. Default 2m.
	EvalLag time.Duration
	// MaxDynos bounds the dynos followed per app (one-off run.N dynos, or
	// forged names, must not grow the engine without end): past it, the
	// dyno heard from longest ago with no open episode is forgotten.
	// Default 1000.
	MaxDynos int
	// MaxBytes bounds the memory of every app's dynos' series together
	// (by their capacity, estimated): past it, the quietest dyno of the app
	// with the most dynos is forgotten, as at MaxDynos. Default 64 MiB.
	MaxBytes int64
	// LeakAlertRest: a leak alert waits until the verdict rests on this
	// much quiet time (the verdict itself needs Analysis.MinRest), so that
	// the slope it quotes has seen more of the garbage collector's cycles
	// at rest (leakWaitOver says how long at most). Default 100m.
	LeakAlertRest time.Duration
	Analysis      analyze.BootOptions
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
	def(&c.AppSilentAfter, 30*time.Minute)
	def(&c.EvalLag, 2*time.Minute)
	def(&c.LeakAlertRest, 100*time.Minute)
	if c.MaxDynos <= 0 {
		c.MaxDynos = 1000
	}
	if c.MaxBytes <= 0 {
		c.MaxBytes = 64 << 20
	}
	return c
}

// maxSeriesPoints bounds one dyno's series in memory.
const maxSeriesPoints = 4096

// leakStreak is how many evaluations in a row must say "leak" before the
// alert fires: one noisy window is not enough to wake anyone.
const leakStreak = 2

// shutdownGrace: after a restart, Heroku gives the old processes 30 s
// between SIGTERM and SIGKILL, and they may log R14s meanwhile; the new
// boot starts far under its quota.
const shutdownGrace = 30 * time.Second

// leakCalmFor is how long evaluations must say stable or bloat, without a
// "leak" or "rising" between, before a leak alert resolves: one verdict on
// a sawtooth's fall would resolve it, and the next rise fire it again.
const leakCalmFor = 30 * time.Minute

type dynoKey struct{ app, dyno string }

type episodeKey struct {
	app, dyno string
	rule      Rule
}

type dynoState struct {
	boot        string
	bootStarted time.Time       // the boot's first sample
	busyWarm    time.Time       // when the boot had served its first busy minutes (analyze.BusyWarmUp)
	restartedAt time.Time       // the last restart: memory errors logged before it were the old boot's
	ended       []string        // the last few boots that ended: their late samples are ignored
	points      []analyze.Point // current boot, within the window
	requests    []analyze.Count // per minute, within the window
	quota       float64
	lastMB      float64
	lastSwap    float64
	lastSeen    time.Time
	nearSince   time.Time // above the near line since; zero when below
	overBelow   time.Time // back at or under the quota since; zero when over
	nearBelow   time.Time // back under the near line since
	lastEval    time.Time
	leakStreak  int
	leakSince   time.Time       // the first leak verdict since the boot began or was last calm
	heldLeak    *analyze.Report // a leak verdict waiting to be told (leakSettled)
	calmSince   time.Time       // evaluations have said stable or bloat since; zero: not calm
	lastReport  *analyze.Report
	accounted   int64 // this state's size as last counted in Engine.bytes
}

// Sizes for the estimate of a dyno's state (dynoState.size).
const (
	dynoOverhead = int64(unsafe.Sizeof(dynoState{})) + 128 // the state, its map entry and name
	pointBytes   = int64(unsafe.Sizeof(analyze.Point{}))
	countBytes   = int64(unsafe.Sizeof(analyze.Count{}))
	reportBytes  = 2048 // a leak analysis kept for the alert
)

// size estimates the memory the state of the dyno named name holds.
func (d *dynoState) size(name string) int64 {
	n := dynoOverhead + int64(len(name)+len(d.boot)) + int64(cap(d.points))*pointBytes + int64(cap(d.requests))*countBytes
	for _, b := range d.ended {
		n += 16 + int64(len(b))
	}
	if d.lastReport != nil {
		n += reportBytes
	}
	if d.heldLeak != nil {
		n += reportBytes
	}
	return n
}

// appState is one app's clock and dynos. Each app's time advances with its
// own lines only, so an app's alerts never depend on other apps' drains.
type appState struct {
	first     time.Time // the first log time seen from this app
	now       time.Time // the latest log time seen from this app
	lastSweep time.Time
	lastWall  time.Time // wall time of its latest observation
	dynos     map[string]*dynoState
}

// Engine applies the rules to observations in log-time order. It is
// deterministic: the same observations of an app give the same alerts for
// it, live or replayed, whatever other apps send. It is not safe for
// concurrent use.
type Engine struct {
	cfg          Config
	apps         map[string]*appState
	open         map[episodeKey]*Alert
	lastResolved map[episodeKey]time.Time
	wall         time.Time // the wall clock, as last told by Tick
	// Evicted counts dynos forgotten because their app had MaxDynos or
	// the engine MaxBytes.
	Evicted int64
	bytes   int64 // the dynos' states' sizes, as last counted
}

// Bytes is the estimated memory of the dynos' states.
func (e *Engine) Bytes() int64 { return e.bytes }

// account counts the dyno's state at its current size.
func (e *Engine) account(d *dynoState, name string) {
	n := d.size(name)
	e.bytes += n - d.accounted
	d.accounted = n
}

// forget drops a dyno's state.
func (e *Engine) forget(app *appState, dyno string) {
	if d := app.dynos[dyno]; d != nil {
		e.bytes -= d.accounted
		delete(app.dynos, dyno)
	}
}

// shrink forgets dynos while the states take more than MaxBytes: the
// quietest of the app with the most dynos each time, so that one app's
// flood of dynos never pushes another app's out first.
func (e *Engine) shrink() {
	for e.bytes > e.cfg.MaxBytes {
		var name string
		var most *appState
		for n, a := range e.apps {
			if most == nil || len(a.dynos) > len(most.dynos) || (len(a.dynos) == len(most.dynos) && n < name) {
				name, most = n, a
			}
		}
		if most == nil || len(most.dynos) == 0 {
			return
		}
		e.evict(name, most)
	}
}

// NewEngine returns an engine with no history.
func NewEngine(cfg Config) *Engine {
	return &Engine{
		cfg:          cfg.withDefaults(),
		apps:         map[string]*appState{},
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

// Tick tells the engine the wall-clock time. An app none of whose lines
// arrived for AppSilentAfter has its open episodes resolved, saying so, and
// its state forgotten.
func (e *Engine) Tick(wall time.Time) []Alert {
	if wall.After(e.wall) {
		e.wall = wall
	}
	var silent []string
	for name, a := range e.apps {
		if !a.lastWall.IsZero() && e.wall.Sub(a.lastWall) >= e.cfg.AppSilentAfter {
			silent = append(silent, name)
		}
	}
	sort.Strings(silent)
	var out []Alert
	for _, name := range silent {
		a := e.apps[name]
		why := fmt.Sprintf("no logs from %s for %s (by the wall clock): the app stopped, or its drain did", name, FormatDuration(e.wall.Sub(a.lastWall)))
		out = e.resolveApp(name, a, a.now, why, func(*dynoState) bool { return true }, out)
		delete(e.apps, name)
	}
	return out
}

// Observe applies one observation and returns the alerts it fires or
// resolves, in order.
func (e *Engine) Observe(o Observation) []Alert {
	if o.Dyno == "" {
		return nil
	}
	var out []Alert
	app := e.apps[o.App]
	if app == nil {
		app = &appState{dynos: map[string]*dynoState{}}
		e.apps[o.App] = app
	}
	app.lastWall = e.wall
	if o.Time.After(app.now) {
		app.now = o.Time
	}
	if app.first.IsZero() || o.Time.Before(app.first) {
		app.first = o.Time
	}
	k := dynoKey{o.App, o.Dyno}
	d := app.dynos[o.Dyno]
	if d == nil {
		if len(app.dynos) >= e.cfg.MaxDynos {
			e.evict(o.App, app)
		}
		d = &dynoState{}
		app.dynos[o.Dyno] = d
	}
	if o.Time.After(d.lastSeen) {
		d.lastSeen = o.Time
	}
	switch o.Kind {
	case ObsMemory:
		out = e.memory(k, d, app, o, out)
	case ObsMemError:
		out = e.memError(k, d, o, out)
	case ObsRequests:
		e.requests(d, o)
	case ObsRestart:
		out = e.restart(k, d, o.Time, "dyno restarted ("+o.Code+")", out)
	}
	e.account(d, o.Dyno)
	e.shrink()
	if app.now.Sub(app.lastSweep) >= time.Minute {
		app.lastSweep = app.now
		out = e.sweep(o.App, app, out)
	}
	return out
}

func (e *Engine) memory(k dynoKey, d *dynoState, app *appState, o Observation, out []Alert) []Alert {
	now := app.now
	if o.Boot != "" && slices.Contains(d.ended, o.Boot) {
		return out // a late sample of a boot that has ended
	}
	if d.boot != "" && o.Boot != "" && o.Boot != d.boot {
		out = e.restart(k, d, o.Time, "dyno restarted (new boot)", out)
	}
	if o.Boot != "" && o.Boot != d.boot {
		// The boot's start is known when a boot before it ended here, or
		// the dyno is new beside the app's others; else it was up before.
		if len(d.ended) > 0 || o.Time.Sub(app.first) >= analyze.NewDynoAfter {
			d.bootStarted = o.Time
		}
		d.boot = o.Boot
	}
	if o.QuotaMB > 0 {
		d.quota = o.QuotaMB
	}
	d.lastMB = o.TotalMB
	d.lastSwap = o.SwapMB
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
			if a := e.open[over]; a != nil {
				out = e.worse(a, d, o.Time, out)
			}
			out = e.fire(over, d, o.Time, out, func(a *Alert) {
				a.Summary = fmt.Sprintf("%s of %s is over its memory quota: %s", k.dyno, k.app, memText(o.TotalMB, o.SwapMB, d.quota))
			})
		} else if e.open[over] != nil {
			// Resolved only once well under the quota: a GC sawtooth
			// whose troughs dip just under the quota is still the same
			// episode, and would otherwise resolve and fire again.
			if share >= e.cfg.NearShare {
				d.overBelow = time.Time{}
			} else if d.overBelow.IsZero() {
				d.overBelow = o.Time
			}
			if !d.overBelow.IsZero() && o.Time.Sub(d.overBelow) >= e.cfg.ResolveAfter {
				out = e.resolve(over, o.Time, fmt.Sprintf("back under %.0f%% of the quota for %s", e.cfg.NearShare*100, FormatDuration(e.cfg.ResolveAfter)), d, out)
			}
		}
		// Near the quota, for a while.
		near := episodeKey{k.app, k.dyno, RuleNearQuota}
		if share >= e.cfg.NearShare {
			d.nearBelow = time.Time{}
			if d.nearSince.IsZero() {
				d.nearSince = o.Time
			}
			if a := e.open[near]; a != nil && e.open[over] == nil {
				out = e.worse(a, d, o.Time, out)
			}
			if o.Time.Sub(d.nearSince) >= e.cfg.NearFor && e.open[over] == nil {
				out = e.fire(near, d, o.Time, out, func(a *Alert) {
					a.Started = d.nearSince
					a.Summary = fmt.Sprintf("%s of %s has been above %.0f%% of its memory quota for %s: %s",
						k.dyno, k.app, e.cfg.NearShare*100, FormatDuration(o.Time.Sub(d.nearSince)), memText(o.TotalMB, o.SwapMB, d.quota))
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

	if now.Sub(d.lastEval) >= e.cfg.EvalEvery {
		d.lastEval = now
		out = e.evaluateLeak(k, d, now, out)
	}
	return out
}

// memText says how much memory: "514 MB of 512 MB (100.4%), 80 MB in swap".
func memText(mb, swap, quota float64) string {
	s := fmt.Sprintf("%.0f MB", mb)
	if quota > 0 && math.Abs(mb-quota) < 5 {
		s = fmt.Sprintf("%.1f MB", mb) // 512.4 of 512 is over it: say so
	}
	if quota > 0 {
		s += fmt.Sprintf(" of %.0f MB (%s)", quota, Percent(100*mb/quota))
	}
	if swap >= 1 {
		s += fmt.Sprintf(", %.0f MB in swap", swap)
	}
	return s
}

// Percent prints a share of the quota so that over 100% never reads as
// 100% (nor under it as over): "100.1%" for 100.02, "99.9%", "93%".
func Percent(p float64) string {
	if p > 99.5 && p < 1000 {
		r := math.Round(p*10) / 10
		switch {
		case p > 100 && r <= 100:
			r = 100.1
		case p < 100 && r >= 100:
			r = 99.9
		}
		return strconv.FormatFloat(r, 'f', 1, 64) + "%"
	}
	return strconv.FormatFloat(math.Round(p), 'f', 0, 64) + "%"
}

// evaluateLeak judges the boot on the samples up to EvalLag before the
// app's clock, so the router lines of those minutes are in.
func (e *Engine) evaluateLeak(k dynoKey, d *dynoState, now time.Time, out []Alert) []Alert {
	cut := now.Add(-e.cfg.EvalLag)
	n := sort.Search(len(d.points), func(i int) bool { return d.points[i].T.After(cut) })
	if d.busyWarm.IsZero() && !d.bootStarted.IsZero() {
		// Kept once found: the requests of the first minutes leave the window.
		o := e.cfg.Analysis
		d.busyWarm = analyze.BusyWarmUp(d.requests, d.bootStarted, cmp.Or(o.RestRPM, 3), cmp.Or(o.WarmUpBusy, 10*time.Minute))
	}
	opts := e.cfg.Analysis
	opts.Now = true // an alert is about a leak going on now
	b := analyze.Boot{App: k.app, Dyno: k.dyno, Boot: d.boot, Started: d.bootStarted, BusyWarm: d.busyWarm,
		Points: d.points[:n], QuotaMB: d.quota, Requests: d.requests}
	if !d.bootStarted.IsZero() {
		b.PeerFloorMB = analyze.PeerFloor(k.dyno, d.bootStarted, cut, e.peers(k))
	}
	r := analyze.AnalyzeBoot(b, opts)
	d.lastReport = &r
	key := episodeKey{k.app, k.dyno, RuleLeak}
	// A calm verdict (stable or bloat) speaks to a leak at rest only when
	// the dyno is at rest now: one judged while busy says how memory goes
	// with traffic, not that a leak stopped.
	calm := (r.Verdict == analyze.Stable || r.Verdict == analyze.Bloat) && r.AtRestNow
	if r.Verdict != analyze.Leak {
		d.leakStreak = 0
		// A leak held for more quiet time whose quiet stretch ended (the
		// dyno got busy) is told now: more quiet time is not coming soon.
		// A calm verdict drops it; any other keeps it waiting.
		switch held := d.heldLeak; {
		case held == nil:
		case r.AtRest != nil && r.AtRest.BusyNow:
			d.heldLeak = nil
			if e.open[key] == nil {
				out = e.fireLeak(key, d, now, *held, out)
			}
		case calm:
			d.heldLeak = nil
		}
	}
	if !calm {
		d.calmSince = time.Time{}
	}
	switch r.Verdict {
	case analyze.Leak:
		d.leakStreak++
		if d.leakSince.IsZero() {
			d.leakSince = now
		}
		if a := e.open[key]; a != nil {
			out = e.worse(a, d, now, out)
			return out
		}
		if d.leakStreak < leakStreak {
			return out
		}
		if !e.leakSettled(r, now.Sub(d.leakSince), now) {
			d.heldLeak = &r
			return out
		}
		d.heldLeak = nil
		out = e.fireLeak(key, d, now, r, out)
	case analyze.Stable, analyze.Bloat:
		if !calm {
			break
		}
		if d.calmSince.IsZero() {
			d.calmSince = now
		}
		if now.Sub(d.calmSince) >= leakCalmFor {
			d.leakSince = time.Time{} // a leak seen again waits anew
		}
		if e.open[key] != nil && now.Sub(d.calmSince) >= leakCalmFor {
			out = e.resolve(key, now, "memory "+map[analyze.Verdict]string{analyze.Stable: "is stable", analyze.Bloat: "levelled off (bloat, not a leak)"}[r.Verdict], d, out)
		}
	}
	return out
}

// fireLeak opens a leak episode told from the report r.
func (e *Engine) fireLeak(key episodeKey, d *dynoState, now time.Time, r analyze.Report, out []Alert) []Alert {
	return e.fire(key, d, now, out, func(a *Alert) {
		a.Report = &r
		a.Reason = r.Reason
		a.Started = firstQuiet(r)
		a.Summary = fmt.Sprintf("%s of %s is leaking memory: %+.1f MB/h %s", key.dyno, key.app, r.SlopeMBPerHour, restText(r))
		if r.HoursToQuota != nil {
			a.Summary += fmt.Sprintf("; reaches its %.0f MB quota in about %s", r.QuotaMB, fmtHours(*r.HoursToQuota))
		}
	})
}

// leakSettled reports whether a leak verdict is ready to be told: with
// only an hour of quiet time, a GC sawtooth whose cycle at rest is longer
// than that adds its climb to the slope, so the alert waits until the
// verdict rests on LeakAlertRest of quiet time, unless its wait is over
// (leakWaitOver) or the quota is within the hour.
func (e *Engine) leakSettled(r analyze.Report, held time.Duration, now time.Time) bool {
	if r.HoursToQuota != nil && *r.HoursToQuota < 1 {
		return true
	}
	return leakWaitOver(r, held, now) || r.AtRest != nil && r.AtRest.Minutes >= e.cfg.LeakAlertRest.Minutes()
}

// leakWaitOver reports whether a leak verdict has waited long enough for
// more quiet time: leakDueBy has passed since the quiet growth it rests on
// began, or leakHoldMax since the boot was first judged leaking (busy
// spells in between do not start the wait again; a calm spell does).
func leakWaitOver(r analyze.Report, held time.Duration, now time.Time) bool {
	return now.Sub(firstQuiet(r)) >= leakDueBy || held >= leakHoldMax
}

// leakDueBy is the longest a leak alert waits after the first at-rest
// sample of the quiet growth it reports (which comes analyze's Settle or
// more after the traffic stopped). A leak is promised within an hour of one
// hour of quiet growth; the rest of the two hours is for the evaluations,
// every five minutes.
const leakDueBy = 105 * time.Minute

// leakHoldMax bounds how long a leak verdict waits whatever its quiet time.
// With the default MinRest (an hour of quiet time before any leak verdict)
// leakDueBy ends the wait first; this is the bound when the window has slid
// past the quiet growth's start, or MinRest is set shorter.
const leakHoldMax = 45 * time.Minute

// peers returns the current boots of the app's other dynos of k's process
// type, for analyze.PeerFloor.
func (e *Engine) peers(k dynoKey) []analyze.Boot {
	pt := analyze.ProcessType(k.dyno)
	var out []analyze.Boot
	for name, d := range e.apps[k.app].dynos {
		if name != k.dyno && analyze.ProcessType(name) == pt {
			out = append(out, analyze.Boot{Dyno: name, Started: d.bootStarted, Points: d.points})
		}
	}
	return out
}

// firstQuiet is when the quiet growth a leak report is about began.
func firstQuiet(r analyze.Report) time.Time {
	if r.AtRest != nil && len(r.AtRest.Stretches) > 0 {
		return r.AtRest.Stretches[0].From
	}
	return r.From
}

func restText(r analyze.Report) string {
	if r.WholeWindow {
		return fmt.Sprintf("over %s past its warm-up (no router traffic by design: judged on the whole window)", FormatDuration(r.To.Sub(r.WarmUpUntil)))
	}
	if r.AtRest != nil {
		return fmt.Sprintf("at rest (%s of quiet time, serving under %d requests a minute)", FormatDuration(time.Duration(r.AtRest.Minutes*float64(time.Minute))), 3)
	}
	return ""
}

// worse follows up an open episode that got materially worse: memory up
// another tenth of the quota since the last message, or, for a leak, the
// time to the quota halved.
func (e *Engine) worse(a *Alert, d *dynoState, t time.Time, out []Alert) []Alert {
	switch a.Rule {
	case RuleOverQuota, RuleNearQuota:
		if a.MemoryMB <= 0 { // fired by an R14 line: the first sample is the baseline
			a.MemoryMB = d.lastMB
			return out
		}
		if d.quota <= 0 || d.lastMB < a.MemoryMB+0.1*d.quota {
			return out
		}
		a.MemoryMB, a.SwapMB = d.lastMB, d.lastSwap
		a.Percent = 100 * d.lastMB / d.quota
		a.Summary = fmt.Sprintf("Worse: %s of %s is now at %s (episode since %s)", a.Dyno, a.App, memText(d.lastMB, d.lastSwap, d.quota), a.Started.UTC().Format("15:04 UTC"))
	case RuleLeak:
		// The quota arrives in half the time the last message said (from
		// now), not merely because time passed.
		r := d.lastReport
		if r == nil || r.HoursToQuota == nil || a.Report == nil || a.Report.HoursToQuota == nil {
			return out
		}
		said := a.Time.Add(time.Duration(*a.Report.HoursToQuota * float64(time.Hour))).Sub(t)
		now := time.Duration(*r.HoursToQuota * float64(time.Hour))
		if said <= 10*time.Minute || now > said/2 {
			return out
		}
		a.Report = r
		a.MemoryMB, a.SwapMB = d.lastMB, d.lastSwap
		a.Summary = fmt.Sprintf("Worse: %s of %s now reaches its quota in about %s (%+.1f MB/h at rest)", a.Dyno, a.App, fmtHours(*r.HoursToQuota), r.SlopeMBPerHour)
	default:
		return out
	}
	a.Time = t
	u := *a
	u.State, u.Spark = Worse, spark(d.points, 24)
	return append(out, u)
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
	if !o.Time.After(d.restartedAt.Add(shutdownGrace)) {
		return out // the old boot's last R14s, logged while it shut down
	}
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
		// The line says nothing of how much: the next sample sets the
		// baseline for follow-ups.
		a.MemoryMB, a.SwapMB, a.Percent = 0, 0, 0
		switch o.Code {
		case "R15":
			a.Summary = fmt.Sprintf("%s of %s: Error R15 (Memory quota vastly exceeded) — Heroku kills the process", k.dyno, k.app)
		case "R14":
			a.Summary = fmt.Sprintf("%s of %s: Error R14 (Memory quota exceeded) — the dyno is swapping", k.dyno, k.app)
		default:
			a.Summary = fmt.Sprintf("%s of %s is over its memory quota: %.0f MB (%s)", k.dyno, k.app, o.TotalMB, Percent(o.Percent))
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

// restart ends the boot: its episodes are resolved (the restart freed the
// memory; a leak will be found again in the new boot if it is still there)
// and the new boot is judged from nothing.
func (e *Engine) restart(k dynoKey, d *dynoState, t time.Time, why string, out []Alert) []Alert {
	for _, r := range []Rule{RuleOverQuota, RuleNearQuota, RuleLeak} {
		if key := (episodeKey{k.app, k.dyno, r}); e.open[key] != nil {
			w := why
			if r == RuleLeak {
				w += ": the leaked memory was freed; the new boot is watched from scratch"
			}
			began := e.open[key].Started
			out = e.resolve(key, t, w, d, out)
			// The next boot's episode is a new one: the cooldown runs from
			// when this one began, so a boot that goes over its quota is
			// told of, and a crash loop still at most once per cooldown.
			e.lastResolved[key] = began
		}
	}
	if d.boot != "" {
		d.ended = append(d.ended, d.boot)
		if len(d.ended) > 4 {
			d.ended = d.ended[1:]
		}
		d.boot = ""
	}
	d.bootStarted, d.busyWarm = time.Time{}, time.Time{}
	if t.After(d.restartedAt) {
		d.restartedAt = t
	}
	d.points = d.points[:0]
	d.nearSince, d.overBelow, d.nearBelow = time.Time{}, time.Time{}, time.Time{}
	d.lastEval, d.leakStreak, d.lastReport, d.calmSince, d.leakSince, d.heldLeak = t, 0, nil, time.Time{}, time.Time{}, nil
	return out
}

// evict forgets the app's dyno heard from longest ago that has no open
// episode (or, if every one has, the one heard from longest ago).
func (e *Engine) evict(name string, app *appState) {
	var victim, anyVictim string
	var oldest, anyOldest time.Time
	for dyno, d := range app.dynos {
		if anyVictim == "" || d.lastSeen.Before(anyOldest) || (d.lastSeen.Equal(anyOldest) && dyno < anyVictim) {
			anyVictim, anyOldest = dyno, d.lastSeen
		}
		open := false
		for _, r := range []Rule{RuleOverQuota, RuleNearQuota, RuleLeak} {
			if e.open[episodeKey{name, dyno, r}] != nil {
				open = true
			}
		}
		if !open && (victim == "" || d.lastSeen.Before(oldest) || (d.lastSeen.Equal(oldest) && dyno < victim)) {
			victim, oldest = dyno, d.lastSeen
		}
	}
	if victim == "" {
		victim = anyVictim
	}
	e.forget(app, victim)
	e.Evicted++
}

// sweep ages out the app's dynos that stopped reporting while the app's
// clock moved on, resolving their episodes.
func (e *Engine) sweep(name string, app *appState, out []Alert) []Alert {
	why := fmt.Sprintf("dyno stopped reporting (silent for over %s while %s's other dynos logged)", FormatDuration(e.cfg.StaleAfter), name)
	out = e.resolveApp(name, app, app.now, why, func(d *dynoState) bool { return app.now.Sub(d.lastSeen) > e.cfg.StaleAfter }, out)
	// Cooldowns that have run out are forgotten, or one-off dynos (run.N,
	// a new name each time) would grow this map forever.
	for k, t := range e.lastResolved {
		if k.app == name && app.now.Sub(t) > e.cfg.Cooldown {
			delete(e.lastResolved, k)
		}
	}
	return out
}

// resolveApp resolves the episodes of the app's dynos for which gone is
// true, at log time t, and forgets those dynos.
func (e *Engine) resolveApp(name string, app *appState, t time.Time, why string, gone func(*dynoState) bool, out []Alert) []Alert {
	var names []string
	for dyno, d := range app.dynos {
		if gone(d) {
			names = append(names, dyno)
		}
	}
	sort.Strings(names)
	for _, dyno := range names {
		d := app.dynos[dyno]
		for _, r := range []Rule{RuleOverQuota, RuleNearQuota, RuleLeak} {
			if key := (episodeKey{name, dyno, r}); e.open[key] != nil {
				out = e.resolve(key, t, why, d, out)
			}
		}
		e.forget(app, dyno)
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
		MemoryMB: d.lastMB, SwapMB: d.lastSwap, QuotaMB: d.quota, Spark: spark(d.points, 24)}
	if d.quota > 0 && d.lastMB > 0 {
		a.Percent = 100 * d.lastMB / d.quota
	}
	a.Report = d.lastReport // what the boot's analysis said last, for the advice
	fill(a)
	e.open[key] = a
	return append(out, *a)
}

func (e *Engine) resolve(key episodeKey, t time.Time, why string, d *dynoState, out []Alert) []Alert {
	a := e.open[key]
	delete(e.open, key)
	e.lastResolved[key] = t
	r := Alert{App: a.App, Dyno: a.Dyno, Boot: d.boot, Rule: a.Rule, State: Resolved, Time: t, Started: a.Started,
		Reason: why, MemoryMB: d.lastMB, SwapMB: d.lastSwap, QuotaMB: d.quota, Codes: a.Codes, Spark: spark(d.points, 24), Report: d.lastReport}
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
