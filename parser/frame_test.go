package parser

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/heroku/x/logplex/encoding"
)

// frame octet-counts msg as logplex does: the count includes the trailing LF.
func frame(msg string) string {
	return itoa(len(msg)+1) + " " + msg + "\n"
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fixtureMessages returns testdata/messages.txt, one syslog message a line.
func fixtureMessages(t testing.TB) []string {
	lines := strings.Split(strings.TrimSuffix(string(readFixture(t, "messages.txt")), "\n"), "\n")
	return lines
}

func allFrames(body []byte, max int) (frames []string, errs []error) {
	f := NewFramer(body, max)
	for !f.Done() {
		fr, err := f.Next()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if fr != nil {
			frames = append(frames, string(fr))
		}
	}
	return frames, errs
}

func TestFramerFixtureBody(t *testing.T) {
	body := readFixture(t, "drain.logplex")
	want := fixtureMessages(t)
	frames, errs := allFrames(body, 0)
	if len(errs) != 0 {
		t.Fatalf("errors: %v", errs)
	}
	if len(frames) != len(want) {
		t.Fatalf("got %d frames, want %d", len(frames), len(want))
	}
	for i := range want {
		if got := strings.TrimSuffix(frames[i], "\n"); got != want[i] {
			t.Errorf("frame %d:\n got %q\nwant %q", i, got, want[i])
		}
	}
	// The L10 notice has no trailing LF; every other frame has one.
	for i, fr := range frames {
		l10 := strings.Contains(fr, "Error L10")
		if l10 == strings.HasSuffix(fr, "\n") {
			t.Errorf("frame %d: trailing LF = %v, L10 = %v", i, strings.HasSuffix(fr, "\n"), l10)
		}
	}
}

func TestFramerBroken(t *testing.T) {
	good := "<158>1 2026-11-20T10:00:00+00:00 host heroku router - at=info path=/ dyno=web.1 status=200"
	tests := []struct {
		name      string
		body      string
		maxFrame  int
		frames    int
		errs      []error
		lastFrame string
	}{
		{"empty", "", 0, 0, nil, ""},
		{"only newlines", "\n\n", 0, 0, nil, ""},
		{"one", frame(good), 0, 1, nil, good + "\n"},
		{"no count", good, 0, 0, []error{ErrBadLength}, ""},
		{"non-numeric count", "abc " + good, 0, 0, []error{ErrBadLength}, ""},
		{"negative count", "-5 " + good, 0, 0, []error{ErrBadLength}, ""},
		{"plus sign", "+94 " + good, 0, 0, []error{ErrBadLength}, ""},
		{"zero count", "0 " + frame(good), 0, 0, []error{ErrBadLength}, ""},
		{"count too large", "999 " + good + "\n", 0, 0, []error{ErrTruncated}, ""},
		{"huge count", "99999999999999999999 x", 0, 0, []error{ErrBadLength}, ""},
		{"truncated last", frame(good) + frame(good)[:50], 0, 1, []error{ErrTruncated}, good + "\n"},
		{"garbage then good", "garbage here\n" + frame(good), 0, 1, []error{ErrBadLength}, good + "\n"},
		{"good garbage good", frame(good) + "#!@ junk\n" + frame(good), 0, 2, []error{ErrBadLength}, good + "\n"},
		{"too large skipped", frame(good+strings.Repeat("x", 100)) + frame(good), 100, 1, []error{ErrTooLarge}, good + "\n"},
		{"count without LF", itoa(len(good)) + " " + good + itoa(len(good)) + " " + good, 0, 2, nil, good},
		{"stray newline between", frame(good) + "\n" + frame(good), 0, 2, nil, good + "\n"},
		{"count excludes LF", itoa(len(good)) + " " + good + "\n" + itoa(len(good)) + " " + good + "\n", 0, 2, nil, good},
		{"NUL bytes", "\x00\x00\x00 " + frame(good), 0, 0, []error{ErrBadLength}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			frames, errs := allFrames([]byte(tt.body), tt.maxFrame)
			if len(frames) != tt.frames {
				t.Fatalf("got %d frames %q, want %d", len(frames), frames, tt.frames)
			}
			if len(errs) != len(tt.errs) {
				t.Fatalf("got errors %v, want %v", errs, tt.errs)
			}
			for i := range errs {
				if !errors.Is(errs[i], tt.errs[i]) {
					t.Errorf("error %d = %v, want %v", i, errs[i], tt.errs[i])
				}
				var fe *FrameError
				if !errors.As(errs[i], &fe) {
					t.Errorf("error %d is not a *FrameError", i)
				}
			}
			if tt.frames > 0 && frames[len(frames)-1] != tt.lastFrame {
				t.Errorf("last frame %q, want %q", frames[len(frames)-1], tt.lastFrame)
			}
		})
	}
}

