package parser

import (
	"math"
	"strings"
	"testing"
)

// parseMsg parses one unframed syslog message.
func parseMsg(t *testing.T, msg string) *Event {
	t.Helper()
	var ev Event
	if err := ParseFrame([]byte(msg+"\n"), &ev); err != nil {
		t.Fatalf("%q: %v", msg, err)
	}
	return &ev
}

// fixtureLine returns the fixture message that contains all of subs.
func fixtureLine(t *testing.T, subs ...string) string {
	t.Helper()
next:
	for _, m := range fixtureMessages(t) {
		for _, s := range subs {
			if !strings.Contains(m, s) {
				continue next
			}
		}
		return m
	}
	t.Fatalf("no fixture line with %q", subs)
	return ""
}

func TestParseRouter(t *testing.T) {
	tests := []struct {
		name  string
		subs  []string
		check func(t *testing.T, ev *Event)
	}{
		{"info", []string{"request_id=8601b555"}, func(t *testing.T, ev *Event) {
			r := ev.Router
			eq(t, "at", r.At, "info")
			eq(t, "method", r.Method, "GET")
			eq(t, "path", r.Path, "/")
			eq(t, "host", r.Host, "example-app.herokuapp.com")
			eq(t, "request_id", r.RequestID, "8601b555-6a83-4c12-8269-97c8e32cdb22")
			eq(t, "fwd", r.Fwd, "204.204.204.204")
			eq(t, "dyno", ev.Dyno, "web.1")
			eq(t, "protocol", r.Protocol, "https")
			num(t, "connect", r.ConnectMS, 1)
			num(t, "service", r.ServiceMS, 18)
			num(t, "status", int64(r.Status), 200)
			num(t, "bytes", r.Bytes, 13)
			eq(t, "code", r.Code, "")
		}},
		{"router 2.0 with several fwd", []string{"tls_version=tls1.3"}, func(t *testing.T, ev *Event) {
			eq(t, "fwd", ev.Router.Fwd, "10.1.2.3,204.204.204.204")
			eq(t, "path", ev.Router.Path, "/users/12345/posts?page=2")
			eq(t, "protocol", ev.Router.Protocol, "http2.0")
			eq(t, "tls", ev.Router.TLS, "true")
			eq(t, "tls_version", ev.Router.TLSVersion, "tls1.3")
			eq(t, "dyno", ev.Dyno, "web.2")
		}},
		{"H12 with empty connect", []string{"code=H12"}, func(t *testing.T, ev *Event) {
			eq(t, "at", ev.Router.At, "error")
			eq(t, "code", ev.Router.Code, "H12")
			eq(t, "desc", ev.Router.Desc, "Request timeout")
			num(t, "connect", ev.Router.ConnectMS, -1)
			num(t, "service", ev.Router.ServiceMS, 30000)
			num(t, "status", int64(ev.Router.Status), 503)
		}},
		{"H10 with empty dyno and bytes", []string{"code=H10"}, func(t *testing.T, ev *Event) {
			eq(t, "dyno", ev.Dyno, "")
			eq(t, "path", ev.Router.Path, "/favicon.ico")
			num(t, "service", ev.Router.ServiceMS, -1)
			num(t, "bytes", ev.Router.Bytes, -1)
		}},
		{"sock before at", []string{"code=H27"}, func(t *testing.T, ev *Event) {
			eq(t, "sock", ev.Router.Sock, "client")
			eq(t, "at", ev.Router.At, "warning")
			eq(t, "method", ev.Router.Method, "PATCH")
			num(t, "status", int64(ev.Router.Status), 499)
		}},
		{"quoted path with space, non-ASCII, unknown key", []string{"new_field=surprise"}, func(t *testing.T, ev *Event) {
			eq(t, "path", ev.Router.Path, "/search?q=café latte")
			num(t, "service", ev.Router.ServiceMS, 245)
			num(t, "bytes", ev.Router.Bytes, 5120)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := parseMsg(t, fixtureLine(t, tt.subs...))
			if ev.Kind != KindRouter {
				t.Fatalf("kind %v", ev.Kind)
			}
			tt.check(t, ev)
		})
	}
}

