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

	"golang.org/x/sync/singleflight"

	"github.com/drainwatch/drainwatch/alerts"
	"github.com/drainwatch/drainwatch/analyze"
	"github.com/drainwatch/drainwatch/store"
	"github.com/drainwatch/drainwatch/store/rollup"
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
	RequestSeries(ctx context.Context, f store.Filter, step time.Duration) ([]store.SeriesPoint, error)
	RequestsPerMinuteTopPaths(ctx context.Context, f store.Filter, top int) ([]store.PathMinuteCount, int, error)
	EachMemory(ctx context.Context, f store.Filter, fn func(*store.MemorySample) error) error
}

// Limits bound what one query reads and returns, so that no query over a
// large history (a flood of random paths, a hundred thousand one-off dynos)
// takes the daemon's memory: a list answers its oldest Rows rows unless
// asked for more (Query.Limit, up to MaxRows); requests answers the Top
// largest groups (Query.Top, up to MaxGroups) and one "(other)" row for
// the rest; dynos and analyze the Dynos dynos with the highest memory
// (Query.Limit, up to MaxGroups) and one "(other)" row per app; suspects
// fits the Paths busiest paths by name and the rest as "(other)".
type Limits struct {
	Rows, MaxRows  int
	Top, MaxGroups int
	Dynos          int
	Paths          int
}

// DefaultLimits are the limits of a Local whose Limits are zero.
var DefaultLimits = Limits{Rows: 10000, MaxRows: 100000, Top: 20, MaxGroups: 1000, Dynos: 100, Paths: 200}

// ErrLimit is wrapped by the error of a query asking for more than the
// limits allow (HTTP 400).
var ErrLimit = fmt.Errorf("%w: over the limit", ErrBadQuery)

// Local answers from a database.
type Local struct {
	DB       Store
	Analysis analyze.BootOptions
	Limits   Limits // zero: DefaultLimits

	// dynos shares one Dynos query between concurrent calls for the same
	// top dynos (the page's charts, verdicts and suspects ask at once).
	dynos singleflight.Group
}

func (l *Local) limits() Limits {
	lim := l.Limits
	def := DefaultLimits
	set := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	set(&lim.Rows, def.Rows)
	set(&lim.MaxRows, max(def.MaxRows, lim.Rows))
	set(&lim.Top, def.Top)
	set(&lim.MaxGroups, max(def.MaxGroups, lim.Top))
	set(&lim.Dynos, min(def.Dynos, lim.MaxGroups))
	set(&lim.Paths, def.Paths)
	return lim
}

// rows is q's filter with its row limit: Rows by default, at most MaxRows.
func (l *Local) rows(q Query) (store.Filter, error) {
	lim := l.limits()
	f := q.filter()
	switch {
	case f.Limit == 0:
		f.Limit = lim.Rows
	case f.Limit > lim.MaxRows:
		return f, fmt.Errorf("%w: limit=%d is more than the %d rows a query may return; narrow it (since, until, dyno)", ErrLimit, f.Limit, lim.MaxRows)
	}
	return f, nil
}

// groups returns n, or def when n is 0; more than MaxGroups is an error.
func (l *Local) groups(n, def int, what string) (int, error) {
	lim := l.limits()
	if n == 0 {
		return def, nil
	}
	if n > lim.MaxGroups {
		return 0, fmt.Errorf("%w: %d %s is more than the %d a query may return", ErrLimit, n, what, lim.MaxGroups)
	}
	return n, nil
}

var _ Querier = (*Local)(nil)

// Memory returns memory samples, oldest first: the newest up to the row
// limit.
func (l *Local) Memory(ctx context.Context, q Query) ([]store.MemorySample, error) {
	f, err := l.rows(q)
	if err != nil {
		return nil, err
	}
	return l.DB.Memory(ctx, f)
}

// EachMemory is Memory one sample at a time, none held: the API streams
// its answer from it.
func (l *Local) EachMemory(ctx context.Context, q Query, fn func(*store.MemorySample) error) error {
	f, err := l.rows(q)
	if err != nil {
		return err
	}
	return l.DB.EachMemory(ctx, f, fn)
}

// Load returns load samples, oldest first: the newest up to the row limit.
func (l *Local) Load(ctx context.Context, q Query) ([]store.LoadSample, error) {
	f, err := l.rows(q)
	if err != nil {
		return nil, err
	}
	return l.DB.Load(ctx, f)
}

// Errors returns error events, oldest first: the newest up to the row
// limit.
func (l *Local) Errors(ctx context.Context, q Query) ([]store.ErrorEvent, error) {
	f, err := l.rows(q)
	if err != nil {
		return nil, err
	}
	return l.DB.Errors(ctx, f, q.Codes...)
}

