package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/drainwatch/drainwatch/analyze"
)

// runBench loads the daemon o.target, or a fresh one run from bin, and
// (unless o.skipCeiling) the ceiling, and prints what each did.
func runBench(ctx context.Context, out io.Writer, o options, bin string) error {
	bodies := loadBodies(32, o.bodyKB<<10)
	lines := 0
	routerLines := 0
	for _, b := range bodies {
		lines += bytes.Count(b, []byte("\n"))
		routerLines += bytes.Count(b, []byte(" router - "))
	}
	fmt.Fprintf(out, "bodies: %d distinct, %.0f KiB and %d lines each (%.0f%% router lines); %d connections, %s per run\n\n",
		len(bodies), float64(len(bodies[0]))/1024, lines/len(bodies), 100*float64(routerLines)/float64(lines), o.conns, o.duration)
	if o.pgURL != "" {
		return benchBackends(ctx, out, bin, o.pgURL, bodies, lines, routerLines, o.conns, max(o.rounds, 1), o.duration)
	}

	var ceiling *loadResult
	if !o.skipCeiling {
		sink, err := startSelf(ctx, nil, "sink", "--addr", "127.0.0.1:0")
		if err != nil {
			return err
		}
		r := runLoad(ctx, sink.addr, "", bodies, false, o.conns, o.duration, nil)
		sink.stop()
		ceiling = &r
		fmt.Fprintf(out, "ceiling (bare server: read body, count frames):\n  %s\n\n", r)
	}

	if o.target != "" {
		r := runLoad(ctx, o.target, o.password, bodies, true, o.conns, o.duration, nil)
		fmt.Fprintf(out, "%s:\n  %s\n", o.target, r)
		if ceiling != nil && ceiling.rate() > 0 {
			fmt.Fprintf(out, "\nshare of the ceiling: %.1f%%\n", 100*r.rate()/ceiling.rate())
		}
		return nil
	}
	dir, err := os.MkdirTemp("", "drainwatch-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	secret := rand.Text()
	dbPath := filepath.Join(dir, "bench.db")
	daemon, err := startBin(ctx, bin, []string{"DRAIN_PASSWORD=" + secret}, "serve", "--addr", "127.0.0.1:0", "--db", dbPath)
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
	r := runLoad(ctx, daemon.addr, secret, bodies, true, o.conns, o.duration, sample)
	cpu1, cpuOK := procCPU(daemon.cmd.Process.Pid)
	peak, _ := procRSS(daemon.cmd.Process.Pid, "VmHWM")
	daemon.stop()
	fmt.Fprintf(out, "drainwatch serve (parse, store, rollups, alert engine; WAL synced to disk before each acknowledgement):\n  %s\n", r)
	fmt.Fprintf(out, "  peak RSS %.1f MB", peak)
	if len(rssSamples) >= 2 {
		fmt.Fprintf(out, "; RSS after the first second %.1f MB, at the end %.1f MB", rssSamples[0].MB, rssSamples[len(rssSamples)-1].MB)
	}
	fmt.Fprintln(out)
	fmt.Fprint(out, rssReport(rssSamples))
	if cpuOK && r.lines > 0 {
		// Less moved by other work on the host than lines/s: what a line costs.
		fmt.Fprintf(out, "  daemon CPU %.2f µs a line acknowledged\n", (cpu1-cpu0).Seconds()*1e6/float64(r.lines))
	}
	fmt.Fprintf(out, "  WAL file at most %.1f MiB (sampled each second)\n", float64(walPeak)/(1<<20))
	var size int64
	for _, suffix := range []string{"", "-wal"} {
		if st, err := os.Stat(dbPath + suffix); err == nil {
			size += st.Size()
		}
	}
	if routerLines > 0 && r.lines > 0 {
		router := float64(r.lines) * float64(routerLines) / float64(lines)
		mb := float64(size) / (1 << 20)
		fmt.Fprintf(out, "  database %.1f MiB for %.2f M lines (%.2f M router lines): %.1f MiB per million lines, %.1f per million router lines\n",
			mb, float64(r.lines)/1e6, router/1e6, mb/(float64(r.lines)/1e6), mb/(router/1e6))
	}
	if ceiling != nil && ceiling.rate() > 0 {
		fmt.Fprintf(out, "\nshare of the ceiling: %.1f%% (%.0f of %.0f lines/s)\n", 100*r.rate()/ceiling.rate(), r.rate(), ceiling.rate())
	}
	if r.failed > 0 {
		return fmt.Errorf("%d requests failed", r.failed)
	}
	return nil
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