func TestParseRouterOddities(t *testing.T) {
	ev := parseMsg(t, `<158>1 2026-11-20T10:00:00Z host heroku router - at=info path="/a \"quoted\" b" dyno=web.1 service=1.6ms status=2x0`)
	eq(t, "path", ev.Router.Path, `/a "quoted" b`)
	num(t, "service", ev.Router.ServiceMS, 2)
	num(t, "status", int64(ev.Router.Status), -1)
	eq(t, "message kept raw", ev.Message, `at=info path="/a \"quoted\" b" dyno=web.1 service=1.6ms status=2x0`)

	// A router line with no at= is not a request: kept as a platform line.
	ev = parseMsg(t, `<158>1 2026-11-20T10:00:00Z host heroku router - something else entirely`)
	if ev.Kind != KindOther {
		t.Errorf("kind %v, want other", ev.Kind)
	}
	// Every field missing but at=.
	ev = parseMsg(t, `<158>1 2026-11-20T10:00:00Z host heroku router - at=info`)
	if ev.Kind != KindRouter || ev.Router.Status != -1 || ev.Router.ServiceMS != -1 || len(ev.Dyno) != 0 {
		t.Errorf("bare at=info: %+v", ev.Router)
	}
}

func TestParseRuntimeMetrics(t *testing.T) {
	ev := parseMsg(t, fixtureLine(t, "sample#memory_total=180.43MB"))
	if ev.Kind != KindMemory {
		t.Fatalf("kind %v", ev.Kind)
	}
	m := ev.Memory
	eq(t, "source", m.Source, "web.1")
	eq(t, "dyno", ev.Dyno, "web.1")
	eq(t, "dyno id", m.DynoID, "heroku.322071457.63c5abfd-9e45-4e8a-9f53-6a06d5e5c3b1")
	eq(t, "boot", m.Boot, "63c5abfd-9e45-4e8a-9f53-6a06d5e5c3b1")
	flt(t, "total", m.TotalMB, 180.43)
	flt(t, "rss", m.RSSMB, 180.05)
	flt(t, "cache", m.CacheMB, 0.38)
	flt(t, "swap", m.SwapMB, 0)
	num(t, "pgpgin", m.PgpgIn, 84329)
	num(t, "pgpgout", m.PgpgOut, 38140)
	flt(t, "quota", m.QuotaMB, 512)

	ev = parseMsg(t, fixtureLine(t, "source=run.2660"))
	if ev.Kind != KindMemory || ev.Memory.QuotaMB != -1 || string(ev.Dyno) != "run.2660" {
		t.Errorf("one-off dyno without quota: kind %v %+v", ev.Kind, ev.Memory)
	}

	ev = parseMsg(t, fixtureLine(t, "sample#load_avg_1m=0.21"))
	if ev.Kind != KindLoad {
		t.Fatalf("kind %v", ev.Kind)
	}
	flt(t, "1m", ev.Load.Avg1m, 0.21)
	flt(t, "5m", ev.Load.Avg5m, 0.10)
	flt(t, "15m", ev.Load.Avg15m, 0.01)
	eq(t, "boot", ev.Load.Boot, "63c5abfd-9e45-4e8a-9f53-6a06d5e5c3b1")

	ev = parseMsg(t, `<45>1 2026-11-20T10:00:00Z host heroku web.1 - source=web.1 dyno=heroku.1.abc sample#load_avg_1m=1.50 sample#load_avg_5m=0.75`)
	if ev.Kind != KindLoad || ev.Load.Avg15m != -1 || ev.Load.Avg5m != 0.75 {
		t.Errorf("load without 15m: %+v", ev.Load)
	}
}

func TestParseAddonMetrics(t *testing.T) {
	ev := parseMsg(t, fixtureLine(t, "addon=postgresql-curly-12345"))
	if ev.Kind != KindAddon {
		t.Fatalf("kind %v", ev.Kind)
	}
	eq(t, "source", ev.Addon.Source, "DATABASE")
	eq(t, "addon", ev.Addon.Name, "postgresql-curly-12345")
	if len(ev.Samples) != 16 {
		t.Fatalf("%d samples", len(ev.Samples))
	}
	s := ev.Samples[1]
	eq(t, "name", s.Name, "db_size")
	flt(t, "value", s.Value, 28510083)
	eq(t, "unit", s.Unit, "bytes")
	eq(t, "sample source", s.Source, "DATABASE")
	eq(t, "hyphenated", ev.Samples[7].Name, "load-avg-1m")
	flt(t, "load", ev.Samples[7].Value, 0.05)
}

