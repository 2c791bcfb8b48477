package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/drainwatch/drainwatch/internal/testcert"
	"github.com/drainwatch/drainwatch/store"
	"github.com/drainwatch/drainwatch/store/sqlite"
)

// TestMain lets a test run this package's binary as a child process: with
// DRAINWATCH_TEST_MAIN=1 the test binary is drainwatch itself.
func TestMain(m *testing.M) {
	if os.Getenv("DRAINWATCH_TEST_MAIN") == "1" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv)
		stop()
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// envVarsRead finds every environment variable the command's code reads:
// string literals passed to getenv/envOr (and the alert settings' helpers),
// and the names in the alertEnv table.
func envVarsRead(t *testing.T) []string {
	fset := token.NewFileSet()
	pkgs, err := parser.ParseDir(fset, ".", func(fi os.FileInfo) bool { return !strings.HasSuffix(fi.Name(), "_test.go") }, 0)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	envName := regexp.MustCompile(`^[A-Z][A-Z0-9_]+$`)
	lit := func(e ast.Expr) {
		if bl, ok := e.(*ast.BasicLit); ok && bl.Kind == token.STRING {
			if s, err := strconv.Unquote(bl.Value); err == nil && envName.MatchString(s) {
				seen[s] = true
			}
		}
	}
	for _, p := range pkgs {
		ast.Inspect(p, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.CallExpr:
				name := ""
				switch f := n.Fun.(type) {
				case *ast.Ident:
					name = f.Name
				case *ast.SelectorExpr:
					name = f.Sel.Name
				}
				switch name {
				case "getenv", "envOr", "Getenv", "get", "dur", "num", "flagEnv":
					if len(n.Args) > 0 {
						lit(n.Args[0])
					}
				}
			case *ast.ValueSpec:
				if len(n.Names) == 1 && (n.Names[0].Name == "alertEnv" || n.Names[0].Name == "boundEnv") {
					ast.Inspect(n, func(m ast.Node) bool {
						if cl, ok := m.(*ast.CompositeLit); ok && len(cl.Elts) == 3 {
							lit(cl.Elts[0])
						}
						return true
					})
				}
			}
			return true
		})
	}
	var out []string
	for k := range seen {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestAppJSONDeclaresEveryEnvVar(t *testing.T) {
	raw, err := os.ReadFile("../../app.json")
	if err != nil {
		t.Fatal(err)
	}
	var app struct {
		Name       string `json:"name"`
		Buildpacks []struct {
			URL string `json:"url"`
		} `json:"buildpacks"`
		Env map[string]struct {
			Description string `json:"description"`
			Generator   string `json:"generator"`
			Value       string `json:"value"`
			Required    *bool  `json:"required"`
		} `json:"env"`
	}
	if err := json.Unmarshal(raw, &app); err != nil {
		t.Fatalf("app.json: %v", err)
	}
	if app.Name == "" || len(app.Buildpacks) != 1 || app.Buildpacks[0].URL != "heroku/go" {
		t.Errorf("name %q buildpacks %v", app.Name, app.Buildpacks)
	}
	// Set by the platform or the terminal, not by the user.
	platform := map[string]bool{"PORT": true, "DYNO": true, "HEROKU_METRICS_URL": true, "COLUMNS": true,
		"DATABASE_URL": true} // the heroku-postgresql add-on's
	read := envVarsRead(t)
	if len(read) < 20 {
		t.Fatalf("found only %v: the scan is broken", read)
	}
	for _, v := range read {
		if platform[v] {
			continue
		}
		e, ok := app.Env[v]
		if !ok {
			t.Errorf("app.json does not declare %s", v)
			continue
		}
		if e.Description == "" {
			t.Errorf("%s has no description", v)
		}
	}
	for _, secret := range []string{"DRAIN_PASSWORD", "API_TOKEN"} {
		if app.Env[secret].Generator != "secret" {
			t.Errorf("%s is not a generated secret", secret)
		}
	}
	// Defaults in app.json are the code's defaults.
	for _, e := range append(alertEnv[:len(alertEnv):len(alertEnv)], boundEnv...) {
		if app.Env[e.name].Value != e.def {
			t.Errorf("%s: app.json says %q, the code %q", e.name, app.Env[e.name].Value, e.def)
		}
	}
}

func TestProcfileRunsServe(t *testing.T) {
	raw, err := os.ReadFile("../../Procfile")
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(string(raw)) != "web: bin/drainwatch serve" {
		t.Errorf("Procfile: %q", raw)
	}
	mod, _ := os.ReadFile("../../go.mod")
	if !strings.Contains(string(mod), "// +heroku install ./cmd/drainwatch") || !strings.Contains(string(mod), "// +heroku goVersion go1.26") {
		t.Error("go.mod lacks the buildpack directives")
	}
}

func TestTLSServing(t *testing.T) {
	cert := testcert.New(t)
	s := &server{
		cfg: serveConfig{Addr: "127.0.0.1:0", DBPath: filepath.Join(t.TempDir(), "tls.db"), Password: "pw", MaxBody: 1 << 20,
			TLSCert: cert.CertFile, TLSKey: cert.KeyFile},
		log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if err := s.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: cert.Client()}}
	body, _ := os.ReadFile("../../parser/testdata/drain.logplex")
	req, _ := http.NewRequest("POST", "https://"+s.Addr()+"/logs/myapp", bytes.NewReader(body))
	req.SetBasicAuth("x", "pw")
	req.Header.Set("Content-Type", "application/logplex-1")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.TLS == nil || resp.TLS.Version < tls.VersionTLS12 {
		t.Fatalf("%d %+v", resp.StatusCode, resp.TLS)
	}
	// Plain HTTP to the TLS port fails.
	if resp, err := http.Get("http://" + s.Addr() + "/healthz"); err == nil && resp.StatusCode == 200 {
		t.Error("plain HTTP served on the TLS port")
	}
	// TLS 1.1 is refused (tlsconfig's minimum is 1.2).
	old := cert.Client()
	old.MinVersion, old.MaxVersion = tls.VersionTLS10, tls.VersionTLS11
	if c, err := tls.Dial("tcp", s.Addr(), old); err == nil {
		c.Close()
		t.Error("TLS 1.1 accepted")
	}
}

