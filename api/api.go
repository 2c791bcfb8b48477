// Package api is drainwatch's read API: the queries the CLI asks, answered
// from a local database (Local) or from a running daemon over HTTP (Client),
// and the daemon's HTTP handler that serves them as JSON (Handler). Local and
// Client give identical results for the same Query.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/drainwatch/drainwatch/alerts"
	"github.com/drainwatch/drainwatch/analyze"
	"github.com/drainwatch/drainwatch/store"
)

// Query is the filter every query takes. Times are absolute: callers resolve
// "6h ago" before asking, so a daemon and a local file answer the same thing.
type Query struct {
	App   string
	Dyno  string
	Since time.Time
	Until time.Time
	Limit int
	By    string   // requests: path, status or dyno
	Top   int      // requests: how many groups
	Codes []string // errors: only these codes
}

func (q Query) filter() store.Filter {
	return store.Filter{App: q.App, Dyno: q.Dyno, Since: q.Since, Until: q.Until, Limit: q.Limit}
}

// Values encodes q as URL query parameters.
func (q Query) Values() url.Values {
	v := url.Values{}
	set := func(k, s string) {
		if s != "" {
			v.Set(k, s)
		}
	}
	set("app", q.App)
	set("dyno", q.Dyno)
	if !q.Since.IsZero() {
		v.Set("since", q.Since.UTC().Format(time.RFC3339Nano))
	}
	if !q.Until.IsZero() {
		v.Set("until", q.Until.UTC().Format(time.RFC3339Nano))
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	set("by", q.By)
	if q.Top > 0 {
		v.Set("top", strconv.Itoa(q.Top))
	}
	set("code", strings.Join(q.Codes, ","))
	return v
}

// ErrBadQuery is wrapped by errors about a malformed query (HTTP 400).
var ErrBadQuery = errors.New("bad query")

// ParseQuery decodes URL parameters into a Query. Times are RFC 3339.
func ParseQuery(v url.Values) (Query, error) {
	q := Query{App: v.Get("app"), Dyno: v.Get("dyno"), By: v.Get("by")}
	var err error
	parseTime := func(k string) time.Time {
		s := v.Get(k)
		if s == "" || err != nil {
			return time.Time{}
		}
		t, perr := time.Parse(time.RFC3339Nano, s)
		if perr != nil {
			err = fmt.Errorf("%w: %s=%q is not an RFC 3339 time", ErrBadQuery, k, s)
		}
		return t
	}
	parseInt := func(k string) int {
		s := v.Get(k)
		if s == "" || err != nil {
			return 0
		}
		n, perr := strconv.Atoi(s)
		if perr != nil || n < 0 {
			err = fmt.Errorf("%w: %s=%q is not a count", ErrBadQuery, k, s)
		}
		return n
	}
	q.Since, q.Until = parseTime("since"), parseTime("until")
	q.Limit, q.Top = parseInt("limit"), parseInt("top")
	for _, c := range strings.Split(v.Get("code"), ",") {
		if c = strings.TrimSpace(c); c != "" {
			q.Codes = append(q.Codes, c)
		}
	}
	if err == nil && q.By != "" && q.By != "path" && q.By != "status" && q.By != "dyno" {
		err = fmt.Errorf("%w: by=%q: want path, status or dyno", ErrBadQuery, q.By)
	}
	return q, err
}

// Querier answers the CLI's queries. Local and Client implement it.
type Querier interface {
	Memory(ctx context.Context, q Query) ([]store.MemorySample, error)
	Load(ctx context.Context, q Query) ([]store.LoadSample, error)
	Errors(ctx context.Context, q Query) ([]store.ErrorEvent, error)
	Requests(ctx context.Context, q Query) ([]store.RequestGroup, error)
	Alerts(ctx context.Context, q Query) ([]alerts.Alert, error)
	Analyze(ctx context.Context, q Query) ([]analyze.Report, error)
	Dynos(ctx context.Context, q Query) ([]store.DynoSummary, error)
	Suspects(ctx context.Context, q Query) (analyze.SuspectReport, error)
}

// Store is what Local reads; store/sqlite's DB is one.
type Store interface {
	Memory(ctx context.Context, f store.Filter) ([]store.MemorySample, error)
	Load(ctx context.Context, f store.Filter) ([]store.LoadSample, error)
	Errors(ctx context.Context, f store.Filter, codes ...string) ([]store.ErrorEvent, error)
	RequestStats(ctx context.Context, f store.Filter, by string, top int) ([]store.RequestGroup, error)
	Alerts(ctx context.Context, f store.Filter) ([]store.AlertRecord, error)
	Dynos(ctx context.Context, f store.Filter) ([]store.DynoSummary, error)
	RequestsPerMinute(ctx context.Context, f store.Filter) ([]store.MinuteCount, error)
	RequestsPerMinuteByPath(ctx context.Context, f store.Filter) ([]store.PathMinuteCount, error)
}

// Local answers from a database.
type Local struct {
	DB       Store
	Analysis analyze.BootOptions
}

var _ Querier = (*Local)(nil)

// Memory returns memory samples.
func (l *Local) Memory(ctx context.Context, q Query) ([]store.MemorySample, error) {
	return l.DB.Memory(ctx, q.filter())
}

// Load returns load samples.
func (l *Local) Load(ctx context.Context, q Query) ([]store.LoadSample, error) {
	return l.DB.Load(ctx, q.filter())
}

// Errors returns error events.
func (l *Local) Errors(ctx context.Context, q Query) ([]store.ErrorEvent, error) {
	return l.DB.Errors(ctx, q.filter(), q.Codes...)
}

// Requests returns request statistics grouped by q.By.
func (l *Local) Requests(ctx context.Context, q Query) ([]store.RequestGroup, error) {
	f := q.filter()
	f.Limit = 0
	return l.DB.RequestStats(ctx, f, q.By, q.Top)
}

// Alerts returns the alerts fired and resolved.
func (l *Local) Alerts(ctx context.Context, q Query) ([]alerts.Alert, error) {
	recs, err := l.DB.Alerts(ctx, q.filter())
	if err != nil {
		return nil, err
	}
	out := make([]alerts.Alert, 0, len(recs))
	for _, r := range recs {
		var a alerts.Alert
		if err := json.Unmarshal([]byte(r.Details), &a); err != nil {
			return nil, fmt.Errorf("alert %d: %w", r.ID, err)
		}
		a.ID = r.ID
		out = append(out, a)
	}
	return out, nil
}

// Dynos summarises the dynos seen.
func (l *Local) Dynos(ctx context.Context, q Query) ([]store.DynoSummary, error) {
	f := q.filter()
	f.Limit = 0
	return l.DB.Dynos(ctx, f)
}

// Suspects fits memory growth against requests per path template over the
// stored history of q.App (every dyno and boot), as analyze.Suspects does.
func (l *Local) Suspects(ctx context.Context, q Query) (analyze.SuspectReport, error) {
	f := q.filter()
	f.Limit, f.Dyno = 0, ""
	boots, err := l.boots(ctx, f)
	if err != nil {
		return analyze.SuspectReport{}, err
	}
	counts, err := l.DB.RequestsPerMinuteByPath(ctx, f)
	if err != nil {
		return analyze.SuspectReport{}, err
	}
	pc := make([]analyze.PathCount, 0, len(counts))
	for _, c := range counts {
		if q.App == "" || c.App == q.App {
			pc = append(pc, analyze.PathCount{Dyno: c.App + "/" + c.Dyno, Path: c.Path, T: c.T, N: c.N})
		}
	}
	for i := range boots {
		boots[i].Dyno = boots[i].App + "/" + boots[i].Dyno
	}
	return analyze.Suspects(boots, pc, analyze.SuspectOptions{}), nil
}

// boots groups the memory samples matching f by (app, dyno, boot), in order.
func (l *Local) boots(ctx context.Context, f store.Filter) ([]analyze.Boot, error) {
	samples, err := l.DB.Memory(ctx, f)
	if err != nil {
		return nil, err
	}
	type bootKey struct{ app, dyno, boot string }
	type dynoKey struct{ app, dyno string }
	index := map[bootKey]int{}
	seenDyno := map[dynoKey]bool{}
	appFirst := map[string]time.Time{}
	var boots []analyze.Boot
	for _, s := range samples {
		if s.TotalMB == nil {
			continue
		}
		if _, ok := appFirst[s.App]; !ok {
			appFirst[s.App] = s.Time
		}
		k := bootKey{s.App, s.Dyno, s.Boot}
		i, ok := index[k]
		if !ok {
			i = len(boots)
			index[k] = i
			b := analyze.Boot{App: s.App, Dyno: s.Dyno, Boot: s.Boot}
			// A boot's start is known, as in the alert engine, when the
			// dyno had another boot before it, or is new beside the app's
			// other dynos; otherwise it began before the range.
			dk := dynoKey{s.App, s.Dyno}
			if seenDyno[dk] || s.Time.Sub(appFirst[s.App]) >= analyze.NewDynoAfter {
				b.Started = s.Time
			}
			seenDyno[dk] = true
			boots = append(boots, b)
		}
		b := &boots[i]
		b.Points = append(b.Points, analyze.Point{T: s.Time, MB: *s.TotalMB})
		if s.QuotaMB != nil {
			b.QuotaMB = *s.QuotaMB
		}
	}
	return boots, nil
}

// Analyze runs the boot analysis over stored history: memory samples grouped
// by (app, dyno, boot), with each dyno's requests per minute.
func (l *Local) Analyze(ctx context.Context, q Query) ([]analyze.Report, error) {
	f := q.filter()
	f.Limit = 0
	boots, err := l.boots(ctx, f)
	if err != nil {
		return nil, err
	}
	counts, err := l.DB.RequestsPerMinute(ctx, f)
	if err != nil {
		return nil, err
	}
	type dynoKey struct{ app, dyno string }
	reqs := map[dynoKey][]analyze.Count{}
	for _, c := range counts {
		k := dynoKey{c.App, c.Dyno}
		reqs[k] = append(reqs[k], analyze.Count{T: c.T, N: c.N})
	}
	sort.SliceStable(boots, func(i, j int) bool {
		if boots[i].App != boots[j].App {
			return boots[i].App < boots[j].App
		}
		return boots[i].Dyno < boots[j].Dyno
	})
	reports := make([]analyze.Report, 0, len(boots))
	for _, b := range boots {
		b.Requests = reqs[dynoKey{b.App, b.Dyno}]
		reports = append(reports, analyze.AnalyzeBoot(b, l.Analysis))
	}
	return reports, nil
}
