package pending

import (
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/drainwatch/drainwatch/internal/testbody"
	"github.com/drainwatch/drainwatch/parser"
)

// fixtureEvents is the real-format fixture's lines, then router lines for
// d from 2026-11-20 10:30: /users/N every 10 s, /slow (H12) every minute.
func fixtureEvents(t testing.TB, d time.Duration) []parser.Event {
	t.Helper()
	body, err := os.ReadFile("../../parser/testdata/drain.logplex")
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 20, 10, 30, 0, 0, time.UTC)
	var b strings.Builder
	b.Write(body)
	for s := time.Duration(0); s < d; s += 10 * time.Second {
		ts := t0.Add(s).Format("2006-01-02T15:04:05.000000+00:00")
		m := fmt.Sprintf("<158>1 %s host heroku router - at=info method=GET path=\"/users/%d\" dyno=web.1 connect=1ms service=100ms status=200 bytes=10 protocol=https", ts, int(s.Seconds()))
		fmt.Fprintf(&b, "%d %s\n", len(m)+1, m)
		if int(s.Seconds())%60 == 0 {
			m = fmt.Sprintf("<158>1 %s host heroku router - at=error code=H12 desc=\"Request timeout\" method=GET path=\"/slow\" dyno=web.2 connect= service=30000ms status=503 bytes=0 protocol=https", ts)
			fmt.Fprintf(&b, "%d %s\n", len(m)+1, m)
		}
	}
	events, st := parser.ParseBody([]byte(b.String()), 0, nil)
	if st.Skipped() != 0 {
		t.Fatalf("%+v", st)
	}
	return events
}

// Every line of the real-format fixtures comes back from its encoding: the
// router lines as the rollups need them, the app's lines as app_logs text,
// the others (and router lines with an H-code) parsed again into the same
// events.
func TestEncodeDecode(t *testing.T) {
	events := fixtureEvents(t, 5*time.Minute)
	p := Encode("app", events, nil)
	var want []RouterLine
	var wantRest []parser.Event
	var wantLogs []string
	for _, ev := range events {
		switch {
		case ev.Kind == parser.KindApp:
			wantLogs = append(wantLogs, ev.Time.Format(time.RFC3339Nano)+" "+string(ev.ProcID)+" "+string(ev.Message)+"\n")
		case ev.Kind != parser.KindRouter || len(ev.Router.Code) > 0:
			wantRest = append(wantRest, ev)
		}
		if ev.Kind != parser.KindRouter {
			continue
		}
		r := ev.Router
		want = append(want, RouterLine{Unix: ev.Time.Unix(), Dyno: string(ev.Dyno), Path: parser.PathTemplate(string(r.Path)),
			Code: string(r.Code), Status: int64(r.Status), Service: r.ServiceMS, Connect: r.ConnectMS, Len: r.Bytes})
	}
	var got []RouterLine
	if err := DecodeRouter(p.Router, func(l *RouterLine) error {
		c := *l
		c.DynoIdx, c.PathIdx = 0, 0 // the batch's own
		got = append(got, c)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if p.Lines != len(want) || !reflect.DeepEqual(got, want) {
		t.Errorf("%d lines:\n got %+v\nwant %+v", p.Lines, got, want)
	}
	if string(p.Logs) != strings.Join(wantLogs, "") || p.LogsLines != len(wantLogs) || len(wantLogs) != 4 {
		t.Errorf("app lines %d:\n%s\nwant\n%s", p.LogsLines, p.Logs, strings.Join(wantLogs, ""))
	}
	rest, err := DecodeRest(p.Rest, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(rest) != len(wantRest) || len(rest) < 30 {
		t.Fatalf("%d other lines, want %d", len(rest), len(wantRest))
	}
	for i := range rest {
		g, w := rest[i], wantRest[i]
		if g.Kind != w.Kind || !g.Time.Equal(w.Time) || string(g.Message) != string(w.Message) || string(g.Dyno) != string(w.Dyno) ||
			!reflect.DeepEqual(g.Memory, w.Memory) || !reflect.DeepEqual(g.Lifecycle, w.Lifecycle) || len(g.Samples) != len(w.Samples) {
			t.Errorf("line %d:\n got %+v\nwant %+v", i, g, w)
		}
	}
	for n := range len(p.Router) { // every truncation is an error, not a panic
		if DecodeRouter(p.Router[:n], func(*RouterLine) error { return nil }) == nil {
			t.Errorf("router section truncated at %d of %d: no error", n, len(p.Router))
		}
	}
	for n := 1; n < len(p.Rest); n++ {
		if decodeRest(p.Rest[:n], func(*parser.Header) error { return nil }) == nil {
			t.Errorf("rest section truncated at %d of %d: no error", n, len(p.Rest))
		}
	}
}

func FuzzDecode(f *testing.F) {
	p := Encode("app", fixtureEvents(f, time.Minute), nil)
	f.Add(p.Router)
	f.Add(p.Rest)
	f.Fuzz(func(t *testing.T, body []byte) {
		n := 0
		err := DecodeRouter(body, func(l *RouterLine) error {
			n++
			return nil
		})
		if err == nil && n > len(body) {
			t.Errorf("%d lines from %d bytes", n, len(body))
		}
		evs, err := DecodeRest(body, nil)
		if err == nil && len(evs) > len(body) {
			t.Errorf("%d lines from %d bytes", n, len(body))
		}
	})
}

func BenchmarkEncode(b *testing.B) {
	body, n, err := testbody.Mixed("../../parser/testdata/messages.txt", 100<<10)
	if err != nil {
		b.Fatal(err)
	}
	events, st := parser.ParseBody(body, 0, nil)
	if st.Parsed != n {
		b.Fatal("parse")
	}
	for _, c := range []struct {
		name string
		f    *Folder
	}{{"plain", nil}, {"folder", NewFolder(0)}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				Encode("app", events, c.f)
			}
		})
	}
}