func TestParseHeader(t *testing.T) {
	tests := []struct {
		frame string
		err   error
		want  Header
	}{
		{"<158>1 2026-11-20T10:00:00.123456+00:00 host heroku router - at=info\n", nil, Header{
			Priority: 158, Version: 1, Time: time.Date(2026, 11, 20, 10, 0, 0, 123456000, time.UTC),
			Host: []byte("host"), AppName: []byte("heroku"), ProcID: []byte("router"), MsgID: []byte("-"), Message: []byte("at=info"),
		}},
		{"<45>1 2026-11-20T12:00:00-02:00 d.1234 app web.1 - hello world\r\n", nil, Header{
			Priority: 45, Version: 1, Time: time.Date(2026, 11, 20, 14, 0, 0, 0, time.UTC),
			Host: []byte("d.1234"), AppName: []byte("app"), ProcID: []byte("web.1"), MsgID: []byte("-"), Message: []byte("hello world"),
		}},
		{"<0>1 2026-11-20T10:00:00Z host app web.1 - ", nil, Header{
			Priority: 0, Version: 1, Time: time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC),
			Host: []byte("host"), AppName: []byte("app"), ProcID: []byte("web.1"), MsgID: []byte("-"), Message: []byte(""),
		}},
		{"158>1 2026-11-20T10:00:00Z host app web.1 - x", ErrBadPriority, Header{}},
		{"<192>1 2026-11-20T10:00:00Z host app web.1 - x", ErrBadPriority, Header{}},
		{"<>1 2026-11-20T10:00:00Z host app web.1 - x", ErrBadPriority, Header{}},
		{"<13>0 2026-11-20T10:00:00Z host app web.1 - x", ErrBadVersion, Header{}},
		{"<13>1 2026-13-20T10:00:00Z host app web.1 - x", ErrBadTimestamp, Header{}},
		{"<13>1 2026-02-30T10:00:00Z host app web.1 - x", ErrBadTimestamp, Header{}},
		{"<13>1 - host app web.1 - x", ErrBadTimestamp, Header{}},
		{"<13>1 2026-11-20T10:00:00Z host app web.1 -", ErrShortHeader, Header{}},
		{"<13>1 2026-11-20T10:00:00Z host app", ErrShortHeader, Header{}},
	}
	for _, tt := range tests {
		h, err := ParseHeader([]byte(tt.frame))
		if !errors.Is(err, tt.err) {
			t.Errorf("%q: err %v, want %v", tt.frame, err, tt.err)
			continue
		}
		if err != nil {
			continue
		}
		if h.Priority != tt.want.Priority || h.Version != tt.want.Version || !h.Time.Equal(tt.want.Time) ||
			!bytes.Equal(h.Host, tt.want.Host) || !bytes.Equal(h.AppName, tt.want.AppName) ||
			!bytes.Equal(h.ProcID, tt.want.ProcID) || !bytes.Equal(h.MsgID, tt.want.MsgID) ||
			!bytes.Equal(h.Message, tt.want.Message) {
			t.Errorf("%q:\n got %+v\nwant %+v", tt.frame, h, tt.want)
		}
		if h.Time.Location() != time.UTC {
			t.Errorf("%q: time not in UTC", tt.frame)
		}
	}
}

func TestParseTimeMatchesStdlib(t *testing.T) {
	for _, s := range []string{
		"2026-11-20T10:00:00Z",
		"2026-11-20T10:00:00.1Z",
		"2026-11-20T10:00:00.123456789Z",
		"2026-11-20T10:00:00.775050+00:00",
		"2017-10-19T09:58:58.775050+05:30",
		"2000-02-29T23:59:59.999999-11:45",
		"1999-12-31T00:00:00+14:00",
	} {
		got, ok := ParseTime([]byte(s))
		want, err := time.Parse(time.RFC3339Nano, s)
		if !ok || err != nil || !got.Equal(want) {
			t.Errorf("%s: got %v %v, stdlib %v %v", s, got, ok, want, err)
		}
	}
	for _, s := range []string{"", "2026-11-20", "2026-11-20T10:00:00", "2026-11-20T10:00:00.Z", "2026-11-20T25:00:00Z",
		"2026-11-20T10:00:00+0000", "2026-11-20T10:00:00.1234567890Z", "2026-11-20 10:00:00Z", "x026-11-20T10:00:00Z"} {
		if _, ok := ParseTime([]byte(s)); ok {
			t.Errorf("%q: accepted", s)
		}
	}
}

// oracleFrames runs heroku/x's drain scanner, the reference implementation,
// over body and returns the messages it decoded before its first error.
func oracleFrames(body []byte) (msgs []encoding.Message, err error) {
	s := encoding.NewDrainScanner(bytes.NewReader(body), encoding.WithBuffer(1024, 1<<20))
	for s.Scan() {
		msgs = append(msgs, s.Message())
	}
	return msgs, s.Err()
}

