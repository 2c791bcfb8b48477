package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/drainwatch/drainwatch/analyze"
	"github.com/drainwatch/drainwatch/parser"
	"github.com/drainwatch/drainwatch/store/postgres"
)

// benchCommand is `drainwatch bench`: a load test of the daemon against the
// machine's ceiling (a bare server that only reads bodies and counts frames),
// each run as its own process on loopback.
type benchCommand struct{ env *env }

func (c *benchCommand) Run(ctx context.Context, args []string) error {
	e := c.env
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	duration := fs.Duration("duration", 20*time.Second, "how long each load runs")
	conns := fs.Int("conns", 4, "concurrent connections posting bodies")
	bodyKB := fs.Int("body-kb", 100, "size of each logplex body in KiB")
	skipCeiling := fs.Bool("skip-ceiling", false, "do not measure the bare-server ceiling")
	target := fs.String("target", "", "load this running daemon (host:port) instead of starting one; its RSS is not measured")
	password := fs.String("password", e.getenv("DRAIN_PASSWORD"), "with --target: the drain password (env DRAIN_PASSWORD)")
	serveBin := fs.String("serve-bin", "", "run this drainwatch binary as the daemon instead of this one (A/B against another build)")
	adversarial := fs.Bool("adversarial", false, "run hostile loads instead (adversarial.go): idle connections, bodies of tiny frames, one-off dynos, random paths, then every query")
	var adv advOptions
	fs.IntVar(&adv.paths, "paths", 1000000, "with --adversarial: router lines with random paths")
	fs.IntVar(&adv.dynos, "dynos", 100000, "with --adversarial: distinct one-off dynos")
	fs.IntVar(&adv.bodies, "bodies", 16, "with --adversarial: concurrent 1 MiB bodies of minimal frames")
	fs.StringVar(&adv.phases, "phases", "conns,bodies,dynos,paths,queries", "with --adversarial: which loads, in order")
	fs.StringVar(&adv.keep, "keep-db", "", "with --adversarial: leave the database at this path (to query it again)")
	pgURL := fs.String("db", "", "also run the daemon on this PostgreSQL server (postgres://…; a fresh database is created for each run), alternated with SQLite, and compare")
	rounds := fs.Int("rounds", 1, "with --db: how many SQLite/PostgreSQL pairs of runs")
	if err := parseFlags(fs, args, e.stdout, "bench [--duration 20s] [--conns 4] [--body-kb 100] [--db postgres://… [--rounds N]]\n\n"+
		"Posts realistic logplex bodies (mostly router lines, runtime metrics, app lines) to a fresh daemon started\n"+
		"as a child process on 127.0.0.1 with its own database, then to a bare server that only reads bodies and\n"+
		"counts frames (the machine's ceiling), and prints acknowledged lines/s, ack latency, failures, the daemon's\n"+
		"peak and final RSS, its database size per million router lines, and its share of the ceiling. Each post to\n"+
		"the daemon carries the times of the moment it is sent, as a drain's batches do."); err != nil {
		return err
	}
	if *duration <= 0 || *conns <= 0 || *bodyKB <= 0 {
		return usageErr("--duration, --conns and --body-kb must be positive")
	}
	if *adversarial {
		return runAdversarial(ctx, e, *serveBin, adv)
	}
	bodies := loadBodies(32, *bodyKB<<10)
	lines := 0
	routerLines := 0
	for _, b := range bodies {
		lines += bytes.Count(b, []byte("\n"))
		routerLines += bytes.Count(b, []byte(" router - "))
	}
	fmt.Fprintf(e.stdout, "bodies: %d distinct, %.0f KiB and %d lines each (%.0f%% router lines); %d connections, %s per run\n\n",
		len(bodies), float64(len(bodies[0]))/1024, lines/len(bodies), 100*float64(routerLines)/float64(lines), *conns, *duration)

	if *pgURL != "" {
		if !postgres.IsURL(*pgURL) {
			return usageErr("--db %q is not a postgres:// URL", *pgURL)
		}
		return benchBackends(ctx, e, *serveBin, *pgURL, bodies, lines, routerLines, *conns, max(*rounds, 1), *duration)
	}
	var ceiling *loadResult
	if !*skipCeiling {
		sink, err := startSelf(ctx, nil, "bench-sink", "--addr", "127.0.0.1:0")
		if err != nil {
			return err
		}
		r := runLoad(ctx, sink.addr, "", bodies, false, *conns, *duration, nil)
		sink.stop()
		ceiling = &r
		fmt.Fprintf(e.stdout, "ceiling (bare server: read body, count frames):\n  %s\n\n", r)
	}

	if *target != "" {
		r := runLoad(ctx, *target, *password, bodies, true, *conns, *duration, nil)
		fmt.Fprintf(e.stdout, "%s:\n  %s\n", *target, r)
		if ceiling != nil && ceiling.rate() > 0 {
			fmt.Fprintf(e.stdout, "\nshare of the ceiling: %.1f%%\n", 100*r.rate()/ceiling.rate())
		}
		return nil
	}
	dir, err := os.MkdirTemp("", "drainwatch-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	secret := randomHex(16)
	dbPath := filepath.Join(dir, "bench.db")
	daemon, err := startBin(ctx, *serveBin, []string{"DRAIN_PASSWORD=" + secret}, "serve", "--addr", "127.0.0.1:0", "--db", dbPath)
	if err != nil {
		return err
	}
	var rssSamples []analyze.Point
	var walPeak int64
	sample := func() {
		if mb, ok := procRSS(daemon.cmd.Process.Pid, "VmRSS"); ok {
			rssSamples = append(rssSamples, analyze.Point{T: time.Now(), MB: mb})
		}
		if st, err := os.Stat(dbPath + "-wal"); err == nil {
			walPeak = max(walPeak, st.Size())
		}
	}
	cpu0, _ := procCPU(daemon.cmd.Process.Pid)
	r := runLoad(ctx, daemon.addr, secret, bodies, true, *conns, *duration, sample)
	cpu1, cpuOK := procCPU(daemon.cmd.Process.Pid)
	peak, _ := procRSS(daemon.cmd.Process.Pid, "VmHWM")
	daemon.stop()
	fmt.Fprintf(e.stdout, "drainwatch serve (parse, store, rollups, alert engine; WAL synced to disk before each acknowledgement):\n  %s\n", r)
	fmt.Fprintf(e.stdout, "  peak RSS %.1f MB", peak)
	if len(rssSamples) >= 2 {
		fmt.Fprintf(e.stdout, "; RSS after the first second %.1f MB, at the end %.1f MB", rssSamples[0].MB, rssSamples[len(rssSamples)-1].MB)
	}
	fmt.Fprintln(e.stdout)
	fmt.Fprint(e.stdout, rssReport(rssSamples))
	if cpuOK && r.lines > 0 {
		// Less moved by other work on the host than lines/s: what a line costs.
		fmt.Fprintf(e.stdout, "  daemon CPU %.2f µs a line acknowledged\n", (cpu1-cpu0).Seconds()*1e6/float64(r.lines))
	}
	fmt.Fprintf(e.stdout, "  WAL file at most %.1f MiB (sampled each second)\n", float64(walPeak)/(1<<20))
	var size int64
	for _, suffix := range []string{"", "-wal"} {
		if st, err := os.Stat(dbPath + suffix); err == nil {
			size += st.Size()
		}
	}
	if routerLines > 0 && r.lines > 0 {
		router := float64(r.lines) * float64(routerLines) / float64(lines)
		mb := float64(size) / (1 << 20)
		fmt.Fprintf(e.stdout, "  database %.1f MiB for %.2f M lines (%.2f M router lines): %.1f MiB per million lines, %.1f per million router lines\n",
			mb, float64(r.lines)/1e6, router/1e6, mb/(float64(r.lines)/1e6), mb/(router/1e6))
	}
	if ceiling != nil && ceiling.rate() > 0 {
		fmt.Fprintf(e.stdout, "\nshare of the ceiling: %.1f%% (%.0f of %.0f lines/s)\n", 100*r.rate()/ceiling.rate(), r.rate(), ceiling.rate())
	}
	if r.failed > 0 {
		return fmt.Errorf("%d requests failed", r.failed)
	}
	return nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// loadBodies makes n distinct logplex bodies of about size bytes: four
// router lines in five, then runtime metrics (memory and load, one sample
// per dyno), app lines with l2met measures, the odd R14.
func loadBodies(n, size int) [][]byte {
	paths := []string{"/", "/users/%d", "/users/%d/posts", "/api/v1/orders/%d", "/search?q=%d", "/assets/app-%d.js", "/reports/export"}
	t0 := time.Now().Add(-time.Hour).UTC()
	var out [][]byte
	for b := 0; b < n; b++ {
		var buf bytes.Buffer
		frame := func(t time.Time, app, proc, msg string) {
			m := fmt.Sprintf("<158>1 %s host %s %s - %s", t.Format("2006-01-02T15:04:05.000000+00:00"), app, proc, msg)
			fmt.Fprintf(&buf, "%d %s\n", len(m)+1, m)
		}
		for i := 0; buf.Len() < size; i++ {
			t := t0.Add(time.Duration(b*1000+i) * 10 * time.Millisecond)
			dyno := fmt.Sprintf("web.%d", 1+i%4)
			switch {
			case i%100 == 7:
				frame(t, "heroku", dyno, fmt.Sprintf("source=%s dyno=heroku.123.boot-%s sample#memory_total=%d.00MB sample#memory_rss=%d.00MB sample#memory_cache=1.00MB sample#memory_swap=0.00MB sample#memory_pgpgin=100pages sample#memory_pgpgout=10pages sample#memory_quota=512.00MB", dyno, dyno, 300+i%50, 290+i%50))
			case i%100 == 8:
				frame(t, "heroku", dyno, fmt.Sprintf("source=%s dyno=heroku.123.boot-%s sample#load_avg_1m=0.%02d sample#load_avg_5m=0.10 sample#load_avg_15m=0.05", dyno, dyno, i%100))
			case i%5 == 4:
				frame(t, "app", dyno, fmt.Sprintf(`I, [%s #4]  INFO -- : Completed 200 OK in %dms (Views: 9.1ms | ActiveRecord: 3.2ms) measure#rails.request=%dms`, t.Format(time.RFC3339), 20+i%80, 20+i%80))
			case i%997 == 13:
				frame(t, "heroku", dyno, "Error R14 (Memory quota exceeded)")
			default:
				p := paths[i%len(paths)]
				if strings.Contains(p, "%d") {
					p = fmt.Sprintf(p, 1000+(b*7919+i)%5000)
				}
				frame(t, "heroku", "router", fmt.Sprintf(`at=info method=GET path="%s" host=example-app.herokuapp.com request_id=%08x-%04x fwd="203.0.113.%d" dyno=%s connect=%dms service=%dms status=200 bytes=%d protocol=https`,
					p, b, i, i%255, dyno, i%3, 5+(i*37)%400, 500+(i*101)%20000))
			}
		}
		out = append(out, buf.Bytes())
	}
	return out
}

type loadResult struct {
	lines, requests, failed int64
	elapsed                 time.Duration
	p50, p99                time.Duration
}

func (r loadResult) rate() float64 { return float64(r.lines) / r.elapsed.Seconds() }

func (r loadResult) String() string {
	return fmt.Sprintf("%.0f lines/s acknowledged (%d requests, %d failed); ack latency p50 %s, p99 %s",
		r.rate(), r.requests, r.failed, r.p50.Round(10*time.Microsecond), r.p99.Round(10*time.Microsecond))
}

// runLoad posts bodies round-robin from conns connections for d, and calls
// tick (if set) once a second. With restamp, each post carries the times of
// the moment it is sent (restamp.go), as a drain's lines do.
func runLoad(ctx context.Context, addr, password string, bodies [][]byte, restamp bool, conns int, d time.Duration, tick func()) loadResult {
	counts := make([]int, len(bodies))
	stamps := make([]*bodyStamps, len(bodies))
	for i, b := range bodies {
		counts[i] = bytes.Count(b, []byte("\n"))
		if restamp {
			stamps[i] = findStamps(b)
		}
	}
	var seq, lines, failed atomic.Int64
	var mu sync.Mutex
	var lats []time.Duration
	deadline := time.Now().Add(d)
	start := time.Now()
	var wg sync.WaitGroup
	for c := 0; c < conns; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
			var mine []time.Duration
			var buf []byte
			var sc stampCache
			for time.Now().Before(deadline) && ctx.Err() == nil {
				i := seq.Add(1)
				b := int(i) % len(bodies)
				body := bodies[b]
				if stamps[b] != nil {
					buf = stamps[b].restamp(append(buf[:0], body...), time.Now(), &sc)
					body = buf
				}
				req, _ := http.NewRequestWithContext(ctx, "POST", "http://"+addr+"/logs/bench", bytes.NewReader(body))
				req.SetBasicAuth("bench", password)
				req.Header.Set("Content-Type", "application/logplex-1")
				req.Header.Set("Logplex-Msg-Count", strconv.Itoa(counts[b]))
				req.Header.Set("Logplex-Frame-Id", fmt.Sprintf("%032x", i))
				t := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					failed.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					failed.Add(1)
					continue
				}
				mine = append(mine, time.Since(t))
				lines.Add(int64(counts[b]))
			}
			mu.Lock()
			lats = append(lats, mine...)
			mu.Unlock()
		}()
	}
	if tick != nil {
		done := make(chan struct{})
		go func() {
			wg.Wait()
			close(done)
		}()
		t := time.NewTicker(time.Second)
	loop:
		for {
			select {
			case <-done:
				break loop
			case <-t.C:
				tick()
			}
		}
		t.Stop()
	}
	wg.Wait()
	r := loadResult{lines: lines.Load(), requests: int64(len(lats)) + failed.Load(), failed: failed.Load(), elapsed: time.Since(start)}
	sort.Slice(lats, func(i, j int) bool { return lats[i] < lats[j] })
	if len(lats) > 0 {
		r.p50 = lats[len(lats)/2]
		r.p99 = lats[min(len(lats)*99/100, len(lats)-1)]
	}
	return r
}

