package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/drainwatch/drainwatch/alerts"
	slacknotify "github.com/drainwatch/drainwatch/alerts/slack"
	"github.com/drainwatch/drainwatch/analyze"
)

// alertEnv lists the alert settings read from the environment, with their
// defaults, for the README, app.json and -h.
var alertEnv = []setting{
	{"ALERT_NEAR_QUOTA", "0.9", "near-quota warning line, a share of the quota (0.9 or 90%)"},
	{"ALERT_NEAR_FOR", "10m", "how long above that line before the warning"},
	{"ALERT_RESOLVE_AFTER", "10m", "how long back under the line before a quota alert resolves"},
	{"ALERT_COOLDOWN", "30m", "after a resolve, the same alert may not fire again for this long"},
	{"ALERT_STALE_AFTER", "30m", "a dyno silent this long ages out (its alerts resolve)"},
	{"ALERT_GIVE_UP_AFTER", "6h", "stop retrying a Slack delivery this old (logged)"},
	{"LEAK_WINDOW", "3h", "leak analysis window, per dyno boot"},
	{"LEAK_MIN_SLOPE", "5", "MB/h below which a rise is not a leak"},
	{"LEAK_REST_RPM", "3", "a minute with fewer requests than this is at rest"},
	{"LEAK_MIN_REST", "1h", "quiet time (past a boot's warm-up) a web dyno needs in the window for a leak verdict"},
	{"LEAK_WARM_UP", "20m", "memory rising this soon after a boot is its warm-up, never a leak"},
	{"LEAK_ALERT_REST", "100m", "quiet time a leak verdict rests on before it is alerted (see docs/alerts.md for when it is told sooner)"},
	{"ALERT_APP_SILENT_AFTER", "30m", "an app with no lines for this long (wall clock) has its alerts resolved"},
	{"ALERT_MAX_DYNOS", "1000", "dynos followed per app by the alert engine; past it the quietest are forgotten"},
}

// setting is an environment variable drainwatch reads, its default and
// what it does (the help and the README's table).
type setting struct{ name, def, help string }

// settings reads environment variables against their defaults, collecting
// an error for each malformed value, named.
type settings struct {
	getenv func(string) string
	defs   []setting
	errs   []string
}

func (e *settings) get(name string) string {
	if v := strings.TrimSpace(e.getenv(name)); v != "" {
		return v
	}
	for _, d := range e.defs {
		if d.name == name {
			return d.def
		}
	}
	return ""
}

// dur reads a positive duration; like is an example for the error.
func (e *settings) dur(name, like string) time.Duration {
	d, err := time.ParseDuration(e.get(name))
	if err != nil || d <= 0 {
		e.errs = append(e.errs, fmt.Sprintf("%s=%q is not a positive duration (like %s)", name, e.get(name), like))
	}
	return d
}

// count reads a positive whole number.
func (e *settings) count(name string) int {
	n, err := strconv.Atoi(e.get(name))
	if err != nil || n <= 0 {
		e.errs = append(e.errs, fmt.Sprintf("%s=%q is not a positive whole number", name, e.get(name)))
	}
	return n
}

// num reads a positive number; with share, one up to 1 or a percentage.
func (e *settings) num(name string, share bool) float64 {
	v := e.get(name)
	pct := strings.HasSuffix(v, "%")
	f, err := strconv.ParseFloat(strings.TrimSuffix(v, "%"), 64)
	if pct {
		f /= 100
	}
	if err != nil || f <= 0 || (share && f > 1) {
		want := "a positive number"
		if share {
			want = "a share between 0 and 1 (or a percentage)"
		}
		e.errs = append(e.errs, fmt.Sprintf("%s=%q is not %s", name, v, want))
	}
	return f
}

// alertSettings reads the alert settings; a malformed value is an error
// naming the variable.
func alertSettings(getenv func(string) string) (alerts.ServiceConfig, error) {
	var cfg alerts.ServiceConfig
	e := &settings{getenv: getenv, defs: alertEnv}
	dur := func(name string) time.Duration { return e.dur(name, "10m or 3h") }
	num := e.num
	cfg.Rules = alerts.Config{
		NearShare:      num("ALERT_NEAR_QUOTA", true),
		NearFor:        dur("ALERT_NEAR_FOR"),
		ResolveAfter:   dur("ALERT_RESOLVE_AFTER"),
		Cooldown:       dur("ALERT_COOLDOWN"),
		StaleAfter:     dur("ALERT_STALE_AFTER"),
		AppSilentAfter: dur("ALERT_APP_SILENT_AFTER"),
		MaxDynos:       int(num("ALERT_MAX_DYNOS", false)),
		Window:         dur("LEAK_WINDOW"),
		LeakAlertRest:  dur("LEAK_ALERT_REST"),
		Analysis: analyze.BootOptions{
			Trend:   analyze.Options{MinSlope: num("LEAK_MIN_SLOPE", false)},
			RestRPM: num("LEAK_REST_RPM", false),
			MinRest: dur("LEAK_MIN_REST"),
			WarmUp:  dur("LEAK_WARM_UP"),
		},
	}
	cfg.MaxAge = dur("ALERT_GIVE_UP_AFTER")
	a := cfg.Rules.Analysis
	if w := cfg.Rules.Window - a.WarmUp; len(e.errs) == 0 && cfg.Rules.LeakAlertRest > w {
		e.errs = append(e.errs, fmt.Sprintf("LEAK_ALERT_REST=%s is more quiet time than a leak window holds past its warm-up (LEAK_WINDOW %s - LEAK_WARM_UP %s): no leak alert could wait for it", cfg.Rules.LeakAlertRest, cfg.Rules.Window, a.WarmUp))
	}
	if len(e.errs) > 0 {
		return cfg, fmt.Errorf("bad alert settings: %s", strings.Join(e.errs, "; "))
	}
	return cfg, nil
}

// slackSettings returns the Slack configuration, or ok=false when Slack is
// not configured (alerts are then only recorded).
func slackSettings(getenv func(string) string) (cfg slacknotify.Config, ok bool) {
	cfg = slacknotify.Config{
		WebhookURL:   getenv("SLACK_WEBHOOK_URL"),
		Token:        getenv("SLACK_BOT_TOKEN"),
		Channel:      getenv("SLACK_CHANNEL"),
		APIURL:       getenv("SLACK_API_URL"),
		DashboardURL: getenv("DRAINWATCH_PUBLIC_URL"),
	}
	return cfg, cfg.WebhookURL != "" || cfg.Token != ""
}
