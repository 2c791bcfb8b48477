package parser

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"testing"
	"unsafe"

	"github.com/heroku/x/logplex/encoding"
	"github.com/influxdata/go-syslog/v3/rfc5424"
)

const fuzzMaxFrame = 1 << 20

// oracleSplit frames body with heroku/x's split function, the reference, and
// returns its frames up to its first error. ok is false when the oracle
// panicked (it does on negative counts such as "-1 x"), so there is nothing to
// compare with.
func oracleSplit(body []byte) (tokens [][]byte, err error, ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	s := bufio.NewScanner(bytes.NewReader(body))
	s.Buffer(make([]byte, 1024), fuzzMaxFrame+32)
	s.Split(encoding.SyslogSplitFunc)
	for s.Scan() {
		tokens = append(tokens, bytes.Clone(s.Bytes()))
	}
	return tokens, s.Err(), true
}

// strictHeaderError lists where ParseHeader is deliberately stricter than
// heroku/x's Decode, which finds "<PRI>V" anywhere in the first field with a
// regular expression and accepts PRI up to 255 and version 0.
func strictHeaderError(err error) bool {
	return errors.Is(err, ErrBadPriority) || errors.Is(err, ErrBadVersion)
}

// rfc3339 is the timestamp grammar of RFC 5424 (and 3339): two-digit hours,
// "." before at most 6 (RFC 5424) or 9 fractional digits, an offset of at
// most 23:59 (the oracle's time.Parse takes "+00:60").
var rfc3339 = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]([01]\d|2[0-3]):[0-5]\d)$`)

// strictRFC3339 reports whether the timestamp field of a frame follows that
// grammar. The oracle parses it with a time layout, which also takes one-digit
// hours and "," before the fraction; we do not.
func strictRFC3339(frame []byte) bool {
	_, rest := field(frame)
	ts, _ := field(rest)
	return rfc3339.Match(ts)
}

// compareWithOracle checks our framer and header reader against heroku/x's
// scanner on body: the same frames in the same order as far as the oracle
// gets, and the same header fields for every frame both accept.
func compareWithOracle(t *testing.T, body []byte) {
	tokens, oerr, ok := oracleSplit(body)
	if !ok {
		return
	}
	f := NewFramer(body, fuzzMaxFrame)
	for i, tok := range tokens {
		start := f.off
		ours, err := f.Next()
		if err != nil {
			// Deliberate differences: we reject a zero count and a signed count
			// ("+12"), as RFC 6587 does; the oracle accepts them.
			p := body[start:]
			p = bytes.TrimLeft(p, "\r\n ")
			if errors.Is(err, ErrBadLength) && (bytes.HasPrefix(p, []byte("+")) || len(tok) == 0 || p[0] == '0') {
				return
			}
			t.Fatalf("frame %d: we fail with %v, oracle reads %q", i, err, tok)
		}
		if ours == nil {
			t.Fatalf("frame %d: we see the end, oracle reads %q", i, tok)
		}
		if !bytes.Equal(ours, tok) {
			// Our framer skips whitespace between frames; the oracle treats it
			// as part of the next count and fails, so it never gets here.
			t.Fatalf("frame %d: we read %q, oracle %q", i, ours, tok)
		}
		// The oracle reads logplex's frames, with no STRUCTURED-DATA field
		// (FuzzStructuredData checks the other dialect against go-syslog).
		h, herr := ParseHeaderAs(tok, DialectLogplex)
		m, merr := encoding.Decode(tok, false)
		switch {
		case herr == nil && merr == nil:
			if d := sameAsOracle(h, m); d != "" {
				t.Fatalf("frame %d %q: differs from oracle: %s", i, tok, d)
			}
		case herr != nil && merr == nil:
			if !strictHeaderError(herr) && !(errors.Is(herr, ErrShortHeader) && len(trimEOL([]byte(m.Message))) == 0) &&
				!(errors.Is(herr, ErrBadTimestamp) && !strictRFC3339(tok)) {
				t.Fatalf("frame %d %q: we reject (%v), oracle accepts %+v", i, tok, herr, m)
			}
		case herr == nil && merr != nil:
			t.Fatalf("frame %d %q: we accept %+v, oracle rejects (%v)", i, tok, h, merr)
		}
	}
	if oerr == nil {
		// The oracle read the whole body: so must we, without errors.
		for !f.Done() {
			if fr, err := f.Next(); err != nil || fr != nil {
				t.Fatalf("oracle read everything, we go on with %q, %v", fr, err)
			}
		}
	}
}

func fuzzSeeds(f *testing.F) {
	f.Add(readFixture(f, "drain.logplex"))
	for _, m := range fixtureMessages(f) {
		f.Add([]byte(frame(m)))
	}
	f.Add([]byte("-1 x"))
	f.Add([]byte("+5 <1>1 x"))
	f.Add([]byte("0 "))
	f.Add([]byte("10 <13>1 2026"))
	f.Add([]byte(frame("<13>1 2026-11-20T10:00:00Z host app web.1 -")))
	f.Add([]byte(frame("x<13>1 2026-11-20T10:00:00Z host app web.1 - y")))
}

// FuzzFramer is the differential test of Framer and ParseHeader against
// heroku/x's logplex/encoding scanner, on any input.
func FuzzFramer(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		compareWithOracle(t, body)
		for _, n := range []int{1, 3} {
			sameAsChunked(t, body, DialectAuto, n)
		}
		sameAsStream(t, body, 100)
		// Whatever the input: no panic, progress on every call, and frames
		// that are views into the body.
		fr := NewFramer(body, 100)
		for calls := 0; !fr.Done(); calls++ {
			if calls > len(body)+1 {
				t.Fatal("framer makes no progress")
			}
			b, _ := fr.Next()
			if len(b) > 0 && !within(b, body) {
				t.Fatal("frame is not a view into the body")
			}
		}
	})
}

// FuzzParse checks that any frame parses without panicking, that event fields
// are views into the frame or the event's scratch space, and that a reused
// Event gives the same result as a fresh one.
func FuzzParse(f *testing.F) {
	fuzzSeeds(f)
	f.Add([]byte(`<158>1 2026-11-20T10:00:00Z host heroku router - at=info path="a\"b" dyno=web.1`))
	f.Add([]byte(`<45>1 2026-11-20T10:00:00Z host heroku web.1 - source=web.1 addon=x sample#a=1 sample#memory_total=`))
	var reused Event
	f.Fuzz(func(t *testing.T, body []byte) {
		fr := NewFramer(body, 0)
		for !fr.Done() {
			b, err := fr.Next()
			if err != nil || b == nil {
				continue
			}
			var fresh Event
			err1 := ParseFrame(b, &fresh)
			err2 := ParseFrame(b, &reused)
			if (err1 == nil) != (err2 == nil) {
				t.Fatalf("fresh %v, reused %v", err1, err2)
			}
			if err1 != nil {
				continue
			}
			checkViews(t, &fresh, b)
			if !sameEvent(&fresh, &reused) {
				t.Fatalf("reused event differs:\nfresh  %+v\nreused %+v", fresh, reused)
			}
			checkTrust(t, b, &fresh)
		}
	})
}