// sameAsOracle compares one of our parsed frames with the oracle's message.
func sameAsOracle(h Header, m encoding.Message) string {
	var diffs []string
	if h.Priority != m.Priority {
		diffs = append(diffs, "priority")
	}
	if uint16(h.Version) != m.Version {
		diffs = append(diffs, "version")
	}
	if !h.Time.Equal(m.Timestamp) {
		diffs = append(diffs, "time "+h.Time.String()+" vs "+m.Timestamp.String())
	}
	if string(h.Host) != m.Hostname || string(h.AppName) != m.Application || string(h.ProcID) != m.Process || string(h.MsgID) != m.ID {
		diffs = append(diffs, "host/app/proc/msgid")
	}
	if string(h.Message) != string(trimEOL([]byte(m.Message))) {
		diffs = append(diffs, "message")
	}
	return strings.Join(diffs, ", ")
}

func TestFramerMatchesOracle(t *testing.T) {
	body := readFixture(t, "drain.logplex")
	want, err := oracleFrames(body)
	if err != nil {
		t.Fatalf("oracle: %v", err)
	}
	frames, errs := allFrames(body, 0)
	if len(errs) != 0 || len(frames) != len(want) {
		t.Fatalf("got %d frames (%v), oracle %d", len(frames), errs, len(want))
	}
	for i, fr := range frames {
		h, err := ParseHeader([]byte(fr))
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if d := sameAsOracle(h, want[i]); d != "" {
			t.Errorf("frame %d differs from oracle: %s", i, d)
		}
	}
}

func TestParseBodyMixed(t *testing.T) {
	good := fixtureMessages(t)
	body := frame(good[0]) + "garbage\n" + frame("<13>1 not-a-time host app web.1 - x") + frame(good[6]) + "50 " + good[1][:20]
	var events []Event
	events, st := ParseBody([]byte(body), 0, events)
	if st.Parsed != 2 || len(events) != 2 || st.BadFrames != 2 || st.BadHeaders != 1 || st.Frames != 5 || st.Skipped() != 3 {
		t.Fatalf("stats %+v, %d events", st, len(events))
	}
	if events[0].Kind != KindRouter || events[1].Kind != KindMemory {
		t.Errorf("kinds %v %v", events[0].Kind, events[1].Kind)
	}
	if !errors.Is(st.FirstError, ErrBadLength) {
		t.Errorf("first error %v", st.FirstError)
	}
	// Reusing the slice keeps the events' buffers and gives the same result.
	again, st2 := ParseBody([]byte(body), 0, events)
	st2.FirstError, st.FirstError = nil, nil
	if st2 != st || len(again) != 2 || again[1].Memory.TotalMB != events[1].Memory.TotalMB {
		t.Errorf("reuse: %+v", st2)
	}
}

// sameAsChunked checks that a BodyReader's chunks of n frames give what
// ParseBodyAs gives for the whole body.
func sameAsChunked(t *testing.T, body []byte, d Dialect, n int) {
	t.Helper()
	whole, st := ParseBodyAs(body, 0, nil, d)
	r := NewBodyReader(body, 0, d)
	var got []Event
	var chunk []Event
	for !r.Done() {
		chunk = r.Next(chunk, n)
		if len(chunk) > n {
			t.Fatalf("chunk of %d events, want at most %d", len(chunk), n)
		}
		for i := range chunk {
			got = append(got, Event{Kind: chunk[i].Kind, Time: chunk[i].Time, ProcID: bytes.Clone(chunk[i].ProcID), Message: bytes.Clone(chunk[i].Message)})
		}
	}
	st2 := r.Stats()
	if fmt.Sprint(st.FirstError) != fmt.Sprint(st2.FirstError) {
		t.Fatalf("chunks of %d: first error %v, whole body %v", n, st2.FirstError, st.FirstError)
	}
	st.FirstError, st2.FirstError = nil, nil
	if st != st2 || len(got) != len(whole) {
		t.Fatalf("chunks of %d: %d events %+v, whole body %d events %+v", n, len(got), st2, len(whole), st)
	}
	for i := range whole {
		w := &whole[i]
		if got[i].Kind != w.Kind || !got[i].Time.Equal(w.Time) || !bytes.Equal(got[i].ProcID, w.ProcID) || !bytes.Equal(got[i].Message, w.Message) {
			t.Fatalf("chunks of %d: event %d is %v %q, whole body %v %q", n, i, got[i].Kind, got[i].Message, w.Kind, w.Message)
		}
	}
}

