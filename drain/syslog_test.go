package drain

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drainwatch/drainwatch/internal/testcert"
	"github.com/drainwatch/drainwatch/store"
	"github.com/drainwatch/drainwatch/store/sqlite"
)

// rfc5424Frame is a frame as logplex's syslog+tls drains send it: the drain
// token in HOSTNAME, "-" for MSGID and STRUCTURED-DATA.
func rfc5424Frame(token, proc, msg string, t time.Time) string {
	m := fmt.Sprintf("<190>1 %s %s heroku %s - - %s", t.Format("2006-01-02T15:04:05.000000Z07:00"), token, proc, msg)
	return fmt.Sprintf("%d %s", len(m), m)
}

func startSyslog(t *testing.T, cfg SyslogConfig) (*SyslogServer, *sqlite.DB) {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "s.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	w, err := sqlite.NewWriter(db, sqlite.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Addr = "127.0.0.1:0"
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s, err := ListenSyslog(cfg, w)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(); w.Close(); db.Close() })
	return s, db
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(end) {
			t.Fatalf("timed out: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestSyslogTLSEndToEnd(t *testing.T) {
	cert := testcert.New(t)
	s, db := startSyslog(t, SyslogConfig{
		TLS:    &tls.Config{Certificates: []tls.Certificate{cert.TLS}},
		Tokens: map[string]string{"d.11111111-2222-3333-4444-555555555555": "myapp"},
	})
	conn, err := tls.Dial("tcp", s.Addr().String(), cert.Client())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	tok := "d.11111111-2222-3333-4444-555555555555"
	t0 := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	var frames strings.Builder
	for i := 0; i < 50; i++ {
		frames.WriteString(rfc5424Frame(tok, "web.1", fmt.Sprintf("source=web.1 dyno=heroku.1.boot-a sample#memory_total=%d.00MB sample#memory_rss=1.00MB sample#memory_quota=512.00MB", 200+i), t0.Add(time.Duration(i)*20*time.Second)))
	}
	frames.WriteString(rfc5424Frame(tok, "web.1", "Error R14 (Memory quota exceeded)", t0))
	frames.WriteString(rfc5424Frame(tok, "router", `at=info method=GET path="/" host=x.herokuapp.com request_id=abc fwd="1.2.3.4" dyno=web.1 connect=1ms service=5ms status=200 bytes=10 protocol=https`, t0))
	if _, err := io.WriteString(conn, frames.String()); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "52 lines stored", func() bool { return s.Lines.Load() == 52 })
	mem, _ := db.Memory(context.Background(), store.Filter{App: "myapp", Dyno: "web.1"})
	if len(mem) != 50 || *mem[49].TotalMB != 249 || mem[0].Boot != "boot-a" {
		t.Fatalf("memory %d rows", len(mem))
	}
	errs, _ := db.Errors(context.Background(), store.Filter{App: "myapp"}, "R14")
	if len(errs) != 1 || errs[0].Dyno != "web.1" {
		t.Errorf("R14: %+v", errs)
	}
	c, _ := db.Counts(context.Background())
	if c["router_lines"] != 1 {
		t.Errorf("router lines %d", c["router_lines"])
	}
}

func TestSyslogUnknownTokenClosesConnection(t *testing.T) {
	s, db := startSyslog(t, SyslogConfig{Tokens: map[string]string{"d.known": "myapp"}})
	conn, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, rfc5424Frame("d.stranger", "web.1", "Error R14 (Memory quota exceeded)", time.Now()))
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("connection not closed: %v", err)
	}
	if s.Refused.Load() != 1 {
		t.Errorf("refused %d", s.Refused.Load())
	}
	if c, _ := db.Counts(context.Background()); c["errors"] != 0 {
		t.Errorf("stored %v", c)
	}
}

func TestSyslogTimeouts(t *testing.T) {
	s, _ := startSyslog(t, SyslogConfig{FirstByteTimeout: 100 * time.Millisecond, IdleTimeout: 300 * time.Millisecond, AllowAnyApp: true})
	closedAfter := func(c net.Conn) time.Duration {
		start := time.Now()
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("not closed: %v", err)
		}
		return time.Since(start)
	}
	// Nothing sent: closed after the first-byte timeout.
	silent, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	if d := closedAfter(silent); d > 250*time.Millisecond {
		t.Errorf("a silent connection closed after %v, want about 100 ms", d)
	}
	// A line, then silence: closed after the idle timeout.
	talker, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer talker.Close()
	io.WriteString(talker, rfc5424Frame("d.tok", "web.1", "Error R14 (Memory quota exceeded)", time.Now()))
	if d := closedAfter(talker); d < 250*time.Millisecond {
		t.Errorf("a connection that sent a line closed after %v of silence, want the idle timeout (300 ms)", d)
	}
	waitUntil(t, "line stored", func() bool { return s.Lines.Load() == 1 })
}

