// Package web serves drainwatch's dashboard: one server-rendered page with an
// SVG chart of memory over time per dyno (quota line, R14/R15 marks,
// restarts, at-rest stretches), request rate and p95 service time on the
// same time axis, the alerts, and the leak/bloat verdicts. No JavaScript is
// needed; values show as SVG tooltips.
package web

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/drainwatch/drainwatch/alerts"
	"github.com/drainwatch/drainwatch/analyze"
	"github.com/drainwatch/drainwatch/internal/memchart"
	"github.com/drainwatch/drainwatch/store"
)

//go:embed page.html
var pageFS embed.FS

var page = template.Must(template.New("page.html").Funcs(template.FuncMap{
	"fmtTime": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04Z") },
	"pct":     func(f float64) string { return fmt.Sprintf("%.0f%%", f*100) },
	"mb":      func(f float64) string { return fmt.Sprintf("%.0f", f) },
	"hours": func(h *float64) string {
		if h == nil {
			return "-"
		}
		return fmt.Sprintf("%.1f h", *h)
	},
	"dur": alerts.FormatDuration,
}).ParseFS(pageFS, "page.html"))

// Source is what the page reads; store/sqlite's DB is one. The verdicts come from
// the same analysis as `drainwatch analyze` (an Analyzer). The daemon's
// Source answers Dynos from the query its verdicts and suspects share
// (api.Local.SharedDynos).
type Source interface {
	MemoryBuckets(ctx context.Context, f store.Filter, step time.Duration) ([]store.MemorySample, error)
	Errors(ctx context.Context, f store.Filter, codes ...string) ([]store.ErrorEvent, error)
	RequestSeries(ctx context.Context, f store.Filter, step time.Duration) ([]store.SeriesPoint, error)
	Alerts(ctx context.Context, f store.Filter) ([]store.AlertRecord, error)
	Dynos(ctx context.Context, f store.Filter) ([]store.DynoSummary, error)
	Apps(ctx context.Context) ([]store.AppSummary, error)
}

// Analyzer runs the boot analysis over a range (api.Local does).
type Analyzer func(ctx context.Context, app string, since, until time.Time) ([]analyze.Report, error)

// Suspecter fits the suspects over a range (api.Local does).
type Suspecter func(ctx context.Context, app string, since, until time.Time) (analyze.SuspectReport, error)

// Config configures the dashboard.
type Config struct {
	Token    string // the API token; "" turns the page off (404)
	RestRPM  float64
	Suspects Suspecter // optional: the page shows the named suspects
	// MaxCharts is how many dynos get charts, those with the highest memory
	// in the range; the others are summed up in one line. Default 20.
	MaxCharts int
	Now       func() time.Time
	Logger    *slog.Logger
}

// Handler serves GET / (the page) and POST /login.
type Handler struct {
	cfg      Config
	src      Source
	analyze  Analyzer
	sum      [32]byte
	throttle *throttle
}