// checkTrust: only a line logplex marks as Heroku's is read as a platform
// line (trust by source).
func checkTrust(t *testing.T, frame []byte, ev *Event) {
	t.Helper()
	h, _ := ParseHeader(frame)
	heroku := string(h.AppName) == "heroku"
	proc := string(h.ProcID)
	switch ev.Kind {
	case KindRouter:
		if !heroku || proc != "router" {
			t.Fatalf("%q: a router line from %s %s", frame, h.AppName, h.ProcID)
		}
	case KindMemory, KindLoad, KindMemReport, KindLifecycle:
		if !heroku || !DynoName(h.ProcID) {
			t.Fatalf("%q: %v from %s %s", frame, ev.Kind, h.AppName, h.ProcID)
		}
	case KindError:
		shuttle := proc == "log-shuttle" && ev.Error.Dropped >= 0
		if !shuttle && !(heroku && (DynoName(h.ProcID) || proc == "logplex" || proc == "api")) {
			t.Fatalf("%q: an error from %s %s", frame, h.AppName, h.ProcID)
		}
	case KindApp:
		if heroku {
			t.Fatalf("%q: an app line from heroku", frame)
		}
	}
}

// FuzzStructuredData is the differential test of the RFC 5424 dialect
// (STRUCTURED-DATA skipped) against go-syslog's strict RFC 5424 parser: for
// every frame both accept, the same header fields and message; whatever
// go-syslog reads as structured data, we split off too.
func FuzzStructuredData(f *testing.F) {
	for _, name := range []string{"log-shuttle-default", "log-shuttle-msgid-nil", "log-shuttle-sd-element", "log-shuttle-drops"} {
		fr := NewFramer(clientBody(f, name), 0)
		for i := 0; i < 6; i++ {
			if b, _ := fr.Next(); b != nil {
				f.Add(bytes.Clone(b))
			}
		}
	}
	for _, m := range []string{
		`<190>1 2026-12-03T13:18:46.625776+00:00 shuttle heroku web.1 - [a x="q\"uo\]te\\"][b] [c] m`,
		`<190>1 2026-12-03T13:18:46Z d.tok app web.1 - [a x="]"] m`,
		`<190>1 2026-12-03T13:18:46Z d.tok app web.1 - -`,
		`<190>1 2026-12-03T13:18:46Z d.tok app web.1 - [x@1 k=""]`,
		"<190>1 2026-12-03T13:18:46Z d.tok app web.1 - - \xef\xbb\xbfbom",
	} {
		f.Add([]byte(m))
	}
	p := rfc5424.NewParser()
	f.Fuzz(func(t *testing.T, frame []byte) {
		h, err := ParseHeaderAs(frame, DialectRFC5424)
		if err != nil {
			return
		}
		if h.HasStructuredData && len(h.StructuredData) > 0 && !bytes.HasPrefix(h.StructuredData, []byte("[")) {
			t.Fatalf("%q: structured data %q", frame, h.StructuredData)
		}
		if !within(h.Message, frame) {
			t.Fatalf("%q: message is not a view into the frame", frame)
		}
		msg, err := p.Parse(frame)
		if err != nil {
			return // go-syslog is stricter: hostname lengths, UTF-8, …
		}
		m := msg.(*rfc5424.SyslogMessage)
		if !m.Timestamp.Equal(h.Time) || deref(m.Hostname) != nilValue(h.Host) || deref(m.Appname) != nilValue(h.AppName) ||
			deref(m.ProcID) != nilValue(h.ProcID) || deref(m.MsgID) != nilValue(h.MsgID) {
			t.Fatalf("%q: header differs: %+v vs %+v", frame, h, m)
		}
		if !h.HasStructuredData {
			t.Fatalf("%q: go-syslog reads structured data %v, we none", frame, m.StructuredData)
		}
		want := deref(m.Message)
		if got := string(h.Message); got != want && got != string(trimEOL([]byte(want))) {
			t.Fatalf("%q: message %q, go-syslog %q", frame, got, want)
		}
	})
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// nilValue is "" for RFC 5424's NILVALUE, as go-syslog reports it.
func nilValue(b []byte) string {
	if string(b) == "-" {
		return ""
	}
	return string(b)
}

// FuzzParseTextLine: any `heroku logs` line parses or is rejected, never panics.
func FuzzParseTextLine(f *testing.F) {
	for _, l := range bytes.Split(readFixture(f, "heroku-logs.txt"), []byte("\n")) {
		f.Add(l)
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		var ev Event
		if err := ParseTextLine(line, &ev); err == nil {
			checkViews(t, &ev, line)
		}
	})
}

