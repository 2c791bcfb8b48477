package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// loadBody is a ~100 KiB logplex body: router lines for four web dynos,
// runtime-metrics samples, app lines, and an R14 for dyno r14Dyno (a new
// name each body opens an alert episode, and a Slack delivery, every time).
func loadBody(n int, t0 time.Time, r14Dyno string) []byte {
	var b bytes.Buffer
	frame := func(t time.Time, app, proc, msg string) {
		m := fmt.Sprintf("<158>1 %s host %s %s - %s", t.Format("2006-01-02T15:04:05.000000+00:00"), app, proc, msg)
		fmt.Fprintf(&b, "%d %s\n", len(m)+1, m)
	}
	i := 0
	for b.Len() < 100<<10 {
		t := t0.Add(time.Duration(i) * time.Millisecond)
		switch {
		case i%50 == 0:
			frame(t, "heroku", "web.1", fmt.Sprintf("source=web.1 dyno=heroku.1.boot sample#memory_total=%d.00MB sample#memory_rss=200.00MB sample#memory_quota=512.00MB", 200+i%100))
		case i%97 == 0:
			frame(t, "app", "web.1", `at=info method=GET path=/ measure#db.latency=4ms count#jobs=1`)
		default:
			frame(t, "heroku", "router", fmt.Sprintf(`at=info method=GET path="/users/%d" host=x.herokuapp.com request_id=%d-%d fwd="1.2.3.4" dyno=web.%d connect=1ms service=%dms status=200 bytes=%d protocol=https`, i, n, i, 1+i%4, 10+i%90, 1000+i))
		}
		i++
	}
	frame(t0, "heroku", r14Dyno, "Error R14 (Memory quota exceeded)")
	return b.Bytes()
}

func countFrames(b []byte) int { return bytes.Count(b, []byte("\n")) }

// postLoad posts n bodies, body(i) for i in [offset, offset+n), from 4
// senders, each with its own frame id, and returns lines acknowledged per
// second.
func postLoad(b *testing.B, addr string, n, offset int, body func(i int) []byte) float64 {
	var next atomic.Int64
	var lines atomic.Int64
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 30 * time.Second}
	start := time.Now()
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				data := body(offset + i)
				req, _ := http.NewRequest("POST", "http://"+addr+"/logs/bench", bytes.NewReader(data))
				req.SetBasicAuth("x", "pw")
				req.Header.Set("Content-Type", "application/logplex-1")
				req.Header.Set("Logplex-Frame-Id", "b"+strconv.Itoa(offset+i))
				resp, err := client.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Errorf("status %d", resp.StatusCode)
					return
				}
				lines.Add(int64(countFrames(data)))
			}
		}()
	}
	wg.Wait()
	return float64(lines.Load()) / time.Since(start).Seconds()
}

// BenchmarkIngestSlackOutage measures end-to-end ingest (HTTP, parse, store,
// alert engine) with Slack healthy and with Slack hanging on every request:
// the second must stay within 10% of the first. Each body raises an alert.
func BenchmarkIngestSlackOutage(b *testing.B) {
	for _, mode := range []string{"slack=ok", "slack=hanging"} {
		b.Run(mode, func(b *testing.B) {
			slackSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if mode == "slack=hanging" {
					select {
					case <-r.Context().Done():
					case <-time.After(2500 * time.Millisecond):
					}
					w.WriteHeader(503)
					return
				}
				io.WriteString(w, "ok")
			}))
			defer func() {
				slackSrv.CloseClientConnections()
				slackSrv.Close()
			}()
			sc, _ := slackSettings(func(k string) string { return map[string]string{"SLACK_WEBHOOK_URL": slackSrv.URL + "/hook"}[k] })
			settings, _ := alertSettings(func(string) string { return "" })
			settings.Timeout = 2 * time.Second
			s := &server{cfg: serveConfig{Addr: "127.0.0.1:0", DBPath: filepath.Join(b.TempDir(), "b.db"), Password: "pw", MaxBody: 1 << 20,
				Alerts: settings, Slack: &sc}, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
			if err := s.Open(context.Background()); err != nil {
				b.Fatal(err)
			}
			defer s.Close(context.Background())
			t0 := time.Now().Add(-time.Hour)
			bodies := make([][]byte, b.N)
			for i := range bodies {
				bodies[i] = loadBody(i, t0.Add(time.Duration(i)*time.Second), fmt.Sprintf("web.%d", 100+i))
			}
			b.ResetTimer()
			rate := postLoad(b, s.Addr(), len(bodies), 0, func(i int) []byte { return bodies[i] })
			b.StopTimer()
			b.ReportMetric(rate, "lines/s")
			b.ReportMetric(float64(s.alerts.Fired.Load()), "alerts")
		})
	}
}

// rssMB reads this process's resident set size.
func rssMB() float64 {
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			f := strings.Fields(l)
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}

// BenchmarkSoak feeds the daemon (in this process) b.N bodies of ~400 lines
// and samples the heap and RSS after each tenth: drainwatch must pass its own
// leak test — the last tenth's heap is not above the second tenth's by more
// than noise. Run: go test ./cmd/drainwatch -run XXX -bench Soak -benchtime 5000x
func BenchmarkSoak(b *testing.B) {
	s := &server{cfg: serveConfig{Addr: "127.0.0.1:0", DBPath: filepath.Join(b.TempDir(), "soak.db"), Password: "pw", MaxBody: 1 << 20},
		log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if err := s.Open(context.Background()); err != nil {
		b.Fatal(err)
	}
	defer s.Close(context.Background())
	t0 := time.Now().Add(-24 * time.Hour)
	linesPerBody := countFrames(loadBody(0, t0, "web.1"))
	var heaps, rss []float64
	chunk := max(b.N/10, 1)
	b.ResetTimer()
	lines := 0
	for done := 0; done < b.N; {
		n := min(chunk, b.N-done)
		// Distinct frame ids and times: every body is stored, and the log
		// time moves on as it would live.
		postLoad(b, s.Addr(), n, done, func(i int) []byte {
			return loadBody(i, t0.Add(time.Duration(i)*time.Second), "web.1")
		})
		done += n
		lines += n * linesPerBody
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		heaps = append(heaps, float64(ms.HeapInuse)/(1<<20))
		rss = append(rss, rssMB())
	}
	b.StopTimer()
	if path := os.Getenv("SOAK_HEAP_PROFILE"); path != "" {
		// The heap while the daemon still runs: what stays in use.
		f, _ := os.Create(path)
		pprof.WriteHeapProfile(f)
		f.Close()
	}
	if len(heaps) >= 3 {
		b.ReportMetric(heaps[1], "heap_MB_early")
		b.ReportMetric(heaps[len(heaps)-1], "heap_MB_end")
		b.ReportMetric(rss[1], "rss_MB_early")
		b.ReportMetric(rss[len(rss)-1], "rss_MB_end")
	}
	b.ReportMetric(float64(lines), "lines")
	b.Logf("heap MB by tenth: %.1f", heaps)
	b.Logf("RSS MB by tenth:  %.1f", rss)
}
