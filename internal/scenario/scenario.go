// Package scenario generates realistic multi-hour Heroku log histories — the
// logplex HTTP drain bodies an app's drain would receive — each with the
// truth about what it holds: which dyno boots leak at rest and how fast,
// which request path leaks and by how much, which boots go over their memory
// quota and when they end. The generators are pure (no I/O) and deterministic:
// the same seed and start give the same bytes; different seeds vary the app
// widely (base memory, noise, GC sawtooth, traffic, paths, restarts, leak
// rates), so that tests replaying them judge the analysis, not one shape.
package scenario

import (
	"fmt"
	"time"
)

// Body is one logplex POST: octet-counted frames in time order.
type Body struct {
	FrameID  string // Logplex-Frame-Id: 32 hex characters, unique in a history
	MsgCount int    // Logplex-Msg-Count
	Data     []byte
	From, To time.Time // log times of its first and last line
}

// Headers returns the HTTP headers logplex sends with b (Content-Type, the
// frame id and message count, the drain token, the user agent).
func (b Body) Headers(drainToken string) map[string]string {
	return map[string]string{
		"Content-Type":        "application/logplex-1",
		"Logplex-Msg-Count":   fmt.Sprint(b.MsgCount),
		"Logplex-Frame-Id":    b.FrameID,
		"Logplex-Drain-Token": drainToken,
		"User-Agent":          "Logplex/v123",
	}
}

// History is one generated log history and its truth.
type History struct {
	Scenario   string
	Seed       uint64
	App        string // the app's name: POST /logs/<App>
	DrainToken string // d.<uuid>
	Start, End time.Time
	QuotaMB    float64
	Bodies     []Body
	Lines      int // frames in all bodies
	Truth      Truth
}

// Growth says how a boot's memory behaves.
type Growth string

// The kinds of memory behaviour a boot can have.
const (
	// Stable: flat but for noise and the GC sawtooth.
	Stable Growth = "stable"
	// Bloat: rose while serving requests (caches, pools, workers filling
	// up), then levelled off; flat at rest.
	Bloat Growth = "bloat"
	// LeakAtRest: keeps rising while the dyno serves (almost) no requests.
	LeakAtRest Growth = "leak-at-rest"
	// Leak: a dyno without router traffic (a worker) rising without
	// levelling off after its warm-up.
	Leak Growth = "leak"
	// PerRequest: grows with requests served and never levels off — by
	// Truth.LeakingPath's requests, or evenly over all traffic when that is
	// empty. Flat at rest.
	PerRequest Growth = "per-request"
	// OverTime: rises with time whatever the traffic, on a dyno that is
	// busy throughout (never at rest long enough to call it a leak at rest).
	OverTime Growth = "over-time"
)

// Truth is what a history holds, for tests to judge drainwatch against.
type Truth struct {
	// Benign: no dyno leaks in any way; every leak alert is false.
	Benign bool `json:"benign"`
	// LeakingPath is the one path template whose requests leak memory, and
	// MBPerRequest how much each leaks; "" when no path is guilty (every
	// path named as a suspect is then innocent).
	LeakingPath  string  `json:"leaking_path,omitempty"`
	MBPerRequest float64 `json:"mb_per_request,omitempty"`
	// Paths are the templates served (as drainwatch groups paths:
	// /users/123 → /users/:id).
	Paths []string `json:"paths"`
	// Boots is every dyno boot seen in the window, by dyno then time.
	Boots []Boot `json:"boots"`
	// Variant says in words what this seed drew.
	Variant string `json:"variant"`
}

// Boot is the truth about one dyno boot.
type Boot struct {
	Dyno      string    `json:"dyno"`
	Boot      string    `json:"boot"` // the uuid in dyno=heroku.<appid>.<uuid>
	Start     time.Time `json:"start"`
	End       time.Time `json:"end,omitzero"`         // when the boot began to stop; zero: up at the end of the window
	EndReason string    `json:"end_reason,omitempty"` // cycling, restart, deploy
	Growth    Growth    `json:"growth"`
	// SlopeMBPerHour is the rate of growth with time (LeakAtRest, Leak,
	// OverTime).
	SlopeMBPerHour float64 `json:"slope_mb_per_hour,omitempty"`
	// MBPerRequest is the growth per request served (PerRequest).
	MBPerRequest float64 `json:"mb_per_request,omitempty"`
	// QuietGrowthFrom and QuietGrowthUntil bound the stretch over which
	// memory rises while the dyno is at rest (LeakAtRest), or after its
	// warm-up (Leak).
	QuietGrowthFrom  time.Time `json:"quiet_growth_from,omitzero"`
	QuietGrowthUntil time.Time `json:"quiet_growth_until,omitzero"`
	// Busy: the dyno is rarely at rest in this boot.
	Busy bool `json:"busy,omitempty"`
	// LevelMB is where a Bloat boot levels off (before noise).
	LevelMB   float64   `json:"level_mb,omitempty"`
	PeakMB    float64   `json:"peak_mb"`
	Samples   int       `json:"samples"`
	OverQuota []Episode `json:"over_quota,omitempty"`
}

// Episode is a boot's time over its memory quota: from the first sample over
// it to the last. A boot has at most one: memory hovering around the quota
// (under it for a while, then over again) is still one episode.
type Episode struct {
	From           time.Time `json:"from"`
	To             time.Time `json:"to"`
	EndedByRestart bool      `json:"ended_by_restart"` // still over when a restart ended the boot
}

// LeakAlertDue returns when a leak alert on b is due at the latest: within an
// hour of one hour of quiet growth. ok is false when b is no leak or its
// quiet growth is too short to demand one.
func (b Boot) LeakAlertDue() (due time.Time, ok bool) {
	if b.Growth != LeakAtRest && b.Growth != Leak || b.QuietGrowthFrom.IsZero() {
		return time.Time{}, false
	}
	due = b.QuietGrowthFrom.Add(2 * time.Hour)
	return due, !due.After(b.QuietGrowthUntil)
}

// LeakAlertFalse reports whether any leak alert on b is a false alarm: its
// memory does not rise without levelling off.
func (b Boot) LeakAlertFalse() bool { return b.Growth == Stable || b.Growth == Bloat }

// Generator builds the history of one seed, starting at start.
type Generator func(seed uint64, start time.Time) History

// Scenario is one kind of history.
type Scenario struct {
	Name  string
	About string
	Gen   Generator
}

// All returns every scenario, in a fixed order.
func All() []Scenario {
	return []Scenario{
		{"bloat", "warm-up to a plateau under load, flat at rest", Bloat6h},
		{"daily-restart", "stable with a GC sawtooth, daily cycling, warm-up when morning traffic returns", DailyRestart},
		{"leak-at-rest", "busy, then traffic stops; memory keeps rising +25–35 MB/h while idle", LeakAtRest6h},
		{"over-quota", "climbs over the quota (with time or evenly over all traffic), R14s, a restart frees it", OverQuota},
		{"leaking-page", "one path template leaks 1–3 MB a request, everything else flat", LeakingPage},
		{"busy-r14", "a busy web dyno rising under load to R14: per request, or levelling off over the quota", BusyToR14},
		{"worker-leak", "a worker dyno leaking without router traffic, beside benign web dynos", WorkerLeak},
		{"deploy", "a deploy in the middle: every dyno restarts with a new boot", Deploy},
		{"diurnal", "a day/night traffic pattern over 8 hours, benign", Diurnal},
		{"ten-dynos", "an app with 10 web dynos, benign or with one leaking at rest", TenDynos},
	}
}