// New returns the dashboard handler.
func New(cfg Config, src Source, an Analyzer) *Handler {
	if cfg.MaxCharts <= 0 {
		cfg.MaxCharts = 20
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.RestRPM <= 0 {
		cfg.RestRPM = 3
	}
	return &Handler{cfg: cfg, src: src, analyze: an, sum: sha256.Sum256([]byte(cfg.Token)), throttle: newThrottle()}
}

const cookieName = "drainwatch_token"

func (h *Handler) tokenOK(tok string) bool {
	s := sha256.Sum256([]byte(tok))
	return subtle.ConstantTimeCompare(s[:], h.sum[:]) == 1
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.cfg.Token == "" {
		http.Error(w, "the dashboard is off: set API_TOKEN on the daemon to turn it on", http.StatusNotFound)
		return
	}
	switch {
	case r.URL.Path == "/login" && r.Method == http.MethodPost:
		h.login(w, r)
		return
	case r.URL.Path != "/":
		http.NotFound(w, r)
		return
	}
	q := r.URL.Query()
	// ?token= (from a bookmark) sets the cookie and is removed from the
	// address at once (a redirect); the router's log line of this request
	// still has it, so the README recommends the form.
	if tok := q.Get("token"); tok != "" {
		q.Del("token")
		next := "/"
		if len(q) > 0 {
			next = "/?" + q.Encode()
		}
		if !h.signIn(w, r, tok, next) {
			return
		}
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	c, err := r.Cookie(cookieName)
	if err != nil || !h.tokenOK(c.Value) {
		// Signed in, the form brings the visitor back here (an alert's
		// "Open in drainwatch" link, zoomed to its episode).
		h.loginPage(w, "", r.URL.RequestURI(), http.StatusUnauthorized)
		return
	}
	h.dashboard(w, r)
}

func (h *Handler) setCookie(w http.ResponseWriter, r *http.Request, tok string) {
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: tok, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode,
		Secure: r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https", MaxAge: 30 * 24 * 3600})
}

// signIn checks a sign-in attempt, slowed down after repeated failures per
// client and overall, and sets the cookie. On failure it has answered (401,
// or 429 while slowed down) and logged it, and returns false.
func (h *Handler) signIn(w http.ResponseWriter, r *http.Request, tok, next string) bool {
	client := clientOf(r)
	now := h.cfg.Now()
	if ok, wait := h.throttle.allow(client, now); !ok {
		secs := int(wait/time.Second) + 1
		if h.throttle.warn(client, now) {
			h.cfg.Logger.Warn("sign-in throttled after repeated failures", "client", client, "retry_after_s", secs)
		}
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		h.loginPage(w, fmt.Sprintf("too many failed sign-ins: try again in %d s", secs), next, http.StatusTooManyRequests)
		return false
	}
	if !h.tokenOK(tok) {
		left := h.throttle.fail(client, now)
		h.cfg.Logger.Warn("sign-in failed: wrong token", "client", client, "tries_left_before_slowdown", left)
		h.loginPage(w, "wrong token", next, http.StatusUnauthorized)
		return false
	}
	h.setCookie(w, r, tok)
	return true
}

func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	next := safeNext(r.PostFormValue("next"))
	if !h.signIn(w, r, r.PostFormValue("token"), next) {
		return
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// safeNext returns next if it is a path on this site ("/?app=…"), else "/":
// never another host ("//evil", "/\\evil", "https://…"), so that the form
// cannot be made to send a visitor elsewhere.
func safeNext(next string) string {
	if next == "" || next[0] != '/' || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n\t") {
		return "/"
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" || !strings.HasPrefix(u.Path, "/") {
		return "/"
	}
	for _, c := range next {
		if c < 0x20 || c == 0x7f {
			return "/"
		}
	}
	return next
}

func (h *Handler) loginPage(w http.ResponseWriter, problem, next string, status int) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	page.ExecuteTemplate(w, "login", map[string]string{"Problem": problem, "Next": safeNext(next)})
}

// view is what the template renders.
type view struct {
	Apps     []string
	App      string
	Range    string
	Ranges   []string
	From, To time.Time
	Charts   []chart
	Episodes []episode
	Reports  []analyze.Report
	Suspects *analyze.SuspectReport
	Others   *store.DynoSummary // the dynos not charted, summed
	Problem  string
}

var ranges = map[string]time.Duration{"1h": time.Hour, "6h": 6 * time.Hour, "24h": 24 * time.Hour, "7d": 7 * 24 * time.Hour, "30d": 30 * 24 * time.Hour}

func (h *Handler) dashboard(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 20*time.Second)
	defer cancel()
	q := r.URL.Query()
	v := view{Ranges: []string{"1h", "6h", "24h", "7d", "30d"}, Range: q.Get("range")}
	apps, err := h.src.Apps(ctx)
	if err != nil {
		h.fail(w, err)
		return
	}
	var latest time.Time
	for _, a := range apps {
		v.Apps = append(v.Apps, a.App)
	}
	v.App = q.Get("app")
	if v.App == "" && len(v.Apps) > 0 {
		v.App = v.Apps[0]
	}
	for _, a := range apps {
		if a.App == v.App {
			latest = a.Last
		}
	}
	// The range: from/to (RFC 3339, as alert links give), else the last
	// range before the newest sample (so imported history shows too).
	v.To, v.From = parseTime(q.Get("to")), parseTime(q.Get("from"))
	if v.To.IsZero() || v.From.IsZero() || !v.From.Before(v.To) {
		d, ok := ranges[v.Range]
		if !ok {
			v.Range, d = "6h", 6*time.Hour
		}
		v.To = h.cfg.Now()
		if !latest.IsZero() && latest.Before(v.To) {
			v.To = latest.Add(time.Minute)
		}
		v.From = v.To.Add(-d)
	} else {
		v.Range = ""
	}
	f := store.Filter{App: v.App, Dyno: q.Get("dyno"), Since: v.From, Until: v.To}
	if v.App != "" {
		// The charts, the alerts, the verdicts and the suspects read the
		// database apart: at once, the page takes as long as the slowest
		// (with 100,000 one-off dynos, each of three took ~0.5 s).
		g, gctx := errgroup.WithContext(ctx)
		g.Go(func() (err error) {
			v.Charts, v.Others, err = h.charts(gctx, f)
			return err
		})
		g.Go(func() error {
			recs, err := h.src.Alerts(gctx, store.Filter{App: v.App, Since: v.From.Add(-7 * 24 * time.Hour), Until: v.To})
			v.Episodes = episodes(recs, v.From)
			return err
		})
		if h.analyze != nil {
			g.Go(func() (err error) {
				v.Reports, err = h.analyze(gctx, v.App, v.From, v.To)
				return err
			})
		}
		if h.cfg.Suspects != nil {
			g.Go(func() error {
				r, err := h.cfg.Suspects(gctx, v.App, v.From, v.To)
				v.Suspects = &r
				return err
			})
		}
		if err := g.Wait(); err != nil {
			h.fail(w, err)
			return
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := page.ExecuteTemplate(w, "page.html", v); err != nil {
		h.cfg.Logger.Error("dashboard", "error", err.Error())
	}
}

func (h *Handler) fail(w http.ResponseWriter, err error) {
	h.cfg.Logger.Error("dashboard", "error", err.Error())
	http.Error(w, "could not read history: "+err.Error(), http.StatusInternalServerError)
}

func parseTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}
	}
	return t
}

