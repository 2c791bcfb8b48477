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
	"sync"
	"time"

	"github.com/slack-go/slack"

	"github.com/drainwatch/drainwatch/alerts"
	"github.com/drainwatch/drainwatch/analyze"
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

	// With a bot token, an episode's follow-ups (worse, resolved) go into
	// the thread of the message that fired it: the ts of each firing
	// message, by episode, the oldest forgotten past maxThreads. A
	// follow-up whose firing was sent by an earlier process, or forgotten,
	// is posted on its own, as with a webhook (which has no threads).
	mu      sync.Mutex
	threads map[episode]string
	order   []episode
}

// episode names one alert episode: its follow-ups share it with the alert
// that fired it.
type episode struct {
	app, dyno string
	rule      alerts.Rule
	started   int64
}

// maxThreads bounds the firing messages remembered for threading.
const maxThreads = 1000

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
		ep := episode{a.App, a.Dyno, a.Rule, a.Started.UnixNano()}
		opts := []slack.MsgOption{slack.MsgOptionText(text, false), slack.MsgOptionBlocks(blocks...), slack.MsgOptionDisableLinkUnfurl()}
		if ts := n.thread(ep); ts != "" && a.State != alerts.Firing {
			opts = append(opts, slack.MsgOptionTS(ts))
			if a.State == alerts.Resolved {
				opts = append(opts, slack.MsgOptionBroadcast()) // the channel sees it is over
			}
		}
		var ts string
		_, ts, err = n.api.PostMessageContext(ctx, n.cfg.Channel, opts...)
		if err == nil && a.State == alerts.Firing {
			n.remember(ep, ts)
		}
	}
	if err == nil {
		return false, nil
	}
	return n.classify(err)
}

func (n *Notifier) thread(ep episode) string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.threads[ep]
}

func (n *Notifier) remember(ep episode, ts string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.threads == nil {
		n.threads = map[episode]string{}
	}
	if _, ok := n.threads[ep]; !ok {
		n.order = append(n.order, ep)
	}
	n.threads[ep] = ts
	for len(n.order) > maxThreads {
		delete(n.threads, n.order[0])
		n.order = n.order[1:]
	}
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
	alerts.RuleDrops:     ":warning: Log lines dropped",
}

// advice is what to try, from what Heroku teams do, given what drainwatch
// already knows of the dyno: it points to `drainwatch analyze` only when
// that has a verdict to give.
func advice(a alerts.Alert) string {
	if a.Rule == alerts.RuleLeak || a.Rule == alerts.RuleDrops {
		return Advice[a.Rule]
	}
	var s strings.Builder
	s.WriteString("*What to try:* ")
	if a.Rule == alerts.RuleNearQuota {
		if a.SwapMB >= 1 {
			fmt.Fprintf(&s, "this dyno is already swapping (%.0f MB): R14s are close. ", a.SwapMB)
		} else {
			s.WriteString("this dyno will swap (R14) soon. ")
		}
	}
	s.WriteString("Fewer web workers (`WEB_CONCURRENCY`, Puma `workers`, gunicorn `-w`) so they fit the quota; " +
		"a worker killer (puma_worker_killer, gunicorn `--max-requests`) as a stop-gap. ")
	r := a.Report
	switch {
	case r == nil || r.Verdict == analyze.InsufficientData:
		s.WriteString("This boot has too little history to tell a leak from bloat yet (an hour of samples); `drainwatch mem --dyno " + a.Dyno + " --chart` shows its memory.")
	case r.Verdict == analyze.Bloat || r.Verdict == analyze.Stable:
		s.WriteString("drainwatch judges this boot *" + string(r.Verdict) + "*, not a leak: trim workers or threads, or tune GC (`MALLOC_ARENA_MAX=2` for Ruby), before paying for a bigger dyno.")
	default:
		s.WriteString("drainwatch judges this boot *" + string(r.Verdict) + "* (" + r.Reason + "): `drainwatch analyze --dyno " + a.Dyno + "` and `drainwatch suspects` say more.")
	}
	return s.String()
}

// Advice is what to try for each rule, from what Heroku teams do; advice
// adds what drainwatch knows of the dyno.
var Advice = map[alerts.Rule]string{
	alerts.RuleLeak: "*What to try:* find the leaking page: `drainwatch suspects` ranks paths by memory growth; " +
		"load-test a suspect alone and watch it climb (`derailed exec perf:mem_over_time`); " +
		"restart on a schedule or use a worker killer meanwhile.",
	alerts.RuleDrops: "*What to try:* check drainwatch's `/healthz` and `heroku logs` for 503s or slow answers; " +
		"if it answers fast, the app logs more than logplex buffers for a drain (about 1,500 lines): log less, or sample.",
}

// Message builds an alert's fallback text and Block Kit blocks.
func Message(a alerts.Alert, dashboardURL string) (string, []slack.Block) {
	title := titles[a.Rule]
	switch a.State {
	case alerts.Resolved:
		title = ":white_check_mark: Resolved: " + strings.TrimLeft(strings.SplitN(title, " ", 2)[1], " ")
	case alerts.Worse:
		title = ":arrow_double_up: Worse: " + strings.TrimLeft(strings.SplitN(title, " ", 2)[1], " ")
	}
	if a.Dyno == "" {
		title += ": " + a.App
	} else {
		title += ": " + a.Dyno + " of " + a.App
	}
	blocks := []slack.Block{
		slack.NewHeaderBlock(slack.NewTextBlockObject(slack.PlainTextType, Escape(clipRunes(title, 150)), true, false)),
		slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, Escape(a.Summary), false, false), nil, nil),
	}
	var fields []*slack.TextBlockObject
	field := func(k, v string) {
		fields = append(fields, slack.NewTextBlockObject(slack.MarkdownType, "*"+k+"*\n"+Escape(v), false, false))
	}
	field("App", a.App)
	if a.Dyno != "" {
		field("Dyno", a.Dyno)
	}
	field("Since", a.Started.UTC().Format("2006-01-02 15:04 UTC")+" (log time)")
	if a.MemoryMB > 0 {
		m := fmt.Sprintf("%.0f MB", a.MemoryMB)
		if a.QuotaMB > 0 {
			m += fmt.Sprintf(" of %.0f MB (%s)", a.QuotaMB, alerts.Percent(100*a.MemoryMB/a.QuotaMB))
		}
		if a.SwapMB >= 1 {
			m += fmt.Sprintf(", %.0f MB in swap", a.SwapMB)
		}
		field("Memory", m)
	}
	if r := a.Report; r != nil && a.Rule == alerts.RuleLeak {
		field("Slope", fmt.Sprintf("%+.1f MB/h (%s)", r.SlopeMBPerHour, r.Verdict))
		if r.WholeWindow {
			field("At rest", "no router traffic by design: judged on the whole window")
		} else if r.AtRest != nil {
			field("At rest", fmt.Sprintf("%s of quiet time in %d stretch(es) since %s", alerts.FormatDuration(time.Duration(r.AtRest.Minutes*float64(time.Minute))),
				len(r.AtRest.Stretches), r.AtRest.Stretches[0].From.UTC().Format("15:04 UTC")))
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
		blocks = append(blocks, slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, advice(a), false, false), nil, nil))
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