func within(b, outer []byte) bool {
	if len(b) == 0 || len(outer) == 0 {
		return true
	}
	p := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	lo := uintptr(unsafe.Pointer(unsafe.SliceData(outer)))
	return p >= lo && p+uintptr(len(b)) <= lo+uintptr(len(outer))
}

// checkViews walks every []byte field of ev and checks it points into input or
// into the event's scratch space.
func checkViews(t *testing.T, ev *Event, input []byte) {
	t.Helper()
	scratch := ev.scratch[:cap(ev.scratch)]
	var walk func(v reflect.Value, path string)
	walk = func(v reflect.Value, path string) {
		switch v.Kind() {
		case reflect.Struct:
			for i := 0; i < v.NumField(); i++ {
				if v.Type().Field(i).Name == "scratch" {
					continue
				}
				walk(v.Field(i), path+"."+v.Type().Field(i).Name)
			}
		case reflect.Slice:
			if v.Type().Elem().Kind() == reflect.Uint8 {
				b := v.Bytes()
				if !within(b, input) && !within(b, scratch) {
					t.Fatalf("%s = %q is not a view into the input", path, b)
				}
				return
			}
			for i := 0; i < v.Len(); i++ {
				walk(v.Index(i), path)
			}
		}
	}
	walk(reflect.ValueOf(ev).Elem(), "ev")
}

func sameEvent(a, b *Event) bool {
	x, y := *a, *b
	x.scratch, y.scratch = nil, nil
	if len(x.Samples) == 0 {
		x.Samples = nil
	}
	if len(y.Samples) == 0 {
		y.Samples = nil
	}
	// Formatted, so that NaN equals NaN.
	return fmt.Sprintf("%+v", x) == fmt.Sprintf("%+v", y)
}