// TestSyslogConnectionCap: at the cap a new connection closes the one
// silent the longest, and is served.
func TestSyslogConnectionCap(t *testing.T) {
	s, _ := startSyslog(t, SyslogConfig{MaxConns: 2, AllowAnyApp: true})
	var conns []net.Conn
	for i := 0; i < 2; i++ {
		c, err := net.Dial("tcp", s.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, c)
		waitUntil(t, "connection accepted", func() bool { n, _ := s.Conns().Counts(); return n == i+1 })
	}
	// The second speaks: the first is now the one silent longest.
	io.WriteString(conns[1], rfc5424Frame("d.tok", "web.1", "Error R14 (Memory quota exceeded)", time.Now()))
	waitUntil(t, "first line stored", func() bool { return s.Lines.Load() == 1 })
	third, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer third.Close()
	io.WriteString(third, rfc5424Frame("d.tok", "web.2", "Error R14 (Memory quota exceeded)", time.Now()))
	conns[0].SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := conns[0].Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("the connection silent longest not closed: %v", err)
	}
	waitUntil(t, "third connection's line stored", func() bool { return s.Lines.Load() == 2 })
	if n := s.Conns().Evicted.Load(); n != 1 {
		t.Errorf("evicted %d, want 1", n)
	}
}

func TestSyslogMalformedFramesCounted(t *testing.T) {
	s, _ := startSyslog(t, SyslogConfig{AllowAnyApp: true})
	conn, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	bad := "<190>1 not-a-time d.tok app web.1 - - hello"
	io.WriteString(conn, fmt.Sprintf("%d %s", len(bad), bad)+rfc5424Frame("d.tok", "web.1", "Error R14 (Memory quota exceeded)", time.Now()))
	conn.Close()
	waitUntil(t, "good line stored", func() bool { return s.Lines.Load() == 1 })
	if s.Malformed.Load() < 1 {
		t.Errorf("malformed %d", s.Malformed.Load())
	}
}

// TestSyslogNeedsTokens: without drain tokens a listener would take lines
// for any app from anyone; it starts only when that is asked for.
func TestSyslogNeedsTokens(t *testing.T) {
	if _, err := ListenSyslog(SyslogConfig{Addr: "127.0.0.1:0"}, nil); !errors.Is(err, ErrSyslogOpen) {
		t.Fatalf("started without tokens: %v", err)
	}
}

// Beyond the app limit, a syslog drain of a new app stays connected and its
// lines are dropped, counted, logged once; the app taken before goes on.
func TestSyslogAppLimit(t *testing.T) {
	var logs strings.Builder
	var mu sync.Mutex
	log := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return logs.Write(p)
	}), nil))
	apps := NewAppLimit(1, nil, log)
	s, db := startSyslog(t, SyslogConfig{AllowAnyApp: true, Apps: apps, Logger: log})
	t0 := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	send := func(app string, n int) {
		conn, err := net.Dial("tcp", s.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		var frames strings.Builder
		for i := 0; i < n; i++ {
			frames.WriteString(rfc5424Frame(app, "web.1", fmt.Sprintf("source=web.1 dyno=heroku.1.boot-a sample#memory_total=%d.00MB sample#memory_quota=512.00MB", 200+i), t0.Add(time.Duration(i)*20*time.Second)))
		}
		if _, err := io.WriteString(conn, frames.String()); err != nil {
			t.Fatal(err)
		}
	}
	send("one", 5)
	waitUntil(t, "app one's lines stored", func() bool { return s.Lines.Load() == 5 })
	send("two", 7)
	waitUntil(t, "app two's lines dropped", func() bool { return apps.DroppedLines.Load() == 7 })
	send("two", 3)
	send("one", 2)
	waitUntil(t, "the rest", func() bool { return apps.DroppedLines.Load() == 10 && s.Lines.Load() == 7 })
	for app, want := range map[string]int{"one": 7, "two": 0} {
		mem, err := db.Memory(context.Background(), store.Filter{App: app})
		if err != nil || len(mem) != want {
			t.Errorf("%s: %d samples (%v), want %d", app, len(mem), err, want)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if n := strings.Count(logs.String(), "lines of a new app dropped"); n != 1 || apps.DroppedApps.Load() != 1 {
		t.Errorf("logged %d times, %d apps dropped:\n%s", n, apps.DroppedApps.Load(), logs.String())
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
