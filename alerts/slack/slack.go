// Package slack delivers drainwatch alerts to Slack, through an incoming
// webhook or a bot token and channel, as Block Kit messages.
package slack

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/drainwatch/drainwatch/alerts"
)

// Config says where alerts go. Set WebhookURL, or Token and Channel.
type Config struct {
	WebhookURL string
	Token      string
	Channel    string
	// APIURL overrides Slack's Web API address (tests point it at a fake).
	APIURL string
	// DashboardURL is the daemon's public address; alerts link to its page.
	DashboardURL string
	HTTPClient   *http.Client
}

// Notifier sends alerts to Slack. It implements alerts.Notifier.
type Notifier struct {
	cfg Config
	api *slack.Client
}

// New returns a Notifier, or an error when the configuration is incomplete.
func New(cfg Config) (*Notifier, error) {
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 15 * time.Second}
	}
	n := &Notifier{cfg: cfg}
	switch {
	case cfg.WebhookURL != "":
		if u, err := url.Parse(cfg.WebhookURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, errors.New("slack: SLACK_WEBHOOK_URL is not an http(s) URL")
		}
	case cfg.Token != "":
		if cfg.Channel == "" {
			return nil, errors.New("slack: a bot token needs a channel (SLACK_CHANNEL)")
		}
		opts := []slack.Option{slack.OptionHTTPClient(cfg.HTTPClient)}
		if cfg.APIURL != "" {
			opts = append(opts, slack.OptionAPIURL(cfg.APIURL))
		}
		n.api = slack.New(cfg.Token, opts...)
	default:
		return nil, errors.New("slack: set SLACK_WEBHOOK_URL, or SLACK_BOT_TOKEN and SLACK_CHANNEL")
	}
	return n, nil
}

// Notify posts one alert. Errors never contain the webhook URL or the token.
func (n *Notifier) Notify(ctx context.Context, a alerts.Alert) (retry bool, err error) {
	text, blocks := Message(a, n.cfg.DashboardURL)
	if n.api == nil {
		f := false
		err = slack.PostWebhookCustomHTTPContext(ctx, n.cfg.WebhookURL, n.cfg.HTTPClient, &slack.WebhookMessage{
			Text: text, Blocks: &slack.Blocks{BlockSet: blocks}, UnfurlLinks: &f, UnfurlMedia: &f,
		})
	} else {
		_, _, err = n.api.PostMessageContext(ctx, n.cfg.Channel,
			slack.MsgOptionText(text, false), slack.MsgOptionBlocks(blocks...), slack.MsgOptionDisableLinkUnfurl())
	}
	if err == nil {
		return false, nil
	}
	return n.classify(err)
}

// classify decides whether a failure may pass, and scrubs secrets from it.
func (n *Notifier) classify(err error) (bool, error) {
	clean := errors.New(n.scrub(err.Error()))
	var rl *slack.RateLimitedError
	if errors.As(err, &rl) {
		return true, &alerts.RetryAfterError{After: rl.RetryAfter, Err: clean}
	}
	var sc slack.StatusCodeError
	if errors.As(err, &sc) {
		return sc.Code == http.StatusTooManyRequests || sc.Code >= 500, clean
	}
	var se slack.SlackErrorResponse
	if errors.As(err, &se) {
		// Web API errors (channel_not_found, invalid_auth, …) do not pass;
		// internal_error and fatal_error may.
		return se.Err == "internal_error" || se.Err == "fatal_error" || se.Err == "request_timeout", clean
	}
	// Time-outs, refused connections, resets: try again.
	return true, clean
}

func (n *Notifier) scrub(s string) string {
	for _, secret := range []string{n.cfg.WebhookURL, n.cfg.Token} {
		if secret != "" {
			s = strings.ReplaceAll(s, secret, "[redacted]")
		}
	}
	if u, err := url.Parse(n.cfg.WebhookURL); err == nil && u.Path != "" {
		s = strings.ReplaceAll(s, u.Path, "/[redacted]")
	}
	return s
}

// Escape makes text from logs safe in Slack mrkdwn: no mentions (<!channel>,
// <@U…>), no links (<http://…|x>), no @channel/@here pings.
func Escape(s string) string {
	s = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
	for _, m := range []string{"@channel", "@here", "@everyone"} {
		s = strings.ReplaceAll(s, m, "@\u2060"+m[1:])
	}
	return s
}

// Sparkline draws values as a line of block characters.
func Sparkline(vals []float64) string {
	if len(vals) == 0 {
		return ""
	}
	bars := []rune("▁▂▃▄▅▆▇█")
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, v := range vals {
		lo, hi = math.Min(lo, v), math.Max(hi, v)
	}
	var b strings.Builder
	for _, v := range vals {
		i := 0
		if hi > lo {
			i = int((v - lo) / (hi - lo) * float64(len(bars)-1))
		}
		b.WriteRune(bars[i])
	}
	return b.String()
}

