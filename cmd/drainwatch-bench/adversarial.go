package main

import (
	"bufio"
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// advOptions size `drainwatch-bench --adversarial`.
type advOptions struct {
	paths, dynos, bodies int
	phases, keep         string
}

// advPhases are the adversarial loads, in the order they run by default.
var advPhases = []string{"conns", "bodies", "dynos", "paths", "apps", "queries"}

// The targets of issue 16 the adversarial run checks: a phase whose peak
// RSS passes advMaxRSSMB fails, and so does the random-paths phase if the
// database grows more than advMaxMBPerMillion per million lines.
const (
	advMaxRSSMB        = 128
	advMaxMBPerMillion = 60
	advApps            = 150 // new apps posted by the apps phase (MAX_APPS is 100)
)

// advRun is one adversarial run: a fresh daemon as a child process on
// 127.0.0.1, with its RSS sampled every 50 ms.
type advRun struct {
	out     io.Writer
	d       *selfProc
	addr    string
	secret  string
	token   string
	dbPath  string
	peakMB  atomic.Uint64 // the phase's peak RSS, in KB
	failure []string
}

// runAdversarial replays the attacks of issue 16 through the real HTTP
// server, one phase after another on one daemon, and prints each phase's
// latencies and peak RSS.
func runAdversarial(ctx context.Context, out io.Writer, bin string, o advOptions) error {
	dir, err := os.MkdirTemp("", "drainwatch-adversarial-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	r := &advRun{out: out, secret: crand.Text(), token: crand.Text(), dbPath: filepath.Join(dir, "adv.db")}
	if o.keep != "" {
		r.dbPath = o.keep
	}
	tokens := "d.adversarial=adv-syslog,d.adv-conns=adv-conns,d.adv-bodies=adv-bodies,d.adv-dynos=adv-dynos,d.adv-paths=adv-paths"
	for i := 0; i < advApps; i++ {
		tokens += fmt.Sprintf(",d.adv-app-%d=adv-app-%d", i, i)
	}
	r.d, err = startBin(ctx, bin, []string{"DRAIN_PASSWORD=" + r.secret, "API_TOKEN=" + r.token, "SYSLOG_ADDR=127.0.0.1:0", "SYSLOG_PLAIN=1",
		"DRAIN_TOKENS=" + tokens}, "serve", "--addr", "127.0.0.1:0", "--db", r.dbPath)
	if err != nil {
		return err
	}
	defer r.d.stop()
	r.addr = r.d.addr
	stopSampling := make(chan struct{})
	var sampling sync.WaitGroup
	sampling.Add(1)
	go func() {
		defer sampling.Done()
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			r.sample()
			select {
			case <-stopSampling:
				return
			case <-t.C:
			}
		}
	}()
	defer func() { close(stopSampling); sampling.Wait() }()
	fmt.Fprintf(r.out, "adversarial loads through the real HTTP server (a fresh daemon on 127.0.0.1, RSS sampled every 50 ms)\n\n")
	for _, phase := range strings.Split(o.phases, ",") {
		if ctx.Err() != nil {
			break
		}
		r.peakMB.Store(0)
		start := time.Now()
		var err error
		switch strings.TrimSpace(phase) {
		case "conns":
			err = r.conns(ctx)
		case "bodies":
			err = r.tinyFrames(ctx, o.bodies)
		case "dynos":
			err = r.oneOffDynos(ctx, o.dynos)
		case "paths":
			err = r.randomPaths(ctx, o.paths)
		case "apps":
			err = r.manyApps(ctx, advApps)
		case "queries":
			err = r.queries(ctx)
		default:
			return fmt.Errorf("--phases: unknown phase %q", phase)
		}
		r.sample()
		peak := float64(r.peakMB.Load()) / 1024
		if err == nil && peak > advMaxRSSMB {
			err = fmt.Errorf("peak RSS %.1f MB, the target is %d MB at most", peak, advMaxRSSMB)
		}
		if err != nil {
			r.failure = append(r.failure, phase+": "+err.Error())
			fmt.Fprintf(r.out, "  FAILED: %v\n", err)
		}
		fmt.Fprintf(r.out, "  peak RSS %.1f MB (phase took %s)\n\n", peak, time.Since(start).Round(100*time.Millisecond))
	}
	if hwm, ok := procRSS(r.d.cmd.Process.Pid, "VmHWM"); ok {
		fmt.Fprintf(r.out, "daemon peak RSS over the whole run (VmHWM): %.1f MB\n", hwm)
	}
	if len(r.failure) > 0 {
		return fmt.Errorf("adversarial: %s", strings.Join(r.failure, "; "))
	}
	return nil
}

// sample records the daemon's RSS in the phase's peak.
func (r *advRun) sample() {
	mb, ok := procRSS(r.d.cmd.Process.Pid, "VmRSS")
	if !ok {
		return
	}
	kb := uint64(mb * 1024)
	for {
		old := r.peakMB.Load()
		if kb <= old || r.peakMB.CompareAndSwap(old, kb) {
			return
		}
	}
}

// post sends one drain body and returns its status and how long it took.
func (r *advRun) post(client *http.Client, app string, body []byte, frameID string) (int, time.Duration, error) {
	req, _ := http.NewRequest("POST", "http://"+r.addr+"/logs/"+app, bytes.NewReader(body))
	req.SetBasicAuth("adversary", r.secret)
	req.Header.Set("Logplex-Drain-Token", "d."+app)
	req.Header.Set("Content-Type", "application/logplex-1")
	if frameID != "" {
		req.Header.Set("Logplex-Frame-Id", frameID)
	}
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return 0, time.Since(start), err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, time.Since(start), nil
}

// conns: 1,000 keep-alive connections idle after a GET /healthz and 200
// that never send a header, then a drain POST; 64 silent syslog
// connections, then a syslog line.
func (r *advRun) conns(ctx context.Context) error {
	fmt.Fprintln(r.out, "idle connections: 1,000 keep-alive (idle after GET /healthz) + 200 header-less, then a drain POST; 64 silent syslog connections, then a syslog line")
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	var mu sync.Mutex
	var wg sync.WaitGroup
	var failed atomic.Int64
	next := make(chan struct{}, 1000)
	for i := 0; i < 1000; i++ {
		next <- struct{}{}
	}
	close(next)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range next {
				c, err := net.DialTimeout("tcp", r.addr, 5*time.Second)
				if err != nil {
					failed.Add(1)
					continue
				}
				c.SetDeadline(time.Now().Add(10 * time.Second))
				io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: drainwatch\r\n\r\n")
				if resp, err := http.ReadResponse(bufio.NewReader(c), nil); err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				} else {
					failed.Add(1)
				}
				c.SetDeadline(time.Time{})
				mu.Lock()
				held = append(held, c)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	for i := 0; i < 200; i++ {
		if c, err := net.Dial("tcp", r.addr); err == nil {
			held = append(held, c)
		}
	}
	client := &http.Client{Timeout: 120 * time.Second}
	code, took, err := r.post(client, "adv-conns", []byte(advFrame(fmt.Sprintf("<45>1 %s host heroku web.1 - source=web.1 dyno=heroku.1.boot sample#memory_total=300.00MB sample#memory_quota=512.00MB", stamp(time.Now())))), "")
	fmt.Fprintf(r.out, "  drain POST behind them: %d in %s (%d keep-alive requests failed)\n", code, took.Round(time.Millisecond), failed.Load())
	if err != nil || code != 200 || took > time.Second {
		err = fmt.Errorf("drain POST %d after %s (%v), want 200 in < 1 s", code, took, err)
	}
	var slAddr string
	select {
	case slAddr = <-r.d.syslog:
	case <-time.After(5 * time.Second):
		return fmt.Errorf("the daemon did not say its syslog address")
	}
	for i := 0; i < 64; i++ {
		if c, err := net.Dial("tcp", slAddr); err == nil {
			held = append(held, c)
		}
	}
	time.Sleep(200 * time.Millisecond) // the 64 accepted before the sender
	start := time.Now()
	c, err2 := net.Dial("tcp", slAddr)
	if err2 != nil {
		return err2
	}
	m := fmt.Sprintf("<190>1 %s d.adversarial heroku web.1 - - Error R14 (Memory quota exceeded)", stamp(time.Now()))
	fmt.Fprintf(c, "%d %s", len(m), m)
	c.Close()
	stored := false
	for time.Since(start) < 30*time.Second && !stored {
		var errs []map[string]any
		if r.api("errors?app=adv-syslog", &errs) == nil && len(errs) > 0 {
			stored = true
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	took = time.Since(start)
	fmt.Fprintf(r.out, "  syslog line behind 64 silent connections: stored %v after %s\n", stored, took.Round(time.Millisecond))
	if err == nil && (!stored || took > time.Second) {
		err = fmt.Errorf("syslog line stored %v after %s, want < 1 s", stored, took)
	}
	return err
}

// api GETs /api/<what> into v.
func (r *advRun) api(what string, v any) error {
	req, _ := http.NewRequest("GET", "http://"+r.addr+"/api/"+what, nil)
	req.Header.Set("Authorization", "Bearer "+r.token)
	resp, err := (&http.Client{Timeout: 60 * time.Second}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("%s", resp.Status)
	}
	return decodeJSON(resp.Body, v)
}

// health reads /healthz's counters.
func (r *advRun) health() (map[string]any, error) {
	resp, err := (&http.Client{Timeout: 60 * time.Second}).Get("http://" + r.addr + "/healthz")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var m map[string]any
	return m, decodeJSON(resp.Body, &m)
}

// tinyFrames: n concurrent 1 MiB bodies of 50-byte frames (20,971 each),
// four rounds.
func (r *advRun) tinyFrames(ctx context.Context, n int) error {
	ts := time.Now().UTC().Format("2006-01-02T15:04:05Z")
	f := advFrame("<0>1 " + ts + " host app web.1 - xxxx")
	body := bytes.Repeat([]byte(f), (1<<20)/len(f))
	fmt.Fprintf(r.out, "bodies of minimal frames: %d concurrent 1 MiB bodies of %d-byte frames (%d frames each), 4 rounds\n", n, len(f), (1<<20)/len(f))
	var mu sync.Mutex
	var lats []time.Duration
	codes := map[int]int{}
	for round := 0; round < 4; round++ {
		var wg sync.WaitGroup
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				code, took, _ := r.post(&http.Client{Timeout: 60 * time.Second}, "adv-bodies", body, fmt.Sprintf("%032x", round*1000+i))
				mu.Lock()
				codes[code]++
				lats = append(lats, took)
				mu.Unlock()
			}()
		}
		wg.Wait()
	}
	p50, p99 := percentiles(lats)
	fmt.Fprintf(r.out, "  answers %v; latency p50 %s, p99 %s\n", codes, p50.Round(time.Millisecond), p99.Round(time.Millisecond))
	if codes[200]+codes[503] != len(lats) {
		return fmt.Errorf("answers %v: want 200 (or 503 past the memory budget)", codes)
	}
	return nil
}

// oneOffDynos: n distinct run.N dynos, two memory samples each, in
// ~100 KiB bodies from 4 senders.
func (r *advRun) oneOffDynos(ctx context.Context, n int) error {
	fmt.Fprintf(r.out, "one-off dynos: %d distinct run.N dynos, 2 runtime-metrics samples each, ~100 KiB bodies from 4 senders\n", n)
	t0 := time.Now().Add(-10 * time.Minute)
	line := func(j int) string {
		i, k := j/2, j%2
		ts := stamp(t0.Add(time.Duration(k)*20*time.Second + time.Duration(i)*time.Millisecond))
		return advFrame(fmt.Sprintf("<45>1 %s host heroku run.%d - source=run.%d dyno=heroku.1.%08x sample#memory_total=%d.00MB sample#memory_rss=%d.00MB sample#memory_quota=512.00MB",
			ts, 1000+i, 1000+i, i, 100+i%400, 90+i%400))
	}
	return r.ingest("adv-dynos", 2*n, line)
}

// randomPaths: n router lines whose paths are random words without digits
// (bots, slugs: nothing folds into a template), 4 dynos.
func (r *advRun) randomPaths(ctx context.Context, n int) error {
	fmt.Fprintf(r.out, "random paths: %d router lines with random digit-less paths, ~100 KiB bodies from 4 senders\n", n)
	t0 := time.Now().Add(-time.Hour)
	line := func(i int) string {
		rng := rand.New(rand.NewPCG(16, uint64(i)))
		word := func() string {
			b := make([]byte, 4+rng.IntN(8))
			for i := range b {
				b[i] = byte('a' + rng.IntN(26))
			}
			return string(b)
		}
		ts := stamp(t0.Add(time.Duration(i) * time.Hour / time.Duration(n)))
		return advFrame(fmt.Sprintf(`<158>1 %s host heroku router - at=info method=GET path="/%s/%s-%s" host=example.herokuapp.com request_id=%x fwd="203.0.113.9" dyno=web.%d connect=1ms service=%dms status=%d bytes=512 protocol=https`,
			ts, word(), word(), word(), i, 1+i%4, 5+i%300, []int{200, 200, 200, 404, 500}[i%5]))
	}
	r.stored() // what the phases before left pending
	before := fileSize(r.dbPath)
	err := r.ingest("adv-paths", n, line)
	wait := r.stored()
	// The database file, not its WAL: the WAL holds what is not
	// checkpointed yet (bounded by the checkpointer, not by the lines),
	// and is reused, not grown, once checkpointed.
	grown := float64(fileSize(r.dbPath)-before) / (1 << 20)
	perMillion := grown / (float64(n) / 1e6)
	h, _ := r.health()
	fmt.Fprintf(r.out, "  stored as rows %s after the load; database file grew %.1f MB: %.1f MB per million lines (WAL now %.1f MB); %v lines' paths folded (paths_folded)\n",
		wait.Round(100*time.Millisecond), grown, perMillion, float64(fileSize(r.dbPath+"-wal"))/(1<<20), h["paths_folded"])
	if err == nil && perMillion > advMaxMBPerMillion {
		err = fmt.Errorf("database grew %.1f MB per million lines, the target is %d MB at most", perMillion, advMaxMBPerMillion)
	}
	return err
}

// stored waits until every acknowledged batch is stored as rows (a 200
// from /healthz flushes the writer) and says how long that took.
func (r *advRun) stored() time.Duration {
	start := time.Now()
	for time.Since(start) < 10*time.Minute {
		resp, err := (&http.Client{Timeout: 60 * time.Second}).Get("http://" + r.addr + "/healthz")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
	}
	return time.Since(start)
}

// manyApps: a body for each of n new apps, more than MAX_APPS: every one is
// answered 200, those beyond the limit with nothing stored.
func (r *advRun) manyApps(ctx context.Context, n int) error {
	fmt.Fprintf(r.out, "new apps: a body each for %d apps (MAX_APPS: 100 by default)\n", n)
	before, err := r.health()
	if err != nil {
		return err
	}
	client := &http.Client{Timeout: 60 * time.Second}
	codes := map[int]int{}
	var lats []time.Duration
	for i := 0; i < n && ctx.Err() == nil; i++ {
		app := fmt.Sprintf("adv-app-%d", i)
		ts := stamp(time.Now().Add(-time.Minute))
		body := advFrame(fmt.Sprintf("<45>1 %s host heroku web.1 - source=web.1 dyno=heroku.1.%08x sample#memory_total=100.00MB sample#memory_rss=90.00MB sample#memory_quota=512.00MB", ts, i))
		code, took, _ := r.post(client, app, []byte(body), app)
		codes[code]++
		lats = append(lats, took)
	}
	after, err := r.health()
	if err != nil {
		return err
	}
	num := func(m map[string]any, k string) float64 { f, _ := m[k].(float64); return f }
	dropped := num(after, "apps_dropped") - num(before, "apps_dropped")
	p50, p99 := percentiles(lats)
	fmt.Fprintf(r.out, "  answers %v; %.0f apps dropped (apps_dropped), %.0f batches (app_batches_dropped); latency p50 %s, p99 %s\n",
		codes, dropped, num(after, "app_batches_dropped")-num(before, "app_batches_dropped"), p50.Round(time.Millisecond), p99.Round(time.Millisecond))
	if codes[200] != n || dropped == 0 {
		return fmt.Errorf("answers %v and %.0f apps dropped: want all 200, and some dropped", codes, dropped)
	}
	return nil
}

func fileSize(path string) int64 {
	if st, err := os.Stat(path); err == nil {
		return st.Size()
	}
	return 0
}

// ingest posts lines line(0)…line(n-1) in ~100 KiB bodies from 4
// senders, made as they go, and prints the rate and latencies.
func (r *advRun) ingest(app string, n int, line func(int) string) error {
	perBody := max(1, (100<<10)/len(line(0)))
	var next atomic.Int64
	var mu sync.Mutex
	var lats []time.Duration
	codes := map[int]int{}
	start := time.Now()
	var wg sync.WaitGroup
	for s := 0; s < 4; s++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{Timeout: 60 * time.Second}
			var b bytes.Buffer
			for {
				first := int(next.Add(int64(perBody))) - perBody
				if first >= n {
					return
				}
				b.Reset()
				for i := first; i < min(first+perBody, n); i++ {
					b.WriteString(line(i))
				}
				code, took, _ := r.post(client, app, b.Bytes(), fmt.Sprintf("%s-%d", app, first))
				mu.Lock()
				codes[code]++
				lats = append(lats, took)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	p50, p99 := percentiles(lats)
	fmt.Fprintf(r.out, "  %.0f lines/s; %d bodies, answers %v; latency p50 %s, p99 %s\n", float64(n)/el.Seconds(), len(lats), codes,
		p50.Round(time.Millisecond), p99.Round(time.Millisecond))
	if codes[200] != len(lats) {
		return fmt.Errorf("answers %v, want all 200", codes)
	}
	return nil
}

// queries asks every query the API and the page offer, on what the other
// phases stored, and prints each one's time and size.
func (r *advRun) queries(ctx context.Context) error {
	// Queries store what was acknowledged first: wait until the rows of
	// every batch are in, and say how long that took.
	fmt.Fprintf(r.out, "every acknowledged batch stored as rows %s after the loads ended\n", r.stored().Round(100*time.Millisecond))
	r.peakMB.Store(0)
	fmt.Fprintln(r.out, "queries on that database (each through the API or the page, as the CLI with --url and a browser ask):")
	var errs []string
	for _, q := range []string{
		"api/requests?app=adv-paths&by=path", "api/requests?app=adv-paths&by=path&top=1000", "api/requests?by=path",
		"api/requests?app=adv-paths&by=dyno", "api/requests?app=adv-paths&by=status",
		"api/dynos", "api/dynos?app=adv-dynos&limit=1000", "api/memory?app=adv-dynos", "api/memory?app=adv-dynos&limit=100000",
		"api/load?app=adv-dynos", "api/errors", "api/alerts", "api/analyze?app=adv-dynos", "api/analyze?app=adv-paths",
		"api/suspects?app=adv-paths", "api/suspects?app=adv-dynos", "?app=adv-dynos", "?app=adv-paths", "?app=adv-dynos&range=30d", "healthz",
	} {
		req, _ := http.NewRequest("GET", "http://"+r.addr+"/"+q, nil)
		req.Header.Set("Authorization", "Bearer "+r.token)
		if strings.HasPrefix(q, "?") {
			req.AddCookie(&http.Cookie{Name: "drainwatch_token", Value: r.token})
		}
		start := time.Now()
		resp, err := (&http.Client{Timeout: 60 * time.Second}).Do(req)
		if err != nil {
			errs = append(errs, q+": "+err.Error())
			fmt.Fprintf(r.out, "  %-48s error after %s: %v\n", q, time.Since(start).Round(time.Millisecond), err)
			continue
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		took := time.Since(start)
		fmt.Fprintf(r.out, "  %-48s %d, %8.1f KiB in %s\n", q, resp.StatusCode, float64(n)/1024, took.Round(time.Millisecond))
		if resp.StatusCode != 200 || took > 2*time.Second {
			errs = append(errs, fmt.Sprintf("%s: %d in %s", q, resp.StatusCode, took))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("want 200 in < 2 s: %s", strings.Join(errs, "; "))
	}
	return nil
}

func percentiles(lats []time.Duration) (p50, p99 time.Duration) {
	if len(lats) == 0 {
		return 0, 0
	}
	sort.Slice(lats, func(i, j int) bool { return lats[i] < lats[j] })
	return lats[len(lats)/2], lats[min(len(lats)*99/100, len(lats)-1)]
}

// advFrame octet-counts a message as logplex does (the count includes the LF).
func advFrame(msg string) string { return strconv.Itoa(len(msg)+1) + " " + msg + "\n" }

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000+00:00") }

func decodeJSON(r io.Reader, v any) error { return json.NewDecoder(r).Decode(v) }
