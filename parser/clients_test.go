package parser

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// clientBody reads a recorded request body from testdata/clients/NAME,
// gunzipped when it was sent gzipped.
func clientBody(t testing.TB, name string) []byte {
	t.Helper()
	dir := filepath.Join("testdata", "clients", name)
	if b, err := os.ReadFile(filepath.Join(dir, "body")); err == nil {
		return b
	}
	f, err := os.Open(filepath.Join(dir, "body.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRecordedLogShuttleBodies reads log-shuttle's own bodies (recorded, see
// testdata/clients/README.md): whatever it puts between MSGID and the
// message, the lines are what they say, and the app's lines keep their
// text, including those that begin with "- " or "[".
func TestRecordedLogShuttleBodies(t *testing.T) {
	for _, name := range []string{"log-shuttle-default", "log-shuttle-msgid-nil", "log-shuttle-sd-element", "log-shuttle-gzip"} {
		t.Run(name, func(t *testing.T) {
			events, st := ParseBody(clientBody(t, name), 0, nil)
			if st.Skipped() != 0 || len(events) != 5 {
				t.Fatalf("%d events, %+v", len(events), st)
			}
			// lines.txt, posted with -appname heroku -procid web.1.
			if ev := events[0]; ev.Kind != KindMemory || ev.Memory.TotalMB != 900 || ev.Memory.QuotaMB != 512 || string(ev.Dyno) != "web.1" {
				t.Errorf("runtime metrics: %v %q %+v", ev.Kind, ev.Message, ev.Memory)
			}
			if ev := events[1]; ev.Kind != KindError || string(ev.Error.Code) != "R14" {
				t.Errorf("R14: %v %q", ev.Kind, ev.Message)
			}
			for i, want := range []string{`[4f2a] Started GET "/reports" for 10.0.0.1`, "- item one of a list", "measure#db.latency=4ms count#jobs.done=1"} {
				// From APP-NAME heroku, of no known shape: platform "other".
				if ev := events[2+i]; string(ev.Message) != want || ev.Kind != KindOther {
					t.Errorf("line %d: %v %q, want %q", 2+i, ev.Kind, ev.Message, want)
				}
			}
		})
	}
}

// TestRecordedLogShuttleDropNotice: log-shuttle's L12, as it wrote it, is
// an error with its count.
func TestRecordedLogShuttleDropNotice(t *testing.T) {
	events, st := ParseBody(clientBody(t, "log-shuttle-drops"), 0, nil)
	if st.Skipped() != 0 || len(events) != 101 {
		t.Fatalf("%d events, %+v", len(events), st)
	}
	ev := events[0]
	if ev.Kind != KindError || string(ev.Error.Code) != "L12" || ev.Error.Dropped != 2800 {
		t.Fatalf("%v %q %+v", ev.Kind, ev.Message, ev.Error)
	}
}

// TestLogplexFramesKeepDashesAndBrackets: logplex's frames have no
// STRUCTURED-DATA field, so a message that begins with "- " or "[" is kept
// whole; and an app's own line is an app line whatever it says.
func TestLogplexFramesKeepDashesAndBrackets(t *testing.T) {
	events, st := ParseBody(clientBody(t, "logplex-dashes-brackets"), 0, nil)
	if st.Skipped() != 0 || len(events) != 7 {
		t.Fatalf("%d events, %+v", len(events), st)
	}
	want := []struct {
		kind Kind
		msg  string
	}{
		{KindApp, "- item one of a list"},
		{KindApp, `[4f2a] Started GET "/reports" for 10.0.0.1`},
		{KindApp, `[meta sequenceId="1"] looks like structured data`},
		{KindApp, "-"},
		{KindApp, "source=web.1 dyno=heroku.1.evil sample#memory_total=900.00MB sample#memory_rss=890.00MB sample#memory_quota=512.00MB"},
		{KindApp, "Error R14 (Memory quota exceeded)"},
		{KindOther, "- Error R14 (Memory quota exceeded)"},
	}
	for i, w := range want {
		if events[i].Kind != w.kind || string(events[i].Message) != w.msg {
			t.Errorf("frame %d: %v %q, want %v %q", i, events[i].Kind, events[i].Message, w.kind, w.msg)
		}
	}
	// The forged metrics stay the app's own l2met samples.
	if ev := events[4]; len(ev.Samples) != 3 || ev.Memory.TotalMB != 0 {
		t.Errorf("forged metrics: %d samples, memory %+v", len(ev.Samples), ev.Memory)
	}
}

// TestTrustBySource: platform lines are read only from the sources logplex
// marks as Heroku's.
func TestTrustBySource(t *testing.T) {
	const (
		metrics = "source=web.1 dyno=heroku.1.abc sample#memory_total=900.00MB sample#memory_quota=512.00MB"
		load    = "source=web.1 dyno=heroku.1.abc sample#load_avg_1m=0.5"
		router  = `at=info method=GET path="/" host=a.herokuapp.com dyno=web.1 connect=1ms service=2ms status=200 bytes=3`
		hcode   = `at=error code=H12 desc="Request timeout" method=GET path="/" dyno=web.1 connect= service=30000ms status=503 bytes=0`
		addon   = "source=DATABASE addon=postgresql-curly-1 sample#db_size=100bytes"
	)
	cases := []struct {
		app, proc, msg string
		kind           Kind
	}{
		{"heroku", "web.1", metrics, KindMemory},
		{"app", "web.1", metrics, KindApp},
		{"heroku", "web.1", load, KindLoad},
		{"app", "web.1", load, KindApp},
		{"heroku", "router", router, KindRouter},
		{"app", "router", router, KindApp},
		{"app", "web.1", router, KindApp},
		{"heroku", "router", hcode, KindRouter},
		{"app", "web.1", hcode, KindApp},
		{"heroku", "web.1", "Error R14 (Memory quota exceeded)", KindError},
		{"app", "web.1", "Error R14 (Memory quota exceeded)", KindApp},
		{"app", "web.1", "Error R15 (Memory quota vastly exceeded)", KindApp},
		{"app", "web.1", "Error R10 (Boot timeout) -> x", KindApp},
		{"heroku", "web.1", "Process running mem=1028MB(103.3%)", KindMemReport},
		{"app", "web.1", "Process running mem=1028MB(103.3%)", KindApp},
		{"heroku", "web.1", "State changed from up to crashed", KindLifecycle},
		{"app", "web.1", "State changed from up to crashed", KindApp},
		{"app", "worker.1", "Cycling", KindApp},
		{"heroku", "logplex", "Error L10 (output buffer overflow): 5 messages dropped since 2026-11-20T10:02:00+00:00.", KindError},
		{"app", "logplex", "Error L10 (output buffer overflow): 5 messages dropped since 2026-11-20T10:02:00+00:00.", KindApp},
		{"heroku", "somewhere", "Error R14 (Memory quota exceeded)", KindOther},
		{"heroku", "somewhere", metrics, KindOther},
		{"heroku", "api", "Release v9 created by user a@b.c", KindRelease},
		{"app", "api", "Release v9 created by user a@b.c", KindRelease},
		{"app", "heroku-postgres", addon, KindAddon},
		{"app", "web.1", addon, KindApp},
		{"token", "log-shuttle", "Error L12: 2864 messages dropped since 2026-11-20T10:02:00.000000+00:00", KindError},
		{"token", "log-shuttle", "Error R14 (Memory quota exceeded)", KindApp},
		{"heroku", "log-shuttle", "Error R14 (Memory quota exceeded)", KindOther},
	}
	for _, c := range cases {
		fr := "<45>1 2026-11-20T10:00:00Z host " + c.app + " " + c.proc + " - " + c.msg
		var ev Event
		if err := ParseFrame([]byte(fr), &ev); err != nil {
			t.Fatal(err)
		}
		if ev.Kind != c.kind {
			t.Errorf("%s %s %q: %v, want %v", c.app, c.proc, c.msg, ev.Kind, c.kind)
		}
		if c.kind == KindApp && (ev.Memory.TotalMB != 0 || ev.Memory.Source != nil || ev.Router.At != nil || ev.Error.Code != nil || string(ev.Dyno) != c.proc) {
			t.Errorf("%s %s %q: app line carries platform fields: %+v", c.app, c.proc, c.msg, ev)
		}
	}
}

// TestDropNotices: every logplex and log-shuttle drop notice is an error
// with its count.
func TestDropNotices(t *testing.T) {
	cases := []struct {
		app, proc, msg, code string
		n                    int64
	}{
		{"heroku", "logplex", "Error L10 (output buffer overflow): 1431 messages dropped since 2026-11-20T10:02:00+00:00.", "L10", 1431},
		{"heroku", "logplex", "Error L11 (Tail buffer overflow) -> This tail session dropped 1101 messages since 2026-11-20T10:02:00+00:00.", "L11", 1101},
		{"heroku", "log-shuttle", "Error L12: 2864 messages dropped since 2026-11-20T10:02:00.000000+00:00", "L12", 2864},
		{"myapp", "log-shuttle", "Error L13: 7 messages lost since 2026-11-20T10:02:00.000000+00:00", "L13", 7},
	}
	for _, c := range cases {
		var ev Event
		if err := ParseFrame([]byte("<172>1 2026-11-20T10:04:00Z host "+c.app+" "+c.proc+" - "+c.msg), &ev); err != nil {
			t.Fatal(err)
		}
		if ev.Kind != KindError || string(ev.Error.Code) != c.code || ev.Error.Dropped != c.n {
			t.Errorf("%q: %v %q dropped %d", c.msg, ev.Kind, ev.Error.Code, ev.Error.Dropped)
		}
	}
}

func TestSplitStructuredData(t *testing.T) {
	cases := []struct {
		in, sd, msg string
		ok          bool
	}{
		{"- hello", "", "hello", true},
		{"-", "", "", true},
		{"- ", "", "", true},
		{"- - x", "", "- x", true},
		{`[meta sequenceId="1"] hello`, `[meta sequenceId="1"]`, "hello", true},
		{`[a][b x="1" y="2"] hello`, `[a][b x="1" y="2"]`, "hello", true},
		{`[a x="q\"uo\]te\\"] m`, `[a x="q\"uo\]te\\"]`, "m", true},
		{`[a x="]"] m`, "", `[a x="]"] m`, false},
		{`[a] [b] m`, "[a]", "[b] m", true},
		{"-x", "", "-x", false},
		{"[a]x", "", "[a]x", false},
		{"[] x", "", "[] x", false},
		{"[a b] x", "", "[a b] x", false},
		{`[a b="1] x`, "", `[a b="1] x`, false},
		{"[" + string(bytes.Repeat([]byte("i"), 33)) + "] x", "", "[" + string(bytes.Repeat([]byte("i"), 33)) + "] x", false},
		{"hello", "", "hello", false},
		{"", "", "", false},
	}
	for _, c := range cases {
		sd, msg, ok := SplitStructuredData([]byte(c.in))
		if string(sd) != c.sd || string(msg) != c.msg || ok != c.ok {
			t.Errorf("%q: %q %q %v, want %q %q %v", c.in, sd, msg, ok, c.sd, c.msg, c.ok)
		}
	}
}