func TestSyslogThroughServe(t *testing.T) {
	cert := testcert.New(t)
	s := &server{
		cfg: serveConfig{Addr: "127.0.0.1:0", DBPath: filepath.Join(t.TempDir(), "sys.db"), Password: "pw", MaxBody: 1 << 20,
			TLSCert: cert.CertFile, TLSKey: cert.KeyFile, SyslogAddr: "127.0.0.1:0", Tokens: map[string]string{"d.tok": "shop"}},
		log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if err := s.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	c, err := tls.Dial("tcp", s.syslog.Addr().String(), cert.Client())
	if err != nil {
		t.Fatal(err)
	}
	m := "<190>1 2026-11-20T10:00:00.000000Z d.tok heroku worker.1 - - Error R15 (Memory quota vastly exceeded)"
	fmt.Fprintf(c, "%d %s", len(m), m)
	c.Close()
	waitFor(t, "syslog line stored", func() bool { return s.syslog.Lines.Load() == 1 })
	// SIGTERM-like shutdown: the alert from the R15 is recorded too.
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	db, _ := sqlite.Open(context.Background(), s.cfg.DBPath, sqlite.Options{ReadOnly: true})
	defer db.Close()
	errs, _ := db.Errors(context.Background(), store.Filter{App: "shop"}, "R15")
	alerts, _ := db.Alerts(context.Background(), store.Filter{App: "shop"})
	if len(errs) != 1 || len(alerts) != 1 || alerts[0].Rule != "over-quota" {
		t.Errorf("errors %v alerts %v", errs, alerts)
	}
}

func TestParseTokens(t *testing.T) {
	m, err := parseTokens(" d.aaa=shop, d.bbb=blog ")
	if err != nil || len(m) != 2 || m["d.aaa"] != "shop" || m["d.bbb"] != "blog" {
		t.Errorf("%v %v", m, err)
	}
	for _, bad := range []string{"d.aaa", "=shop", "d.aaa=", "d.a=x,,"} {
		if _, err := parseTokens(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if m, err := parseTokens(""); m != nil || err != nil {
		t.Errorf("empty: %v %v", m, err)
	}
}

// child is drainwatch running as its own process (the test binary re-run
// with DRAINWATCH_TEST_MAIN=1).
type child struct {
	cmd  *exec.Cmd
	addr string
	out  *syncBuf
	done chan error
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func startChild(t *testing.T, dbPath string, extraEnv ...string) *child {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"serve", "--addr", "127.0.0.1:0"}
	if dbPath != "" { // "": the environment chooses
		args = append(args, "--db", dbPath)
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), append([]string{"DRAINWATCH_TEST_MAIN=1", "DRAIN_PASSWORD=pw"}, extraEnv...)...)
	stdout, _ := cmd.StdoutPipe()
	c := &child{cmd: cmd, out: &syncBuf{}, done: make(chan error, 1)}
	cmd.Stderr = c.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addrRe := regexp.MustCompile(`msg="drainwatch listening" addr=(\S+)`)
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			c.out.Write([]byte(line + "\n"))
			if m := addrRe.FindStringSubmatch(line); m != nil {
				found <- m[1]
			}
		}
		c.done <- cmd.Wait()
	}()
	select {
	case c.addr = <-found:
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("child did not start:\n%s", c.out)
	}
	return c
}

const routerPerBody = 10

