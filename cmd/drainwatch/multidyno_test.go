package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/drainwatch/drainwatch/store"
	"github.com/drainwatch/drainwatch/store/postgres"
	"github.com/drainwatch/drainwatch/store/postgres/pgtest"
	"github.com/drainwatch/drainwatch/store/storetest"
)

// childHealth is a daemon's /healthz, as JSON.
func childHealth(addr string) map[string]any {
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	var m map[string]any
	json.NewDecoder(resp.Body).Decode(&m)
	return m
}

func leading(addr string) bool {
	m := childHealth(addr)
	return m != nil && m["leader"] == true
}

// TestTwoDaemonsOnePostgres is Heroku's `ps:scale web=2`: two serve
// processes on one database, both ingesting the same app's router lines
// for the same minutes from their own senders — every acknowledged line
// counted once — and one alert evaluator: SIGKILLed with an over-quota
// episode open, the other takes over, and the episode is neither lost
// nor sent again.
func TestTwoDaemonsOnePostgres(t *testing.T) {
	url := pgtest.NewDB(t)
	fake := &recordingSlack{}
	slackSrv := httptest.NewServer(fake)
	defer slackSrv.Close()
	env := []string{"LEADER_INTERVAL=200ms", "SLACK_WEBHOOK_URL=" + slackSrv.URL + "/services/T/B/SECRET"}
	a := startChild(t, url, env...)
	t.Cleanup(func() { a.cmd.Process.Kill() })
	waitFor(t, "the first daemon to lead", func() bool { return leading(a.addr) })
	b := startChild(t, url, env...)
	t.Cleanup(func() { b.cmd.Process.Kill() })
	if leading(b.addr) {
		t.Fatal("two leaders")
	}

	// Both ingest the same app and minutes, from a sender each.
	body := storetest.RouterBody(0, 10) // 70 router lines, minutes 0-9 after storetest.T0
	const perBody, bodies = 70, 40
	var mu sync.Mutex
	acked := 0
	var wg sync.WaitGroup
	for i, c := range []*child{a, b} {
		wg.Go(func() {
			for n := range bodies {
				req, _ := http.NewRequest("POST", "http://"+c.addr+"/logs/shared", bytes.NewReader(body))
				req.SetBasicAuth("x", "pw")
				req.Header.Set("Content-Type", "application/logplex-1")
				req.Header.Set("Logplex-Frame-Id", fmt.Sprintf("sender%d-%d", i, n))
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
				if resp.StatusCode == 200 {
					mu.Lock()
					acked++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if acked != 2*bodies {
		t.Fatalf("%d of %d bodies acknowledged", acked, 2*bodies)
	}
	// A retry of an acknowledged body, to the other daemon: a duplicate.
	req, _ := http.NewRequest("POST", "http://"+b.addr+"/logs/shared", bytes.NewReader(body))
	req.SetBasicAuth("x", "pw")
	req.Header.Set("Logplex-Frame-Id", "sender0-3")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("retry: %v %v", resp, err)
	}
	ctx := context.Background()
	db, err := postgres.Open(ctx, url, postgres.Options{MaxConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	w, err := postgres.NewWriter(db, postgres.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	perMin, err := db.RequestsPerMinute(ctx, store.Filter{App: "shared"})
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, m := range perMin {
		total += m.N
	}
	if total != acked*perBody {
		t.Errorf("%d router lines stored, %d acknowledged", total, acked*perBody)
	}

	// An over-quota episode, through both daemons; fired and delivered.
	start := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	hist := history(start)
	postTo := func(c *child, i int) {
		t.Helper()
		req, _ := http.NewRequest("POST", "http://"+c.addr+"/logs/myapp", bytes.NewReader(hist[i]))
		req.SetBasicAuth("x", "pw")
		req.Header.Set("Logplex-Frame-Id", fmt.Sprintf("h%d", i))
		req.Header.Set("Content-Type", "application/logplex-1")
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("body %d: %v %v", i, resp, err)
		}
		resp.Body.Close()
	}
	for i := range 8 { // 80 minutes: near-quota fired (01:10), over-quota fired (01:15), neither resolved (01:27)
		postTo([]*child{a, b}[i%2], i)
	}
	delivered := func() bool {
		n, err := db.FeedLen(ctx)
		if err != nil || n > 0 {
			return false
		}
		p, err := db.PendingDeliveries(ctx, 1)
		return err == nil && len(p) == 0
	}
	waitFor(t, "near- and over-quota delivered", func() bool { return delivered() && len(fake.got()) >= 2 })
	if got := fake.got(); strings.Join(got, "\n") != strings.Join(wantSlack[:2], "\n") {
		t.Fatalf("Slack before the kill:\n%s", strings.Join(got, "\n"))
	}
	open, err := db.OpenAlerts(ctx)
	if err != nil || len(open) != 2 {
		t.Fatalf("open episodes before the kill: %+v %v", open, err)
	}

	// SIGKILL the evaluator; the other takes over.
	killed := time.Now()
	a.cmd.Process.Signal(syscall.SIGKILL)
	<-a.done
	waitFor(t, "the second daemon to lead", func() bool { return leading(b.addr) })
	t.Logf("took over %v after the kill", time.Since(killed).Round(time.Millisecond))
	if time.Since(killed) > time.Minute {
		t.Errorf("took over after %v", time.Since(killed))
	}
	// Still over the quota, with R14s, after the takeover: an episode
	// the new evaluator forgot would fire again here.
	var over bytes.Buffer
	for s := 78 * 60; s < 80*60; s += 20 {
		at := start.Add(time.Duration(s) * time.Second).Format("2006-01-02T15:04:05.000000+00:00")
		for _, msg := range []string{"Error R14 (Memory quota exceeded)",
			"source=web.1 dyno=heroku.1234.web-boot sample#memory_total=530.00MB sample#memory_rss=530.00MB sample#memory_cache=0.00MB sample#memory_swap=0.00MB sample#memory_pgpgin=0pages sample#memory_pgpgout=0pages sample#memory_quota=512.00MB"} {
			m := fmt.Sprintf("<45>1 %s host heroku web.1 - %s", at, msg)
			fmt.Fprintf(&over, "%d %s\n", len(m)+1, m)
		}
	}
	postTo(b, 7) // a retry of a body stored before the kill: a duplicate
	hist = append(hist, over.Bytes())
	postTo(b, len(hist)-1)
	for i := 8; i < len(hist)-1; i++ {
		postTo(b, i)
	}
	waitFor(t, "every alert delivered", func() bool { return delivered() && len(fake.got()) >= len(wantSlack) })
	if got := fake.got(); strings.Join(got, "\n") != strings.Join(wantSlack, "\n") {
		t.Fatalf("Slack got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(wantSlack, "\n"))
	}
	b.cmd.Process.Signal(syscall.SIGTERM)
	if err := <-b.done; err != nil {
		t.Fatalf("second daemon: %v\n%s", err, b.out)
	}
}

// TestDatabaseURLChoosesPostgres: on Heroku the button sets DRAINWATCH_DB
// to the file and the add-on sets DATABASE_URL: the daemon uses the
// database, and says so (password hidden).
func TestDatabaseURLChoosesPostgres(t *testing.T) {
	url := strings.Replace(pgtest.NewDB(t), "://drainwatch@", "://drainwatch:s3cret@", 1) // the test server trusts; the password is for the log check
	dir := t.TempDir()
	c := startChild(t, "", "DATABASE_URL="+url, "DRAINWATCH_DB="+dir+"/drainwatch.db")
	t.Cleanup(func() { c.cmd.Process.Kill() })
	waitFor(t, "the daemon to lead", func() bool { return leading(c.addr) })
	if out := c.out.String(); !strings.Contains(out, `db="postgres://drainwatch:xxxxx@`) || strings.Contains(out, "s3cret") {
		t.Errorf("the daemon did not say it uses PostgreSQL:\n%s", c.out)
	}
	req, _ := http.NewRequest("POST", "http://"+c.addr+"/logs/x", bytes.NewReader(storetest.KindsBody(0)))
	req.SetBasicAuth("x", "pw")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("POST: %v %v", resp, err)
	}
	c.cmd.Process.Signal(syscall.SIGTERM)
	if err := <-c.done; err != nil {
		t.Fatalf("serve: %v\n%s", err, c.out)
	}
	code, out, errOut := run(t, nil, "", "mem", "--db", url, "--app", "x", "--json")
	if code != 0 || !strings.Contains(out, `"memory_total_mb": 180.43`) {
		t.Errorf("mem --db URL: %d %s %s", code, out, errOut)
	}
	if _, err := os.Stat(dir + "/drainwatch.db"); err == nil {
		t.Error("a SQLite file was created too")
	}
}