var titles = map[alerts.Rule]string{
	alerts.RuleOverQuota: ":red_circle: Over memory quota",
	alerts.RuleNearQuota: ":large_orange_circle: Near memory quota",
	alerts.RuleLeak:      ":chart_with_upwards_trend: Memory leak at rest",
}

// Advice is what to try for each rule, from what Heroku teams do.
var Advice = map[alerts.Rule]string{
	alerts.RuleOverQuota: "*What to try:* fewer web workers (`WEB_CONCURRENCY`, Puma `workers`, gunicorn `-w`) so they fit the quota; " +
		"a worker killer (puma_worker_killer, gunicorn `--max-requests`) as a stop-gap; " +
		"`drainwatch analyze --dyno` to tell a leak from bloat before paying for a bigger dyno.",
	alerts.RuleNearQuota: "*What to try:* this dyno will swap (R14) soon. Check `drainwatch analyze` for a leak; " +
		"if it is bloat that levels off, trim workers or threads, or tune GC (`MALLOC_ARENA_MAX=2` for Ruby).",
	alerts.RuleLeak: "*What to try:* find the leaking page: `drainwatch suspects` ranks paths by memory growth; " +
		"load-test a suspect alone and watch it climb (`derailed exec perf:mem_over_time`); " +
		"restart on a schedule or use a worker killer meanwhile.",
}

// Message builds an alert's fallback text and Block Kit blocks.
func Message(a alerts.Alert, dashboardURL string) (string, []slack.Block) {
	title := titles[a.Rule]
	if a.State == alerts.Resolved {
		title = ":white_check_mark: Resolved: " + strings.TrimLeft(strings.SplitN(title, " ", 2)[1], " ")
	}
	title += ": " + a.Dyno + " of " + a.App
	blocks := []slack.Block{
		slack.NewHeaderBlock(slack.NewTextBlockObject(slack.PlainTextType, Escape(clipRunes(title, 150)), true, false)),
		slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, Escape(a.Summary), false, false), nil, nil),
	}
	var fields []*slack.TextBlockObject
	field := func(k, v string) {
		fields = append(fields, slack.NewTextBlockObject(slack.MarkdownType, "*"+k+"*\n"+Escape(v), false, false))
	}
	field("App", a.App)
	field("Dyno", a.Dyno)
	if a.MemoryMB > 0 {
		m := fmt.Sprintf("%.0f MB", a.MemoryMB)
		if a.QuotaMB > 0 {
			m += fmt.Sprintf(" of %.0f MB (%.0f%%)", a.QuotaMB, a.Percent)
		}
		field("Memory", m)
	}
	if r := a.Report; r != nil && a.Rule == alerts.RuleLeak {
		field("Slope", fmt.Sprintf("%+.1f MB/h (%s)", r.SlopeMBPerHour, r.Verdict))
		if r.WholeWindow {
			field("At rest", "no router traffic by design: judged on the whole window")
		} else {
			field("At rest", fmt.Sprintf("%.0f%% of %s", r.RestShare*100, alerts.FormatDuration(r.To.Sub(r.From))))
		}
		if r.HoursToQuota != nil {
			field("Quota reached in", fmt.Sprintf("about %.1f h at this rate", *r.HoursToQuota))
		}
	}
	if len(a.Codes) > 0 {
		field("Errors seen", strings.Join(a.Codes, ", "))
	}
	if len(a.Suspects) > 0 {
		var lines []string
		for _, x := range a.Suspects {
			lines = append(lines, fmt.Sprintf("%s: %.1f MB per 1000 requests, on %d dyno(s)", x.Path, x.MBPer1k, x.Dynos))
		}
		field("Suspect paths", strings.Join(lines, "\n"))
	}
	if a.State == alerts.Resolved {
		field("Lasted", alerts.FormatDuration(a.Time.Sub(a.Started)))
		field("Why resolved", a.Reason)
	}
	blocks = append(blocks, slack.NewSectionBlock(nil, fields, nil))
	if len(a.Spark) > 1 {
		line := fmt.Sprintf("Memory, recent: `%s`  %.0f → %.0f MB", Sparkline(a.Spark), a.Spark[0], a.Spark[len(a.Spark)-1])
		blocks = append(blocks, slack.NewContextBlock("", slack.NewTextBlockObject(slack.MarkdownType, line, false, false)))
	}
	if a.State == alerts.Firing {
		blocks = append(blocks, slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, Advice[a.Rule], false, false), nil, nil))
	}
	if dashboardURL != "" {
		link := fmt.Sprintf("%s/?app=%s&dyno=%s&from=%s&to=%s", strings.TrimRight(dashboardURL, "/"), url.QueryEscape(a.App), url.QueryEscape(a.Dyno),
			url.QueryEscape(a.Started.Add(-time.Hour).UTC().Format(time.RFC3339)), url.QueryEscape(a.Time.Add(time.Hour).UTC().Format(time.RFC3339)))
		blocks = append(blocks, slack.NewContextBlock("", slack.NewTextBlockObject(slack.MarkdownType, "<"+link+"|Open in drainwatch>", false, false)))
	}
	text := title + " — " + a.Summary
	return Escape(text), blocks
}

func clipRunes(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