func TestParseMemoryErrors(t *testing.T) {
	tests := []struct {
		line   string
		kind   Kind
		code   string
		mb     float64
		pct    float64
		detail string
		drop   int64
	}{
		{fixtureLine(t, "Error R14"), KindError, "R14", 0, 0, "", -1},
		{fixtureLine(t, "Error R15"), KindError, "R15", 0, 0, "", -1},
		{fixtureLine(t, "mem=680M(133.0%)"), KindMemReport, "", 680, 133.0, "", -1},
		{fixtureLine(t, "mem=1028MB(103.3%)"), KindMemReport, "", 1028, 103.3, "", -1},
		{fixtureLine(t, "Error R10"), KindError, "R10", 0, 0, "Web process failed to bind to $PORT within 60 seconds of launch", -1},
		{fixtureLine(t, "Error R12"), KindError, "R12", 0, 0, "Process failed to exit within 30 seconds of SIGTERM", -1},
		{fixtureLine(t, "Error L10"), KindError, "L10", 0, 0, "", 1431},
	}
	for _, tt := range tests {
		ev := parseMsg(t, tt.line)
		if ev.Kind != tt.kind {
			t.Errorf("%s: kind %v, want %v", tt.line, ev.Kind, tt.kind)
			continue
		}
		if tt.kind == KindMemReport {
			flt(t, "mb", ev.MemReport.MB, tt.mb)
			flt(t, "pct", ev.MemReport.Percent, tt.pct)
			continue
		}
		eq(t, "code", ev.Error.Code, tt.code)
		eq(t, "detail", ev.Error.Detail, tt.detail)
		num(t, "dropped", ev.Error.Dropped, tt.drop)
	}
	ev := parseMsg(t, fixtureLine(t, "Error R14"))
	eq(t, "desc", ev.Error.Desc, "Memory quota exceeded")
	eq(t, "dyno", ev.Dyno, "worker.1")
	ev = parseMsg(t, fixtureLine(t, "Error L10"))
	eq(t, "L10 dyno", ev.Dyno, "")
}

func TestParseLifecycle(t *testing.T) {
	tests := []struct {
		sub    string
		action Action
		from   string
		to     string
		status int
	}{
		{"Stopping process with SIGKILL", ActionSIGKILL, "", "", -1},
		{"status 137", ActionExited, "", "", 137},
		{"status 143", ActionExited, "", "", 143},
		{"from up to crashed", ActionState, "up", "crashed", -1},
		{"from starting to up", ActionState, "starting", "up", -1},
		{"Cycling", ActionCycling, "", "", -1},
		{"Restarting", ActionRestarting, "", "", -1},
		{"Idling", ActionIdling, "", "", -1},
		{"SIGTERM", ActionSIGTERM, "", "", -1},
		{"Starting process", ActionStarting, "", "", -1},
	}
	for _, tt := range tests {
		ev := parseMsg(t, fixtureLine(t, tt.sub))
		if ev.Kind != KindLifecycle || ev.Lifecycle.Action != tt.action {
			t.Errorf("%s: kind %v action %v", tt.sub, ev.Kind, ev.Lifecycle.Action)
			continue
		}
		eq(t, tt.sub+" from", ev.Lifecycle.From, tt.from)
		eq(t, tt.sub+" to", ev.Lifecycle.To, tt.to)
		num(t, tt.sub+" status", int64(ev.Lifecycle.Status), int64(tt.status))
	}
	if ev := parseMsg(t, fixtureLine(t, "from up to crashed")); !ev.Lifecycle.Crashed() {
		t.Error("crash not recognised")
	}
	ev := parseMsg(t, fixtureLine(t, "Starting process"))
	eq(t, "command", ev.Lifecycle.Command, "bundle exec sidekiq -C config/sidekiq.yml")
}

func TestParseAPI(t *testing.T) {
	ev := parseMsg(t, fixtureLine(t, "Release v9"))
	if ev.Kind != KindRelease || ev.Release.Version != 9 {
		t.Fatalf("release: %v %+v", ev.Kind, ev.Release)
	}
	eq(t, "by", ev.Release.By, "someone@example.com")
	ev = parseMsg(t, fixtureLine(t, "Release v10"))
	if ev.Kind != KindRelease || ev.Release.Version != 10 {
		t.Fatalf("heroku api release: %v %+v", ev.Kind, ev.Release)
	}
	ev = parseMsg(t, fixtureLine(t, "Scaled to"))
	if ev.Kind != KindScale {
		t.Fatalf("kind %v", ev.Kind)
	}
	eq(t, "formation", ev.Scale.Formation, "web@4:Standard-1X worker@1:Standard-2X")
	eq(t, "by", ev.Scale.By, "someone@example.com")
}

