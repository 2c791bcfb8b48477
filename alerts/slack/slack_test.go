package slack

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drainwatch/drainwatch/alerts"
	"github.com/drainwatch/drainwatch/analyze"
)

// fakeSlack records what it receives and answers as told.
type fakeSlack struct {
	mu       sync.Mutex
	bodies   []string
	paths    []string
	auth     []string
	status   int    // 0: 200
	retryHdr string // Retry-After on 429
	apiBody  string // body for Web API answers
}

func (f *fakeSlack) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.bodies = append(f.bodies, string(b))
	f.paths = append(f.paths, r.URL.Path)
	f.auth = append(f.auth, r.Header.Get("Authorization"))
	if f.retryHdr != "" {
		w.Header().Set("Retry-After", f.retryHdr)
	}
	if f.status != 0 {
		w.WriteHeader(f.status)
		io.WriteString(w, "<html>oops</html>")
		return
	}
	if f.apiBody != "" {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, f.apiBody)
		return
	}
	io.WriteString(w, "ok")
}

func leakAlert() alerts.Alert {
	h := 10.2
	return alerts.Alert{
		App: "myapp", Dyno: "web.1", Rule: alerts.RuleLeak, State: alerts.Firing,
		Time: time.Date(2026, 11, 20, 3, 0, 0, 0, time.UTC), Started: time.Date(2026, 11, 20, 3, 0, 0, 0, time.UTC),
		Summary:  "web.1 of myapp is leaking memory: +20.1 MB/h, at rest 100% of the last 3h0m",
		MemoryMB: 310, QuotaMB: 512, Percent: 60.5, Spark: []float64{250, 260, 270, 290, 310},
		Report: &analyze.Report{SlopeMBPerHour: 20.1, Verdict: analyze.Leak, RestShare: 1, HoursToQuota: &h,
			From: time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 11, 20, 3, 0, 0, 0, time.UTC),
			AtRest: &analyze.RestReport{Minutes: 160, Stretches: []analyze.Stretch{{From: time.Date(2026, 11, 20, 0, 20, 0, 0, time.UTC)}}}},
	}
}

func TestWebhookMessage(t *testing.T) {
	fake := &fakeSlack{}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	hook := srv.URL + "/services/T000/B000/XXXXSECRETXXXX"
	n, err := New(Config{WebhookURL: hook, DashboardURL: "https://dw.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if retry, err := n.Notify(context.Background(), leakAlert()); err != nil || retry {
		t.Fatalf("notify: %v %v", retry, err)
	}
	if len(fake.bodies) != 1 || fake.paths[0] != "/services/T000/B000/XXXXSECRETXXXX" {
		t.Fatalf("received %v", fake.paths)
	}
	var msg struct {
		Text        string           `json:"text"`
		Blocks      []map[string]any `json:"blocks"`
		UnfurlLinks *bool            `json:"unfurl_links"`
	}
	if err := json.Unmarshal([]byte(fake.bodies[0]), &msg); err != nil {
		t.Fatal(err)
	}
	body := fake.bodies[0]
	for _, want := range []string{
		"Memory leak at rest: web.1 of myapp", // header
		"+20.1 MB/h (leak)", "2h40m of quiet time in 1 stretch(es) since 00:20 UTC", "about 10.2 h at this rate", "310 MB of 512 MB (61%)",
		"2026-11-20 03:00 UTC (log time)", // since
		"▁▂▃▅█", "250 → 310 MB",           // sparkline
		"drainwatch suspects", // what to try
		"https://dw.example.com/?app=myapp\\u0026dyno=web.1\\u0026from=2026-11-20T02%3A00%3A00Z",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("message lacks %q:\n%s", want, body)
		}
	}
	if msg.Blocks[0]["type"] != "header" || msg.UnfurlLinks == nil || *msg.UnfurlLinks {
		t.Errorf("blocks %v unfurl %v", msg.Blocks[0], msg.UnfurlLinks)
	}
}