// uniqueBody is a logplex body of n memory samples whose timestamps encode
// (sender, seq), so every stored line can be traced to its request.
func uniqueBody(sender, seq, n int) []byte {
	var b bytes.Buffer
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(sender)*24*time.Hour + time.Duration(seq)*time.Minute)
	for i := 0; i < n; i++ {
		m := fmt.Sprintf("<45>1 %s host heroku web.%d - source=web.%d dyno=heroku.1.b%d sample#memory_total=%d.00MB sample#memory_quota=512.00MB",
			base.Add(time.Duration(i)*time.Millisecond).Format("2006-01-02T15:04:05.000000+00:00"), sender, sender, seq, 100+i)
		fmt.Fprintf(&b, "%d %s\n", len(m)+1, m)
	}
	// And routerPerBody router lines, which end up in the rollups.
	for i := 0; i < routerPerBody; i++ {
		m := fmt.Sprintf(`<158>1 %s host heroku router - at=info method=GET path="/items/%d" host=x request_id=r fwd="1.2.3.4" dyno=web.%d connect=1ms service=5ms status=200 bytes=1 protocol=https`,
			base.Add(time.Duration(i)*time.Millisecond).Format("2006-01-02T15:04:05.000000+00:00"), i, sender)
		fmt.Fprintf(&b, "%d %s\n", len(m)+1, m)
	}
	return b.Bytes()
}

// ingestUntil posts bodies from 4 senders until stop is closed (and then
// until the daemon stops answering), and returns the (sender, seq) pairs
// whose request got a 200. onAck, if set, is called with the count of
// acknowledged bodies after each one.
func ingestUntil(t *testing.T, addr string, stop <-chan struct{}, linesPerBody int, onAck func(n int)) map[[2]int]bool {
	var mu sync.Mutex
	acked := map[[2]int]bool{}
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: false}}
	for sender := 1; sender <= 4; sender++ {
		wg.Add(1)
		go func(sender int) {
			defer wg.Done()
			stopped := false
			for seq := 0; seq < 100000; seq++ {
				select {
				case <-stop:
					stopped = true
				default:
				}
				req, _ := http.NewRequest("POST", "http://"+addr+"/logs/crash", bytes.NewReader(uniqueBody(sender, seq, linesPerBody)))
				req.SetBasicAuth("x", "pw")
				req.Header.Set("Content-Type", "application/logplex-1")
				req.Header.Set("Logplex-Frame-Id", fmt.Sprintf("s%d-%d", sender, seq))
				resp, err := client.Do(req)
				if err != nil {
					if stopped {
						return // the daemon is gone
					}
					time.Sleep(time.Millisecond)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 200 {
					mu.Lock()
					acked[[2]int{sender, seq}] = true
					if onAck != nil {
						onAck(len(acked))
					}
					mu.Unlock()
				}
				if stopped && resp.StatusCode != 200 {
					return
				}
			}
		}(sender)
	}
	wg.Wait()
	return acked
}

// storedBodies reads back which (sender, seq) bodies are in the database,
// and how many lines of each.
func storedBodies(t *testing.T, dbPath string) map[[2]int]int {
	db := openRO(t, dbPath)
	defer db.Close()
	mem, err := db.Memory(context.Background(), store.Filter{App: "crash"})
	if err != nil {
		t.Fatal(err)
	}
	got := map[[2]int]int{}
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, m := range mem {
		d := m.Time.Sub(base)
		sender := int(d / (24 * time.Hour))
		seq := int((d % (24 * time.Hour)) / time.Minute)
		got[[2]int{sender, seq}]++
	}
	return got
}

// TestSIGTERMDuringIngest: SIGTERM while four senders post; the daemon
// finishes what it acknowledged, exits 0, and every acknowledged line is in
// the database exactly once.
func TestSIGTERMDuringIngest(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "term.db")
	c := startChild(t, dbPath)
	// SIGTERM once 20 bodies are acknowledged, the senders still posting.
	stop := make(chan struct{})
	const lines = 50
	acked := ingestUntil(t, c.addr, stop, lines, func(n int) {
		if n == 20 {
			c.cmd.Process.Signal(syscall.SIGTERM)
			close(stop)
		}
	})
	select {
	case err := <-c.done:
		if err != nil {
			t.Fatalf("exit: %v\n%s", err, c.out)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("daemon did not exit after SIGTERM")
	}
	if !strings.Contains(c.out.String(), "stopped cleanly") {
		t.Errorf("no clean stop in logs:\n%s", c.out)
	}
	if len(acked) < 4 {
		t.Fatalf("only %d bodies acknowledged: the test did not exercise ingest", len(acked))
	}
	got := storedBodies(t, dbPath)
	for k := range acked {
		if got[k] != lines {
			t.Errorf("acknowledged body %v has %d lines stored, want %d", k, got[k], lines)
		}
	}
	for k, n := range got {
		if n != lines {
			t.Errorf("body %v stored %d lines: partial or doubled", k, n)
		}
	}
	if _, err := os.Stat(dbPath + "-wal"); err == nil {
		if st, _ := os.Stat(dbPath + "-wal"); st.Size() > 0 {
			t.Errorf("WAL not checkpointed at close (%d bytes)", st.Size())
		}
	}
	t.Logf("%d bodies acknowledged, %d stored", len(acked), len(got))
}