func TestParseAppLines(t *testing.T) {
	ev := parseMsg(t, fixtureLine(t, "Completed 200 OK"))
	if ev.Kind != KindApp || len(ev.Samples) != 0 {
		t.Fatalf("plain app line: %v %d samples", ev.Kind, len(ev.Samples))
	}
	eq(t, "dyno", ev.Dyno, "web.1")

	ev = parseMsg(t, fixtureLine(t, "measure#db.latency"))
	want := []struct {
		typ   SampleType
		name  string
		value float64
		unit  string
	}{
		{Measure, "db.latency", 4, "ms"},
		{Count, "db.vacuum", 1, ""},
		{Gauge, "db.size", 100, "GB"},
		{Unique, "user.clicked", math.NaN(), ""},
	}
	if len(ev.Samples) != len(want) {
		t.Fatalf("%d samples", len(ev.Samples))
	}
	for i, w := range want {
		s := ev.Samples[i]
		if s.Type != w.typ || string(s.Name) != w.name || string(s.Unit) != w.unit || !sameFloat(s.Value, w.value) {
			t.Errorf("sample %d: %v %s %v %s", i, s.Type, s.Name, s.Value, s.Unit)
		}
		eq(t, "source", s.Source, "web.1")
	}
	eq(t, "unique text", ev.Samples[3].Text, "bob")

	ev = parseMsg(t, fixtureLine(t, "sidekiq.job.duration"))
	if len(ev.Samples) != 2 || ev.Samples[0].Value != 1.25 || string(ev.Samples[0].Unit) != "s" || ev.Samples[1].Value != 1 {
		t.Errorf("samples %+v", ev.Samples)
	}
	if !strings.Contains(string(ev.Message), "ünïcødé ✓") {
		t.Error("non-ASCII message not kept")
	}

	long := fixtureLine(t, "params=xxxx")
	ev = parseMsg(t, long)
	if len(ev.Message) < 12000 || ev.Kind != KindApp {
		t.Errorf("long line: %d bytes, kind %v", len(ev.Message), ev.Kind)
	}
}

// TestParseEveryFixtureLine makes sure every fixture line gets the kind its
// shape says, so a new fixture without a test still gets checked.
func TestParseEveryFixtureLine(t *testing.T) {
	counts := map[Kind]int{}
	var ev Event // reused, as the drain does
	for _, m := range fixtureMessages(t) {
		if err := ParseFrame([]byte(m), &ev); err != nil {
			t.Fatalf("%q: %v", m, err)
		}
		counts[ev.Kind]++
	}
	want := map[Kind]int{KindRouter: 6, KindMemory: 3, KindLoad: 1, KindMemReport: 3, KindError: 6,
		KindLifecycle: 12, KindRelease: 2, KindScale: 1, KindAddon: 1, KindApp: 4}
	for k, n := range want {
		if counts[k] != n {
			t.Errorf("%v: %d lines, want %d", k, counts[k], n)
		}
	}
	if counts[KindOther] != 0 {
		t.Errorf("%d fixture lines not recognised", counts[KindOther])
	}
}

func TestParseTextLine(t *testing.T) {
	var ev Event
	err := ParseTextLine([]byte("2017-10-19T09:58:58.775050+00:00 heroku[web.1]: Process running mem=680M(133.0%)\n"), &ev)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Kind != KindMemReport || ev.MemReport.MB != 680 || string(ev.Dyno) != "web.1" || ev.Time.Year() != 2017 {
		t.Errorf("got %v %+v %s %v", ev.Kind, ev.MemReport, ev.Dyno, ev.Time)
	}
	for _, bad := range []string{"", "hello", "2017-10-19T09:58:58Z heroku web.1: x", "2017-10-19T09:58:58Z [web.1]: x", "notatime heroku[web.1]: x"} {
		if err := ParseTextLine([]byte(bad), &ev); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	// Every line of the fixture parses, and gets the same kind as the same
	// message from a drain.
	lines := strings.Split(strings.TrimSpace(string(readFixture(t, "heroku-logs.txt"))), "\n")
	if len(lines) != len(fixtureMessages(t))+2 {
		t.Fatalf("%d lines", len(lines))
	}
	for _, l := range lines {
		if err := ParseTextLine([]byte(l), &ev); err != nil {
			t.Errorf("%q: %v", l, err)
		}
		if ev.Kind == KindOther {
			t.Errorf("%q: not recognised", l)
		}
	}
}

func eq(t *testing.T, what string, got []byte, want string) {
	t.Helper()
	if string(got) != want {
		t.Errorf("%s = %q, want %q", what, got, want)
	}
}

func num(t *testing.T, what string, got, want int64) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %d, want %d", what, got, want)
	}
}

func flt(t *testing.T, what string, got, want float64) {
	t.Helper()
	if math.Abs(got-want) > 1e-9 {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

func sameFloat(a, b float64) bool {
	return a == b || math.IsNaN(a) && math.IsNaN(b)
}