func TestBodyReaderChunksAsWholeBody(t *testing.T) {
	good := fixtureMessages(t)
	mixed := frame(good[0]) + "garbage\n" + frame("<13>1 not-a-time host app web.1 - x") + frame(good[6]) + "50 " + good[1][:20]
	// RFC 5424 frames with a STRUCTURED-DATA field early and without one
	// late: the body is read without the field, from its first chunk.
	sdLate := frame(`<190>1 2026-12-03T13:18:46Z d.tok app web.1 - [a x="1"] first`) +
		frame(`<190>1 2026-12-03T13:18:47Z d.tok app web.1 - - second`) +
		frame(`<190>1 2026-12-03T13:18:48Z d.tok app web.1 - third`)
	bodies := map[string][]byte{"mixed": []byte(mixed), "sd-late": []byte(sdLate)}
	raw, err := os.ReadFile("testdata/drain.logplex")
	if err != nil {
		t.Fatal(err)
	}
	bodies["drain.logplex"] = raw
	for _, name := range []string{"log-shuttle-default", "log-shuttle-msgid-nil", "log-shuttle-sd-element", "log-shuttle-drops", "logplex-dashes-brackets"} {
		bodies[name] = clientBody(t, name)
	}
	for name, body := range bodies {
		for _, d := range []Dialect{DialectAuto, DialectRFC5424, DialectLogplex} {
			for _, n := range []int{1, 2, 3, 7, 1 << 20} {
				t.Run(fmt.Sprintf("%s/%d/%d", name, d, n), func(t *testing.T) { sameAsChunked(t, body, d, n) })
			}
		}
	}
}

// streamFrames reads body with a FrameReader from a reader that returns at
// most chunk bytes a call, as allFrames reads it in one piece.
func streamFrames(t testing.TB, body []byte, max, chunk int) (frames []string, errs []error) {
	t.Helper()
	r := NewFrameReader(&chunkReader{b: body, n: chunk}, max)
	for calls := 0; ; calls++ {
		if calls > 2*len(body)+2 {
			t.Fatalf("frame reader makes no progress on %q", body)
		}
		fr, err := r.Next()
		if err != nil {
			var fe *FrameError
			if !errors.As(err, &fe) {
				t.Fatalf("read error %v", err)
			}
			errs = append(errs, err)
			continue
		}
		if fr == nil {
			break
		}
		frames = append(frames, string(fr))
	}
	if r.Offset() != int64(len(body)) {
		t.Errorf("read %d bytes of %d", r.Offset(), len(body))
	}
	return frames, errs
}

type chunkReader struct {
	b []byte
	n int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), c.n)], c.b)
	c.b = c.b[n:]
	return n, nil
}

// sameAsStream checks that a FrameReader reading body in pieces finds what
// a Framer finds in the whole body: the same frames, the same errors at the
// same offsets.
func sameAsStream(t testing.TB, body []byte, max int) {
	t.Helper()
	want, wantErrs := allFrames(body, max)
	for _, chunk := range []int{1, 7, 1 << 20} {
		got, gotErrs := streamFrames(t, body, max, chunk)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("chunks of %d: frames %q, want %q (body %q)", chunk, got, want, body)
		}
		if fmt.Sprint(gotErrs) != fmt.Sprint(wantErrs) {
			t.Fatalf("chunks of %d: errors %v, want %v (body %q)", chunk, gotErrs, wantErrs, body)
		}
	}
}

// A stream is framed as the same bytes in one body: every broken case of
// TestFramerBroken, the fixture body, frames that straddle the reader's
// buffer, and a frame too large for it, skipped by its count.
func TestFrameReaderAsFramer(t *testing.T) {
	good := "<158>1 2026-11-20T10:00:00+00:00 host heroku router - at=info path=/ dyno=web.1 status=200"
	bodies := []string{
		"", "\n\n", frame(good), good, "abc " + good, "0 " + frame(good), "999 " + good + "\n",
		frame(good) + frame(good)[:50], "garbage here\n" + frame(good), frame(good) + "#!@ junk\n" + frame(good),
		frame(good+strings.Repeat("x", 100)) + frame(good), frame(good) + "\n" + frame(good),
		itoa(len(good)) + " " + good + itoa(len(good)) + " " + good,
		strings.Repeat("junk line\n", 40) + "12 x\n" + frame(good),  // resync past a line that is not a frame
		strings.Repeat("j", 300) + "\n" + frame(good) + frame(good), // garbage longer than the buffer
		frame(strings.Repeat("y", 1000)) + frame(good),              // too large for the buffer: skipped by count
		frame(strings.Repeat("y", 1000))[:500],                      // too large, and the stream ends first
		string(readFixture(t, "drain.logplex")),
	}
	for _, max := range []int{100, 0} {
		for _, b := range bodies {
			sameAsStream(t, []byte(b), max)
		}
	}
}