// An episode is one alert's life: fired, maybe followed up, resolved.
type episode struct {
	Dyno     string
	Rule     alerts.Rule
	Started  time.Time
	Fired    time.Time
	Resolved time.Time // zero while open
	Summary  string    // the firing message
	Latest   string    // the last follow-up, if any
	Reason   string    // why it resolved
	Worse    int       // follow-ups
}

// Open reports whether the episode is still firing.
func (e episode) Open() bool { return e.Resolved.IsZero() }

// Lasted is how long the episode lasted, or has lasted until at.
func (e episode) Lasted(at time.Time) time.Duration {
	if e.Open() {
		return at.Sub(e.Started)
	}
	return e.Resolved.Sub(e.Started)
}

// episodes groups the alert records (oldest first) into episodes: the ones
// still open and the ones that overlap the range, newest first, at most 50.
func episodes(recs []store.AlertRecord, from time.Time) []episode {
	type key struct {
		dyno string
		rule string
	}
	var all []episode
	open := map[key]int{}
	for _, r := range recs {
		k := key{r.Dyno, r.Rule}
		var a alerts.Alert
		json.Unmarshal([]byte(r.Details), &a) // the record's own fields stand when details are absent
		switch alerts.State(r.State) {
		case alerts.Firing:
			started := a.Started
			if started.IsZero() {
				started = r.Time
			}
			open[k] = len(all)
			all = append(all, episode{Dyno: r.Dyno, Rule: alerts.Rule(r.Rule), Started: started, Fired: r.Time, Summary: r.Summary})
		case alerts.Worse:
			if i, ok := open[k]; ok {
				all[i].Worse++
				all[i].Latest = r.Summary
			}
		case alerts.Resolved:
			i, ok := open[k]
			if !ok { // fired before the records read: show the end alone
				i = len(all)
				all = append(all, episode{Dyno: r.Dyno, Rule: alerts.Rule(r.Rule), Started: a.Started, Summary: r.Summary})
			}
			all[i].Resolved, all[i].Reason = r.Time, a.Reason
			delete(open, k)
		}
	}
	var out []episode
	for i := len(all) - 1; i >= 0 && len(out) < 50; i-- {
		if e := all[i]; e.Open() || !e.Resolved.Before(from) {
			out = append(out, e)
		}
	}
	return out
}

// A chart is one dyno's two SVG panels.
type chart struct {
	Dyno    string
	Memory  template.HTML
	Traffic template.HTML
	Summary string
}