func TestEscapeStopsPingsAndLinks(t *testing.T) {
	a := leakAlert()
	a.Dyno = "<!channel> @here <https://evil.example|click> & co"
	a.Summary = "path=/<@U123> @channel"
	text, blocks := Message(a, "")
	raw, _ := json.Marshal(blocks)
	all := text + string(raw)
	for _, bad := range []string{"<!channel>", "<@U123>", "<https://evil", "@here", "@channel"} {
		if strings.Contains(all, bad) {
			t.Errorf("%q survives in %s", bad, all)
		}
	}
	if !strings.Contains(all, "&lt;!channel&gt;") {
		t.Errorf("not escaped: %s", all)
	}
}

func TestFailuresAreClassifiedAndScrubbed(t *testing.T) {
	tests := []struct {
		status    int
		retryHdr  string
		retry     bool
		retryWait time.Duration
	}{
		{500, "", true, 0},
		{503, "", true, 0},
		{429, "7", true, 7 * time.Second},
		{404, "", false, 0}, // no_service: the webhook was deleted
		{400, "", false, 0}, // invalid_payload
		{403, "", false, 0},
	}
	for _, tt := range tests {
		fake := &fakeSlack{status: tt.status, retryHdr: tt.retryHdr}
		srv := httptest.NewServer(fake)
		hook := srv.URL + "/services/T000/B000/XXXXSECRETXXXX"
		n, _ := New(Config{WebhookURL: hook})
		retry, err := n.Notify(context.Background(), leakAlert())
		srv.Close()
		if err == nil || retry != tt.retry {
			t.Errorf("%d: retry %v err %v", tt.status, retry, err)
			continue
		}
		if strings.Contains(err.Error(), "SECRET") {
			t.Errorf("%d: error shows the webhook: %v", tt.status, err)
		}
		var ra *alerts.RetryAfterError
		if got := errors.As(err, &ra); got != (tt.retryWait > 0) || (got && ra.After != tt.retryWait) {
			t.Errorf("%d: retry-after %v", tt.status, ra)
		}
	}
	// A server that is not there: retry, and the URL is not in the error.
	srv := httptest.NewServer(http.NotFoundHandler())
	hook := srv.URL + "/services/T000/B000/XXXXSECRETXXXX"
	srv.Close()
	n, _ := New(Config{WebhookURL: hook})
	retry, err := n.Notify(context.Background(), leakAlert())
	if !retry || err == nil || strings.Contains(err.Error(), "SECRET") || strings.Contains(err.Error(), hook) {
		t.Errorf("unreachable: %v %v", retry, err)
	}
}