// Requests returns request statistics grouped by q.By: the q.Top largest
// groups (Limits.Top by default), and an "(other)" row for the rest.
func (l *Local) Requests(ctx context.Context, q Query) ([]store.RequestGroup, error) {
	f := q.filter()
	f.Limit = 0
	top, err := l.groups(q.Top, l.limits().Top, "groups")
	if err != nil {
		return nil, err
	}
	return l.DB.RequestStats(ctx, f, q.By, top)
}

// Alerts returns the alerts fired and resolved, the oldest first, up to
// the row limit.
func (l *Local) Alerts(ctx context.Context, q Query) ([]alerts.Alert, error) {
	f, err := l.rows(q)
	if err != nil {
		return nil, err
	}
	recs, err := l.DB.Alerts(ctx, f)
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

// Dynos summarises the dynos seen: the q.Limit (Limits.Dynos by default)
// with the highest memory, and per app an "(other)" row for the rest.
func (l *Local) Dynos(ctx context.Context, q Query) ([]store.DynoSummary, error) {
	f := q.filter()
	var err error
	if f.Limit, err = l.groups(q.Limit, l.limits().Dynos, "dynos"); err != nil {
		return nil, err
	}
	return l.DB.Dynos(ctx, f)
}

// Suspects fits memory growth against requests per path template over the
// stored history of q.App (every dyno and boot), as analyze.Suspects does.
func (l *Local) Suspects(ctx context.Context, q Query) (analyze.SuspectReport, error) {
	f := q.filter()
	f.Limit, f.Dyno = 0, ""
	var boots []analyze.Boot
	err := l.eachDynos(ctx, f, l.limits().Dynos, func(f store.Filter) error {
		b, err := l.boots(ctx, f)
		boots = append(boots, b...)
		return err
	})
	if err != nil {
		return analyze.SuspectReport{}, err
	}
	counts, paths, err := l.DB.RequestsPerMinuteTopPaths(ctx, f, l.limits().Paths)
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
	r := analyze.Suspects(boots, pc, analyze.SuspectOptions{})
	if r.Paths > 0 {
		r.Paths = paths // the paths beyond Limits.Paths came as one
	}
	return r, nil
}

// boots groups the memory samples matching f by (app, dyno, boot), in
// order, reading them one at a time.
func (l *Local) boots(ctx context.Context, f store.Filter) ([]analyze.Boot, error) {
	type bootKey struct{ app, dyno, boot string }
	type dynoKey struct{ app, dyno string }
	index := map[bootKey]int{}
	seenDyno := map[dynoKey]bool{}
	appFirst := map[string]time.Time{}
	var boots []analyze.Boot
	err := l.DB.EachMemory(ctx, f, func(s *store.MemorySample) error {
		if s.TotalMB == nil {
			return nil
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
		return nil
	})
	return boots, err
}

// Analyze runs the boot analysis over stored history: memory samples grouped
// by (app, dyno, boot), with each dyno's requests per minute. Past
// Limits.Dynos dynos (q.Limit), only those with the highest memory.
func (l *Local) Analyze(ctx context.Context, q Query) ([]analyze.Report, error) {
	f := q.filter()
	f.Limit = 0
	n, err := l.groups(q.Limit, l.limits().Dynos, "dynos")
	if err != nil {
		return nil, err
	}
	var boots []analyze.Boot
	var counts []store.MinuteCount
	err = l.eachDynos(ctx, f, n, func(f store.Filter) error {
		b, err := l.boots(ctx, f)
		if err != nil {
			return err
		}
		c, err := l.requestsPerMinute(ctx, f, b)
		boots, counts = append(boots, b...), append(counts, c...)
		return err
	})
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
	for i, b := range boots {
		b.Requests = reqs[dynoKey{b.App, b.Dyno}]
		if !b.Started.IsZero() && len(b.Points) > 0 {
			b.PeerFloorMB = analyze.PeerFloor(b.Dyno, b.Started, b.Points[len(b.Points)-1].T, sameApp(boots, i))
		}
		reports = append(reports, analyze.AnalyzeBoot(b, l.Analysis))
	}
	return reports, nil
}

// requestsPerMinute is each dyno's requests per minute over f's range.
// Minute counts are kept a while (store.Retention.Minutes), hour counts
// much longer: an hour whose minutes are gone has its count spread evenly
// over them, so that an older range is not taken to be all at rest (an
// hour whose requests came in one burst is then judged on its average).
func (l *Local) requestsPerMinute(ctx context.Context, f store.Filter, boots []analyze.Boot) ([]store.MinuteCount, error) {
	minutes, err := l.DB.RequestsPerMinute(ctx, f)
	// A series over a range the minute rows cover is read from them: it
	// would find no hour they miss.
	if err != nil || f.Since.IsZero() || f.Until.IsZero() || rollup.SeriesFromMinutes(f.Since, f.Until) {
		return minutes, err
	}
	type dynoHour struct {
		app, dyno string
		hour      int64
	}
	seen := map[dynoHour]int{}
	for _, m := range minutes {
		seen[dynoHour{m.App, m.Dyno, m.T.Truncate(time.Hour).Unix()}] += m.N
	}
	apps := map[string]bool{}
	for _, b := range boots {
		apps[b.App] = true
	}
	for app := range apps {
		hf := f
		hf.App, hf.Since = app, f.Since.Truncate(time.Hour)
		hours, err := l.DB.RequestSeries(ctx, hf, time.Hour)
		if err != nil {
			return nil, err
		}
		for _, h := range hours {
			if seen[dynoHour{app, h.Dyno, h.T.Unix()}] > 0 || h.Count <= 0 {
				continue
			}
			per, extra := h.Count/60, h.Count%60
			for i := range int64(60) {
				n := per
				if i < extra {
					n++
				}
				if t := h.T.Add(time.Duration(i) * time.Minute); n > 0 && !t.Before(f.Since) && t.Before(f.Until) {
					minutes = append(minutes, store.MinuteCount{App: app, Dyno: h.Dyno, T: t, N: int(n)})
				}
			}
		}
	}
	sort.SliceStable(minutes, func(i, j int) bool { return minutes[i].T.Before(minutes[j].T) })
	return minutes, nil
}

// sameApp returns the boots of boots[i]'s app (sorted by app, they are
// next to each other).
func sameApp(boots []analyze.Boot, i int) []analyze.Boot {
	lo, hi := i, i+1
	for lo > 0 && boots[lo-1].App == boots[i].App {
		lo--
	}
	for hi < len(boots) && boots[hi].App == boots[i].App {
		hi++
	}
	return boots[lo:hi]
}

// eachDynos calls fn once with f when f names a dyno or its range has at
// most n dynos with memory samples, and else once for each of the n with
// the highest memory, f narrowed to it.
func (l *Local) eachDynos(ctx context.Context, f store.Filter, n int, fn func(store.Filter) error) error {
	if f.Dyno != "" {
		return fn(f)
	}
	dynos, err := l.topDynos(ctx, f, n)
	if err != nil {
		return err
	}
	more := false
	for _, d := range dynos {
		more = more || d.Dyno == store.OtherDynos
	}
	if !more {
		return fn(f)
	}
	for _, d := range dynos {
		if d.Dyno == store.OtherDynos {
			continue
		}
		one := f
		one.App, one.Dyno = d.App, d.Dyno
		if err := fn(one); err != nil {
			return err
		}
	}
	return nil
}

// topDynos is the store's Dynos with a limit of n, shared by concurrent
// callers asking for the same range and n.
func (l *Local) topDynos(ctx context.Context, f store.Filter, n int) ([]store.DynoSummary, error) {
	f.Limit = n
	key := fmt.Sprintf("%q %q %d %d %d", f.App, f.Dyno, f.Since.UnixNano(), f.Until.UnixNano(), n)
	v, err, _ := l.dynos.Do(key, func() (any, error) {
		// The query is every caller's: the first going away must not
		// cancel it for the others, but its deadline still bounds it.
		shared := context.WithoutCancel(ctx)
		if d, ok := ctx.Deadline(); ok {
			var cancel context.CancelFunc
			shared, cancel = context.WithDeadline(shared, d)
			defer cancel()
		}
		return l.DB.Dynos(shared, f)
	})
	if err != nil {
		return nil, err
	}
	return v.([]store.DynoSummary), nil
}

// SharedDynos is the store's Dynos for the dashboard's charts (f.Limit, up
// to Limits.Dynos): folded (store.FoldDynos) from the Limits.Dynos dynos with
// the highest memory that the page's verdicts and suspects read at the same
// time, so that the page groups the samples by dyno once, not twice. Dynos
// without memory samples are listed up to Limits.Dynos, not f.Limit.
func (l *Local) SharedDynos(ctx context.Context, f store.Filter) ([]store.DynoSummary, error) {
	n := l.limits().Dynos
	if f.Limit <= 0 || f.Limit > n {
		return l.DB.Dynos(ctx, f)
	}
	ds, err := l.topDynos(ctx, f, n)
	if err != nil {
		return nil, err
	}
	return store.FoldDynos(ds, f.Limit), nil
}