const (
	chartW   = 900
	memH     = 220
	trafficH = 110
	padL     = 56
	padR     = 56
	padT     = 10
	padB     = 22
	maxCols  = 600 // downsampled to at most this many points a line
)

// charts draws a chart per dyno: every dyno when f names one or the range
// has at most MaxCharts, else the MaxCharts with the highest memory, the
// others summed up in others.
func (h *Handler) charts(ctx context.Context, f store.Filter) (_ []chart, others *store.DynoSummary, _ error) {
	span := f.Until.Sub(f.Since)
	step := max(span/maxCols, time.Minute)
	var samples []store.MemorySample
	var errs []store.ErrorEvent
	var series []store.SeriesPoint
	read := func(f store.Filter) error {
		// Downsampled in SQL to about maxCols points a dyno: a month stays fast.
		s, err := h.src.MemoryBuckets(ctx, f, max(step, 20*time.Second))
		if err != nil {
			return err
		}
		e, err := h.src.Errors(ctx, f, "R14", "R15")
		if err != nil {
			return err
		}
		p, err := h.src.RequestSeries(ctx, f, step)
		samples, errs, series = append(samples, s...), append(errs, e...), append(series, p...)
		return err
	}
	if f.Dyno != "" {
		if err := read(f); err != nil {
			return nil, nil, err
		}
	} else {
		df := f
		df.Limit = h.cfg.MaxCharts
		dynos, err := h.src.Dynos(ctx, df)
		if err != nil {
			return nil, nil, err
		}
		for _, d := range dynos {
			if d.Dyno == store.OtherDynos {
				others = &d
			}
		}
		if others == nil {
			if err := read(f); err != nil {
				return nil, nil, err
			}
		}
		for _, d := range dynos {
			// Dynos without memory samples in range get no chart.
			if others == nil || d.Dyno == store.OtherDynos || d.NoMemorySamples {
				continue
			}
			one := f
			one.Dyno = d.Dyno
			if err := read(one); err != nil {
				return nil, nil, err
			}
		}
	}
	byDyno := map[string][]store.MemorySample{}
	var names []string
	for _, s := range samples {
		if _, ok := byDyno[s.Dyno]; !ok {
			names = append(names, s.Dyno)
		}
		byDyno[s.Dyno] = append(byDyno[s.Dyno], s)
	}
	sort.Strings(names)
	var out []chart
	for _, d := range names {
		var de []store.ErrorEvent
		for _, e := range errs {
			if e.Dyno == d {
				de = append(de, e)
			}
		}
		var ds []store.SeriesPoint
		for _, p := range series {
			if p.Dyno == d {
				ds = append(ds, p)
			}
		}
		x := func(t time.Time) float64 {
			return padL + float64(t.Sub(f.Since))/float64(span)*(chartW-padL-padR)
		}
		c := chart{Dyno: d}
		c.Memory, c.Summary = memorySVG(d, byDyno[d], de, ds, x, f, step, h.cfg.RestRPM)
		c.Traffic = trafficSVG(d, ds, x, f, step)
		out = append(out, c)
	}
	return out, others, nil
}

