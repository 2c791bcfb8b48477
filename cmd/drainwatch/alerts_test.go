package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drainwatch/drainwatch/alerts"
	"github.com/drainwatch/drainwatch/internal/scenario"
	"github.com/drainwatch/drainwatch/parser"
	"github.com/drainwatch/drainwatch/store"
	"github.com/drainwatch/drainwatch/store/sqlite"
)

// recordingSlack is a fake Slack webhook: it fails the first failN requests
// with failStatus, then accepts, and records what it accepted.
type recordingSlack struct {
	mu         sync.Mutex
	failN      int
	failStatus int
	requests   int
	accepted   []string // header texts, in arrival order
}

func (f *recordingSlack) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests++
	if f.requests <= f.failN {
		if f.failStatus == http.StatusGatewayTimeout {
			// Hang until the client gives up (its timeout closes the
			// connection, which ends the request's context).
			f.mu.Unlock()
			select {
			case <-r.Context().Done():
			case <-time.After(time.Minute):
			}
			f.mu.Lock()
		}
		if f.failStatus == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "0")
		}
		w.WriteHeader(f.failStatus)
		return
	}
	var msg struct {
		Blocks []struct {
			Type string `json:"type"`
			Text struct {
				Text string `json:"text"`
			} `json:"text"`
		} `json:"blocks"`
	}
	json.Unmarshal(body, &msg)
	f.accepted = append(f.accepted, msg.Blocks[0].Text.Text)
	io.WriteString(w, "ok")
}

func (f *recordingSlack) got() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.accepted...)
}

// history writes logplex bodies, one per 10 minutes of log time, for two
// dynos: worker.1 leaks 40 MB/h from 250 MB for 4 h; web.1 idles at 300 MB,
// sits at 92% of its quota for 15 minutes, goes over it with R14s for
// 2 minutes, and comes back down.
func history(start time.Time) [][]byte {
	var bodies [][]byte
	var buf bytes.Buffer
	frame := func(t time.Time, proc, msg string) {
		m := fmt.Sprintf("<45>1 %s host heroku %s - %s", t.Format("2006-01-02T15:04:05.000000+00:00"), proc, msg)
		fmt.Fprintf(&buf, "%d %s\n", len(m)+1, m)
	}
	memLine := func(dyno, boot string, mb float64) string {
		return fmt.Sprintf("source=%s dyno=heroku.1234.%s sample#memory_total=%.2fMB sample#memory_rss=%.2fMB sample#memory_cache=0.00MB sample#memory_swap=0.00MB sample#memory_pgpgin=0pages sample#memory_pgpgout=0pages sample#memory_quota=512.00MB",
			dyno, boot, mb, mb)
	}
	for s := 0; s < 4*3600; s += 20 {
		t := start.Add(time.Duration(s) * time.Second)
		h := float64(s) / 3600
		frame(t, "worker.1", memLine("worker.1", "w-boot", 250+40*h+float64(s%60)/20))
		web := 300.0
		switch {
		case s >= 3600 && s < 3600+15*60:
			web = 470
		case s >= 3600+15*60 && s < 3600+17*60:
			web = 530
			frame(t, "web.1", "Error R14 (Memory quota exceeded)")
		}
		frame(t, "web.1", memLine("web.1", "web-boot", web))
		if s%600 == 580 {
			bodies = append(bodies, append([]byte(nil), buf.Bytes()...))
			buf.Reset()
		}
	}
	return bodies
}