func TestBotTokenAndChannel(t *testing.T) {
	fake := &fakeSlack{apiBody: `{"ok":true,"channel":"C123","ts":"1.2"}`}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	n, err := New(Config{Token: "xoxb-SECRET-TOKEN", Channel: "#ops", APIURL: srv.URL + "/api/"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Notify(context.Background(), leakAlert()); err != nil {
		t.Fatal(err)
	}
	form, _ := url.ParseQuery(fake.bodies[0])
	if fake.paths[0] != "/api/chat.postMessage" || form.Get("channel") != "#ops" || !strings.Contains(form.Get("blocks"), "Memory leak at rest") ||
		(fake.auth[0] != "Bearer xoxb-SECRET-TOKEN" && form.Get("token") != "xoxb-SECRET-TOKEN") {
		t.Errorf("request %s %v auth %q", fake.paths[0], form, fake.auth[0])
	}
	fake.apiBody = `{"ok":false,"error":"channel_not_found"}`
	retry, err := n.Notify(context.Background(), leakAlert())
	if err == nil || retry || strings.Contains(err.Error(), "SECRET") {
		t.Errorf("channel_not_found: %v %v", retry, err)
	}
}

// With a bot token, an episode's follow-ups go into the thread of the
// message that fired it, and its resolution is also shown in the channel;
// a follow-up of an episode fired before (by another process) stands alone.
func TestBotTokenThreadsFollowUps(t *testing.T) {
	fake := &fakeSlack{apiBody: `{"ok":true,"channel":"C123","ts":"1700000000.000100"}`}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	n, err := New(Config{Token: "xoxb-T", Channel: "#ops", APIURL: srv.URL + "/api/"})
	if err != nil {
		t.Fatal(err)
	}
	fired := leakAlert()
	worse, resolved := fired, fired
	worse.State, worse.Time = alerts.Worse, fired.Time.Add(time.Hour)
	resolved.State, resolved.Time = alerts.Resolved, fired.Time.Add(2*time.Hour)
	other := resolved
	other.Started = fired.Started.Add(-24 * time.Hour)
	for _, a := range []alerts.Alert{fired, worse, resolved, other} {
		if _, err := n.Notify(context.Background(), a); err != nil {
			t.Fatal(err)
		}
	}
	want := []struct{ thread, broadcast string }{{"", ""}, {"1700000000.000100", ""}, {"1700000000.000100", "true"}, {"", ""}}
	for i, w := range want {
		form, _ := url.ParseQuery(fake.bodies[i])
		if form.Get("thread_ts") != w.thread || form.Get("reply_broadcast") != w.broadcast {
			t.Errorf("message %d: thread_ts %q reply_broadcast %q, want %q %q", i, form.Get("thread_ts"), form.Get("reply_broadcast"), w.thread, w.broadcast)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []Config{{}, {WebhookURL: "not a url"}, {Token: "xoxb-1"}} {
		if _, err := New(c); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}

func TestSparkline(t *testing.T) {
	if got := Sparkline([]float64{1, 2, 3, 4, 5, 6, 7, 8}); got != "▁▂▃▄▅▆▇█" {
		t.Errorf("%q", got)
	}
	if got := Sparkline([]float64{5, 5, 5}); got != "▁▁▁" {
		t.Errorf("flat %q", got)
	}
}

func TestMessageQuotesSuspects(t *testing.T) {
	a := leakAlert()
	a.Suspects = []analyze.Suspect{{Path: "/leaky/:id", MBPer1k: 48.2, T: 6.2, Dynos: 3, Named: true}}
	_, blocks := Message(a, "")
	raw, _ := json.Marshal(blocks)
	if !strings.Contains(string(raw), "Suspect paths") || !strings.Contains(string(raw), "/leaky/:id: 48.2 MB per 1000 requests, on 3 dyno(s)") {
		t.Errorf("%s", raw)
	}
}

// TestMessageAdvice: the advice points to `drainwatch analyze` only when it
// has a verdict to give, says "already swapping" when swap is in use, and a
// follow-up reads as one.
func TestMessageAdvice(t *testing.T) {
	near := alerts.Alert{App: "myapp", Dyno: "web.2", Rule: alerts.RuleNearQuota, State: alerts.Firing,
		Time: time.Date(2026, 11, 20, 3, 0, 0, 0, time.UTC), Started: time.Date(2026, 11, 20, 2, 50, 0, 0, time.UTC),
		MemoryMB: 500, SwapMB: 80, QuotaMB: 512}
	raw := func(a alerts.Alert) string {
		text, blocks := Message(a, "")
		b, _ := json.Marshal(blocks)
		return text + string(b)
	}
	got := raw(near)
	for _, want := range []string{"already swapping (80 MB)", "too little history", "500 MB of 512 MB (98%), 80 MB in swap"} {
		if !strings.Contains(got, want) {
			t.Errorf("near-quota message lacks %q: %s", want, got)
		}
	}
	if strings.Contains(got, "will swap") || strings.Contains(got, "analyze --dyno") {
		t.Errorf("near-quota advice: %s", got)
	}
	near.Report = &analyze.Report{Verdict: analyze.GrowsWithTraffic, Reason: "grows with traffic: 1.80 MB per 1000 requests"}
	if got := raw(near); !strings.Contains(got, "analyze --dyno web.2") || !strings.Contains(got, "grows-with-traffic") {
		t.Errorf("with a verdict: %s", got)
	}
	over := near
	over.Rule, over.State, over.MemoryMB, over.SwapMB = alerts.RuleOverQuota, alerts.Worse, 514, 2
	if got := raw(over); !strings.Contains(got, "Worse: Over memory quota: web.2 of myapp") || !strings.Contains(got, "(100.4%)") {
		t.Errorf("follow-up: %s", got)
	}
}