func memorySVG(dyno string, samples []store.MemorySample, errs []store.ErrorEvent, traffic []store.SeriesPoint,
	x func(time.Time) float64, f store.Filter, step time.Duration, restRPM float64) (template.HTML, string) {
	pts := memchart.Buckets(samples, f.Since, step)
	quota := memchart.Quota(samples)
	bottom, top, maxSwap := memScale(pts, quota)
	y := func(mb float64) float64 {
		return padT + (1-(mb-bottom)/(top-bottom))*(memH-padT-padB)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="mem" viewBox="0 0 %d %d" role="img" aria-label="memory of %s">`, chartW, memH, template.HTMLEscapeString(dyno))
	fmt.Fprintf(&b, `<title>memory of %s</title>`, template.HTMLEscapeString(dyno))
	if strings.HasPrefix(dyno, "web.") {
		restShade(&b, traffic, x, f, step, restRPM)
	}
	axes(&b, f, x, memH, []float64{bottom, (bottom + top) / 2, top}, y, "MB", false)
	if quota > 0 {
		fmt.Fprintf(&b, `<line class="quota" x1="%d" x2="%d" y1="%.1f" y2="%.1f"><title>quota %.0f MB</title></line>`, padL, chartW-padR, y(quota), y(quota), quota)
	}
	// Restarts: where the boot id changes.
	restarts := memchart.Restarts(pts)
	for _, i := range restarts {
		fmt.Fprintf(&b, `<line class="restart" x1="%.1f" x2="%.1f" y1="%d" y2="%d"><title>restart %s (boot %s)</title></line>`,
			x(pts[i].T), x(pts[i].T), padT, memH-padB, pts[i].T.UTC().Format("Jan 2 15:04Z"), template.HTMLEscapeString(store.ShortBoot(pts[i].Boot)))
	}
	if len(pts) > 0 {
		memLine(&b, pts, "rss", x, y, func(p memchart.Point) float64 { return p.RSS })
		if maxSwap > 0 {
			memLine(&b, pts, "swap", x, y, func(p memchart.Point) float64 { return p.Swap })
		}
		memLine(&b, pts, "total", x, y, func(p memchart.Point) float64 { return p.Total })
	}
	// Hover values, one per point (at most maxCols).
	for _, p := range pts {
		fmt.Fprintf(&b, `<circle class="pt" cx="%.1f" cy="%.1f" r="3"><title>%s: %.0f MB total, %.0f MB RSS, %.0f MB swap</title></circle>`,
			x(p.T), y(p.Total), p.T.UTC().Format("Jan 2 15:04Z"), p.Total, p.RSS, p.Swap)
	}
	r14, r15 := errorMarks(&b, errs, x)
	b.WriteString(`</svg>`)
	summary := fmt.Sprintf("%d samples, %d restarts, %d R14, %d R15", len(samples), len(restarts), r14, r15)
	if maxSwap > 0 {
		summary += fmt.Sprintf(", up to %.0f MB swap", maxSwap)
	}
	if quota > 0 {
		summary += fmt.Sprintf(", quota %.0f MB", quota)
	}
	return template.HTML(b.String()), summary
}

// memScale is the memory chart's y axis: from below the lowest RSS (zero
// when there is swap) to above the highest total, and the quota always in
// it, so that its line shows when every sample is over it.
func memScale(pts []memchart.Point, quota float64) (bottom, top, maxSwap float64) {
	bottom = math.Inf(1)
	for _, p := range pts {
		top = math.Max(top, p.Total)
		bottom = math.Min(bottom, math.Min(p.Total, p.RSS))
		maxSwap = math.Max(maxSwap, p.Swap)
	}
	if maxSwap > 0 {
		bottom = math.Min(bottom, 0)
	}
	if quota > 0 {
		bottom = math.Min(bottom, quota)
	}
	top = math.Max(top, quota) * 1.05
	bottom = math.Max(0, bottom*0.9)
	if top <= bottom {
		top = bottom + 1
	}
	return bottom, top, maxSwap
}

// restShade shades the minutes (buckets) at rest: fewer requests than
// restRPM a minute.
func restShade(b *strings.Builder, traffic []store.SeriesPoint, x func(time.Time) float64, f store.Filter, step time.Duration, restRPM float64) {
	perMin := map[int64]float64{}
	for _, p := range traffic {
		perMin[p.T.Unix()] = float64(p.Count) / step.Minutes()
	}
	for t := f.Since; t.Before(f.Until); t = t.Add(step) {
		if perMin[t.Unix()] < restRPM {
			fmt.Fprintf(b, `<rect class="rest" x="%.1f" y="%d" width="%.2f" height="%d"/>`, x(t), padT, x(t.Add(step))-x(t), memH-padT-padB)
		}
	}
}

// memLine draws one figure of the points as a polyline per boot: a
// restart's drop is not drawn as a line.
func memLine(b *strings.Builder, pts []memchart.Point, class string, x func(time.Time) float64, y func(float64) float64, val func(memchart.Point) float64) {
	start := 0
	for i := 1; i <= len(pts); i++ {
		if i < len(pts) && pts[i].Boot == pts[i-1].Boot {
			continue
		}
		var ps []string
		for _, p := range pts[start:i] {
			ps = append(ps, fmt.Sprintf("%.1f,%.1f", x(p.T), y(val(p))))
		}
		if len(ps) == 1 {
			ps = append(ps, ps[0])
		}
		fmt.Fprintf(b, `<polyline class="%s" points="%s"/>`, class, strings.Join(ps, " "))
		start = i
	}
}

// errorMarks marks each R14 and R15 under the chart, and counts them.
func errorMarks(b *strings.Builder, errs []store.ErrorEvent, x func(time.Time) float64) (r14, r15 int) {
	for _, e := range errs {
		class := "r14"
		if e.Code == "R15" {
			class = "r15"
			r15++
		} else {
			r14++
		}
		fmt.Fprintf(b, `<path class="%s" d="M%.1f %d l5 -9 l-10 0 z"><title>%s %s</title></path>`, class, x(e.Time), memH-padB, e.Code, e.Time.UTC().Format("Jan 2 15:04:05Z"))
	}
	return r14, r15
}

func trafficSVG(dyno string, pts []store.SeriesPoint, x func(time.Time) float64, f store.Filter, step time.Duration) template.HTML {
	maxRate, maxP95 := 1.0, 1.0
	for _, p := range pts {
		maxRate = math.Max(maxRate, float64(p.Count)/step.Minutes())
		maxP95 = math.Max(maxP95, p.ServiceP95)
	}
	maxRate *= 1.1
	maxP95 *= 1.1
	yr := func(v float64) float64 { return padT + (1-v/maxRate)*(trafficH-padT-padB) }
	yp := func(v float64) float64 { return padT + (1-v/maxP95)*(trafficH-padT-padB) }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="traffic" viewBox="0 0 %d %d" role="img" aria-label="requests of %s">`, chartW, trafficH, template.HTMLEscapeString(dyno))
	axes(&b, f, x, trafficH, []float64{0, maxRate / 2, maxRate}, yr, "req/min", false)
	for _, v := range []float64{maxP95 / 2, maxP95} {
		fmt.Fprintf(&b, `<text class="axis p95" x="%d" y="%.1f">%.0f ms</text>`, chartW-padR+4, yp(v)+4, v)
	}
	// One polyline per run of consecutive buckets: a gap is drawn as a gap.
	var rate, p95 []string
	flush := func() {
		if len(rate) > 0 {
			if len(rate) == 1 {
				rate, p95 = append(rate, rate[0]), append(p95, p95[0])
			}
			fmt.Fprintf(&b, `<polyline class="rate" points="%s"><title>requests a minute</title></polyline>`, strings.Join(rate, " "))
			fmt.Fprintf(&b, `<polyline class="p95" points="%s"><title>p95 service time</title></polyline>`, strings.Join(p95, " "))
		}
		rate, p95 = rate[:0], p95[:0]
	}
	for i, p := range pts {
		if i > 0 && p.T.Sub(pts[i-1].T) > step {
			flush()
		}
		rate = append(rate, fmt.Sprintf("%.1f,%.1f", x(p.T), yr(float64(p.Count)/step.Minutes())))
		p95 = append(p95, fmt.Sprintf("%.1f,%.1f", x(p.T), yp(p.ServiceP95)))
	}
	flush()
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// axes draws the frame, y labels (left) and a few time labels.
func axes(b *strings.Builder, f store.Filter, x func(time.Time) float64, h int, ticks []float64, y func(float64) float64, unit string, right bool) {
	fmt.Fprintf(b, `<line class="frame" x1="%d" x2="%d" y1="%d" y2="%d"/>`, padL, chartW-padR, h-padB, h-padB)
	for _, v := range ticks {
		fmt.Fprintf(b, `<line class="grid" x1="%d" x2="%d" y1="%.1f" y2="%.1f"/>`, padL, chartW-padR, y(v), y(v))
		fmt.Fprintf(b, `<text class="axis" x="%d" y="%.1f" text-anchor="end">%.0f</text>`, padL-4, y(v)+4, v)
	}
	fmt.Fprintf(b, `<text class="axis" x="4" y="%d">%s</text>`, padT+4, unit)
	span := f.Until.Sub(f.Since)
	for i := 0; i <= 4; i++ {
		t := f.Since.Add(span * time.Duration(i) / 4)
		layout := "15:04"
		if span > 36*time.Hour {
			layout = "Jan 2 15:04"
		}
		anchor := "middle"
		if i == 0 {
			anchor = "start"
		} else if i == 4 {
			anchor = "end"
		}
		fmt.Fprintf(b, `<text class="axis" x="%.1f" y="%d" text-anchor="%s">%s</text>`, x(t), h-6, anchor, t.UTC().Format(layout))
	}
}