func startAlertServer(t *testing.T, db, hook string) *server {
	t.Helper()
	sc, _ := slackSettings(func(k string) string {
		return map[string]string{"SLACK_WEBHOOK_URL": hook}[k]
	})
	settings, err := alertSettings(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	settings.MinBackoff = 5 * time.Millisecond
	settings.MaxBackoff = 20 * time.Millisecond
	settings.Timeout = 100 * time.Millisecond
	s := &server{
		cfg: withDB(serveConfig{Addr: "127.0.0.1:0", Password: "pw", MaxBody: 1 << 20, Alerts: settings, Slack: &sc}, db),
		log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if err := s.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

// allDelivered waits until every committed batch is judged and every alert
// recorded has been delivered: then Slack has received all it ever will.
func allDelivered(t *testing.T, s *server) {
	t.Helper()
	ctx := context.Background()
	alertsJudged(t, s)
	waitFor(t, "every alert delivered", func() bool {
		pending, err := s.db.PendingDeliveries(ctx, 1)
		return err == nil && len(pending) == 0
	})
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// In log-time order: the warning comes after 10 minutes above 90% (01:10),
// the R14s at 01:15, both resolve 10 minutes after memory came down (01:27),
// and the worker's leak is judged once an hour past its 20-minute warm-up is
// in, twice in a row (01:30).
var wantSlack = []string{
	":large_orange_circle: Near memory quota: web.1 of myapp",
	":red_circle: Over memory quota: web.1 of myapp",
	":white_check_mark: Resolved: Over memory quota: web.1 of myapp",
	":white_check_mark: Resolved: Near memory quota: web.1 of myapp",
	":chart_with_upwards_trend: Memory leak at rest: worker.1 of myapp",
}

// TestAlertsEndToEnd: drain bodies in, exactly the expected Slack messages
// out, once each, in order — with Slack healthy, failing with 500s then
// recovering, and rate limiting.
func TestAlertsEndToEnd(t *testing.T) {
	start := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	bodies := history(start)
	for _, tc := range []struct {
		name   string
		failN  int
		status int
	}{
		{"slack healthy", 0, 0},
		{"slack down then back", 7, http.StatusInternalServerError},
		{"slack rate limiting", 3, http.StatusTooManyRequests},
		{"slack timing out", 3, http.StatusGatewayTimeout},
	} {
		t.Run(tc.name, func(t *testing.T) {
			backends(t, "alerts.db", func(t *testing.T, db string) { testAlertsEndToEnd(t, db, bodies, tc.failN, tc.status) })
		})
	}
}

func testAlertsEndToEnd(t *testing.T, db string, bodies [][]byte, failN, status int) {
	fake := &recordingSlack{failN: failN, failStatus: status}
	slackSrv := httptest.NewServer(fake)
	defer slackSrv.Close()
	s := startAlertServer(t, db, slackSrv.URL+"/services/T/B/SECRET")
	for i, b := range bodies {
		if code := post(t, "http://"+s.Addr()+"/logs/myapp", b, map[string]string{"Logplex-Frame-Id": fmt.Sprintf("frame-%03d", i)}); code != 200 {
			t.Fatalf("body %d: %d", i, code)
		}
	}
	allDelivered(t, s)
	if got := fake.got(); strings.Join(got, "\n") != strings.Join(wantSlack, "\n") {
		t.Fatalf("Slack got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(wantSlack, "\n"))
	}
	// Stored: the same five alerts, all delivered.
	recs, err := s.db.Alerts(context.Background(), storeFilter("myapp"))
	if err != nil || len(recs) != 5 {
		t.Fatalf("%d alerts stored: %v", len(recs), err)
	}
	for _, r := range recs {
		st, attempts, _, err := s.db.DeliveryStatus(context.Background(), r.ID)
		if err != nil || st != "sent" || attempts < 1 {
			t.Errorf("alert %d: %s after %d attempts (%v)", r.ID, st, attempts, err)
		}
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestAlertsSurviveRestart: alerts recorded while Slack is down are sent
// after a restart, once; an episode open at the restart does not fire again.
func TestAlertsSurviveRestart(t *testing.T) { backends(t, "alerts.db", testAlertsSurviveRestart) }

func testAlertsSurviveRestart(t *testing.T, db string) {
	start := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	bodies := history(start)
	down := &recordingSlack{failN: 1 << 30, failStatus: http.StatusServiceUnavailable}
	downSrv := httptest.NewServer(down)
	s := startAlertServer(t, db, downSrv.URL+"/hook")
	for i, b := range bodies[:9] { // 90 minutes: near-quota fired, over-quota fired
		post(t, "http://"+s.Addr()+"/logs/myapp", b, map[string]string{"Logplex-Frame-Id": fmt.Sprintf("f%d", i)})
	}
	alertsJudged(t, s)
	waitFor(t, "alerts recorded", func() bool { svc := s.alertService(); return svc != nil && svc.Fired.Load() >= 3 })
	s.Close(context.Background())
	downSrv.Close()

	up := &recordingSlack{}
	upSrv := httptest.NewServer(up)
	defer upSrv.Close()
	sc, _ := slackSettings(func(k string) string { return map[string]string{"SLACK_WEBHOOK_URL": upSrv.URL + "/hook"}[k] })
	s2 := &server{cfg: s.cfg, log: s.log}
	s2.cfg.Slack = &sc
	if err := s2.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer s2.Close(context.Background())
	// The rest of the history; the over-quota R14s at 75-77 min repeat in
	// body 8 (a retry of a batch stored before the restart): nothing doubles.
	for i, b := range bodies[8:] {
		post(t, "http://"+s2.Addr()+"/logs/myapp", b, map[string]string{"Logplex-Frame-Id": fmt.Sprintf("f%d", i+8)})
	}
	allDelivered(t, s2)
	if got := up.got(); strings.Join(got, "\n") != strings.Join(wantSlack, "\n") {
		t.Fatalf("after restart Slack got\n%s", strings.Join(got, "\n"))
	}
}

func TestAlertsAndAnalyzeCommands(t *testing.T) {
	s := startAlertServer(t, filepath.Join(t.TempDir(), "alerts.db"), "http://127.0.0.1:1/unused")
	for i, b := range history(time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)) {
		post(t, "http://"+s.Addr()+"/logs/myapp", b, map[string]string{"Logplex-Frame-Id": fmt.Sprintf("x%d", i)})
	}
	s.Close(context.Background())
	env := map[string]string{"DRAINWATCH_DB": s.cfg.DBPath}

	code, out, errOut := run(t, env, "", "alerts", "--app", "myapp", "--json")
	var got []alerts.Alert
	if err := json.Unmarshal([]byte(out), &got); err != nil || code != 0 {
		t.Fatalf("alerts: %d %v %s", code, err, errOut)
	}
	if len(got) != 5 || got[4].Rule != alerts.RuleLeak || got[4].Report == nil || got[4].Report.SlopeMBPerHour < 35 {
		t.Fatalf("alerts %+v", got)
	}
	code, out, _ = run(t, env, "", "alerts", "--app", "myapp", "--utc")
	if code != 0 || !strings.Contains(out, "2026-11-20 01:10:00Z  myapp  web.1     near-quota  firing") {
		t.Errorf("alerts table:\n%s", out)
	}

	code, out, _ = run(t, env, "", "analyze", "--app", "myapp", "--json")
	var reports []struct {
		Dyno    string  `json:"dyno"`
		Verdict string  `json:"verdict"`
		Slope   float64 `json:"slope_mb_per_hour"`
		App     string  `json:"app"`
	}
	if err := json.Unmarshal([]byte(out), &reports); err != nil || code != 0 || len(reports) != 2 {
		t.Fatalf("analyze: %d %v %s", code, err, out)
	}
	byDyno := map[string]string{}
	for _, r := range reports {
		byDyno[r.Dyno] = r.Verdict
		if r.Dyno == "worker.1" && (r.Slope < 38 || r.Slope > 42) {
			t.Errorf("worker slope %v", r.Slope)
		}
	}
	if byDyno["worker.1"] != "leak" || byDyno["web.1"] == "leak" {
		t.Errorf("verdicts %v", byDyno)
	}
	code, out, _ = run(t, env, "", "analyze", "--app", "myapp")
	if code != 0 || !strings.Contains(out, "worker.1") || !strings.Contains(out, "leak") || !strings.Contains(out, "VERDICT") {
		t.Errorf("analyze table:\n%s", out)
	}
}

func TestImportWithAlerts(t *testing.T) {
	dir := t.TempDir()
	var all []byte
	for _, b := range history(time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)) {
		all = append(all, b...)
	}
	env := map[string]string{"DRAINWATCH_DB": filepath.Join(dir, "imp.db")}
	code, out, errOut := run(t, env, string(all), "import", "--app", "myapp", "--alerts", "-")
	if code != 0 || !strings.Contains(out, "alerts recorded:   5") {
		t.Fatalf("import: %d\n%s\n%s", code, out, errOut)
	}
}

func TestBadAlertSettings(t *testing.T) {
	code, _, errOut := run(t, map[string]string{"DRAIN_PASSWORD": "x", "ALERT_NEAR_QUOTA": "150%", "LEAK_WINDOW": "soon"}, "", "serve", "--db", filepath.Join(t.TempDir(), "x.db"))
	if code != 1 || !strings.Contains(errOut, `ALERT_NEAR_QUOTA="150%"`) || !strings.Contains(errOut, `LEAK_WINDOW="soon"`) {
		t.Errorf("%d %s", code, errOut)
	}
}

func storeFilter(app string) store.Filter { return store.Filter{App: app} }

func TestLeakAlertRestMustFitTheWindow(t *testing.T) {
	env := map[string]string{"DRAIN_PASSWORD": "x", "LEAK_WINDOW": "2h", "LEAK_ALERT_REST": "110m"}
	code, _, errOut := run(t, env, "", "serve", "--db", filepath.Join(t.TempDir(), "x.db"))
	if code != 1 || !strings.Contains(errOut, "LEAK_ALERT_REST=1h50m0s is more quiet time than a leak window holds") {
		t.Errorf("%d %s", code, errOut)
	}
	if _, err := alertSettings(func(k string) string { return map[string]string{"LEAK_WINDOW": "2h", "LEAK_ALERT_REST": "100m"}[k] }); err != nil {
		t.Errorf("100 minutes of a 2h window past a 20m warm-up: %v", err)
	}
}

// `import --alerts` on saved logs gives the alerts the live daemon gives
// the same lines: a history of the scenario suite, imported from one file
// (in chunks of an hour of lines), against its bodies observed one by one
// as the drain would.
func TestImportAlertsMatchLive(t *testing.T) {
	start := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	for _, h := range []scenario.History{scenario.LeakAtRest6h(3, start), scenario.WorkerLeak(5, start), scenario.OverQuota(2, start)} {
		t.Run(h.Scenario, func(t *testing.T) {
			settings, err := alertSettings(func(string) string { return "" })
			if err != nil {
				t.Fatal(err)
			}
			engine := alerts.NewEngine(settings.Rules)
			var all []byte
			var live []string
			for _, b := range h.Bodies {
				all = append(all, b.Data...)
				events, _ := parser.ParseBody(b.Data, 0, nil)
				for _, o := range alerts.FromEvents("myapp", events, nil) {
					for _, a := range engine.Observe(o) {
						live = append(live, fmt.Sprintf("%s %s %s %s", a.Time.UTC().Format(time.DateTime), a.Dyno, a.Rule, a.State))
					}
				}
			}
			path := filepath.Join(t.TempDir(), "imp.db")
			if code, out, errOut := run(t, map[string]string{"DRAINWATCH_DB": path}, string(all), "import", "--app", "myapp", "--alerts", "--quiet", "-"); code != 0 {
				t.Fatalf("import: %d\n%s\n%s", code, out, errOut)
			}
			db, err := sqlite.Open(context.Background(), path, sqlite.Options{ReadOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			stored, err := db.Alerts(context.Background(), store.Filter{App: "myapp"})
			if err != nil {
				t.Fatal(err)
			}
			var imported []string
			for _, a := range stored {
				imported = append(imported, fmt.Sprintf("%s %s %s %s", a.Time.UTC().Format(time.DateTime), a.Dyno, a.Rule, a.State))
			}
			if len(live) == 0 || strings.Join(imported, "\n") != strings.Join(live, "\n") {
				t.Errorf("imported:\n%s\nlive:\n%s", strings.Join(imported, "\n"), strings.Join(live, "\n"))
			}
		})
	}
}
