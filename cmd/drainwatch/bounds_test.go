package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"syscall"
	"testing"
	"time"
)

// needFiles skips a test that opens n sockets (each end a file descriptor
// in this process) when the limit is lower. Go raises the soft limit to the
// hard one at start; .ci/run raises the hard one where it can.
func needFiles(t *testing.T, n uint64) {
	t.Helper()
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil && lim.Cur < n {
		t.Skipf("needs %d open files, the limit is %d (ulimit -n)", n, lim.Cur)
	}
}

// healthCounters reads /healthz's counters.
func healthCounters(t *testing.T, s *server) map[string]any {
	t.Helper()
	_, body := health(t, s)
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatalf("healthz: %v: %s", err, body)
	}
	return m
}

// keepAlive opens a connection, asks GET /healthz on it, and leaves it open
// and idle, as a keep-alive client between requests.
func keepAlive(addr string) (net.Conn, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: drainwatch\r\n\r\n"); err != nil {
		c.Close()
		return nil, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		c.Close()
		return nil, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return c, nil
}

// TestIdleConnectionsCannotStarveDrain: behind 1,000 keep-alive connections
// idle after a request and 200 that never send a header, a drain POST on a
// new connection is answered at once (with the default settings: 1,024
// connections at most), by closing the connections idle the longest.
func TestIdleConnectionsCannotStarveDrain(t *testing.T) {
	needFiles(t, 3000)
	s, _ := startLoggedServer(t, serveConfig{})
	var mu sync.Mutex
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	var wg sync.WaitGroup
	next := make(chan struct{})
	go func() {
		for i := 0; i < 1000; i++ {
			next <- struct{}{}
		}
		close(next)
	}()
	var failed error
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range next {
				c, err := keepAlive(s.Addr())
				mu.Lock()
				if err != nil {
					failed = err
				} else {
					held = append(held, c)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if failed != nil {
		t.Fatalf("keep-alive connection: %v", failed)
	}
	for i := 0; i < 200; i++ {
		c, err := net.Dial("tcp", s.Addr())
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c) // connected, never a byte sent
	}
	// The kernel hands connections over in order: the POST's comes after
	// all the others.
	start := time.Now()
	code, answer := send(t, s, "starved", []byte(lframe(goodLine(300))), nil)
	took := time.Since(start)
	if code != 200 || took > time.Second {
		t.Fatalf("drain POST behind 1,200 idle connections: %d %q after %v (want 200 in < 1 s)", code, answer, took)
	}
	t.Logf("drain POST answered in %v behind 1,000 idle keep-alive and 200 silent connections", took)
	h := healthCounters(t, s)
	if n, _ := h["http_idle_conns_closed"].(float64); n < 1201-1024 {
		t.Errorf("healthz http_idle_conns_closed = %v, want at least %d: %v", h["http_idle_conns_closed"], 1201-1024, h)
	}
	// The oldest keep-alive connection was the first closed.
	held[0].SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := held[0].Read(make([]byte, 1)); err == nil || isTimeout(err) {
		t.Errorf("the connection idle longest is still open (%v)", err)
	}
}

// TestConnectionCapWaitsOnlyForBusy: at the cap, a new connection waits
// only while every connection is busy with a request.
func TestConnectionCapWaitsOnlyForBusy(t *testing.T) {
	s, _ := startLoggedServer(t, serveConfig{MaxConns: 2})
	// Two requests whose bodies are still coming: both places busy.
	var busy []net.Conn
	for i := 0; i < 2; i++ {
		c, err := net.Dial("tcp", s.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "POST /logs/busy HTTP/1.1\r\nHost: x\r\nAuthorization: Basic eDpwdw==\r\nContent-Type: application/logplex-1\r\nContent-Length: 1000\r\n\r\n")
		busy = append(busy, c)
	}
	waitFor(t, "both requests busy", func() bool { _, n := s.conns.Counts(); return n == 2 })
	got := make(chan error, 1)
	go func() {
		resp, err := (&http.Client{Timeout: 10 * time.Second}).Get("http://" + s.Addr() + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		got <- err
	}()
	select {
	case err := <-got:
		t.Fatalf("a third connection was served while both places were busy (%v)", err)
	case <-time.After(300 * time.Millisecond):
	}
	// One request ends (its body cut short): its place frees the third.
	busy[0].Close()
	if err := <-got; err != nil {
		t.Fatalf("not served once a place was free: %v", err)
	}
	if n := s.conns.Waited.Load(); n != 1 {
		t.Errorf("waited = %d, want 1", n)
	}
}

// TestSyslogSilentConnectionsCannotStarve: with every place of the syslog
// listener (64 by default) held by connections that send nothing, a drain's
// line is stored at once: its connection closes the one silent longest.
func TestSyslogSilentConnectionsCannotStarve(t *testing.T) {
	needFiles(t, 400)
	s, _ := startLoggedServer(t, serveConfig{SyslogAddr: "127.0.0.1:0", SyslogPlain: true, Tokens: map[string]string{"d.tok": "quiet"}})
	addr := s.syslog.Addr().String()
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for i := 0; i < 64; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	waitFor(t, "64 silent connections accepted", func() bool { n, _ := s.syslog.Conns().Counts(); return n == 64 })
	start := time.Now()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	m := fmt.Sprintf("<190>1 %s d.tok heroku web.1 - - Error R14 (Memory quota exceeded)", nowStamp(0))
	fmt.Fprintf(c, "%d %s", len(m), m)
	c.Close()
	waitFor(t, "the line stored", func() bool { return s.syslog.Lines.Load() == 1 })
	if took := time.Since(start); took > time.Second {
		t.Errorf("syslog line behind 64 silent connections stored after %v (want < 1 s)", took)
	} else {
		t.Logf("syslog line behind 64 silent connections stored in %v", took)
	}
	if n := s.syslog.Conns().Evicted.Load(); n != 1 {
		t.Errorf("silent connections closed: %d, want 1", n)
	}
	held[0].SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := held[0].Read(make([]byte, 1)); err == nil || isTimeout(err) {
		t.Errorf("the connection silent longest is still open (%v)", err)
	}
}