// procRSS reads a memory figure (VmRSS, VmHWM) of a process, in MB.
func procRSS(pid int, field string) (float64, bool) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, false
	}
	for _, l := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(l, field+":") {
			f := strings.Fields(l)
			if len(f) >= 2 {
				kb, err := strconv.ParseFloat(f[1], 64)
				return kb / 1024, err == nil
			}
		}
	}
	return 0, false
}

// procCPU is the CPU time (user and system) process pid has used so far.
func procCPU(pid int) (time.Duration, bool) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	// The fields after the command's name (in parentheses, maybe with spaces):
	// utime and stime are the 12th and 13th, in clock ticks (100 a second).
	s := string(raw)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0, false
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	k, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return time.Duration(u+k) * 10 * time.Millisecond, true
}

// selfProc is drainwatch running a subcommand as a child process.
type selfProc struct {
	cmd    *exec.Cmd
	addr   string
	syslog chan string // the syslog listener's address, when it says it
	done   chan error
}

var listenRe = regexp.MustCompile(`listening" addr=(\S+)`)

// startSelf runs this binary with args and waits for its "listening" line.
func startSelf(ctx context.Context, env []string, args ...string) (*selfProc, error) {
	return startBin(ctx, "", env, args...)
}

// startBin is startSelf with another drainwatch binary (exe; "" is this one).
func startBin(ctx context.Context, exe string, env []string, args ...string) (*selfProc, error) {
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			return nil, err
		}
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &selfProc{cmd: cmd, done: make(chan error, 1), syslog: make(chan string, 1)}
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if m := listenRe.FindStringSubmatch(sc.Text()); m != nil {
				if strings.Contains(sc.Text(), "syslog drain listening") {
					select {
					case p.syslog <- m[1]:
					default:
					}
					continue
				}
				select {
				case found <- m[1]:
				default:
				}
			}
		}
		p.done <- cmd.Wait()
	}()
	select {
	case p.addr = <-found:
		return p, nil
	case err := <-p.done:
		return nil, fmt.Errorf("%s exited before listening: %v", args[0], err)
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		return nil, fmt.Errorf("%s did not start", args[0])
	case <-ctx.Done():
		cmd.Process.Kill()
		return nil, ctx.Err()
	}
}

func (p *selfProc) stop() {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

// sinkCommand is the ceiling for `drainwatch bench`: it reads each body and
// counts its frames, and stores nothing.
type sinkCommand struct{ env *env }

func (c *sinkCommand) Run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bench-sink", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:0", "address to listen on")
	if err := parseFlags(fs, args, c.env.stdout, "bench-sink [--addr 127.0.0.1:0]\n\nThe ceiling that 'drainwatch bench' compares with: reads bodies, counts frames, stores nothing."); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	var pool sync.Pool
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		buf, _ := pool.Get().(*bytes.Buffer)
		if buf == nil {
			buf = new(bytes.Buffer)
		}
		buf.Reset()
		buf.ReadFrom(r.Body)
		f := parser.NewFramer(buf.Bytes(), 0)
		n := 0
		for !f.Done() {
			if fr, err := f.Next(); err == nil && fr != nil {
				n++
			}
		}
		pool.Put(buf)
		fmt.Fprintf(w, "ok frames=%d\n", n)
	})}
	fmt.Fprintf(c.env.stdout, "at=info msg=\"bench-sink listening\" addr=%s\n", ln.Addr())
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
