package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestFailedServeLeavesNoDatabase: a serve that does not start (no
// password, port taken) creates no database, so a later query says there
// is none rather than "no memory samples match".
func TestFailedServeLeavesNoDatabase(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	for _, c := range []struct {
		name string
		env  map[string]string
		addr string
		err  string
	}{
		{"no password", nil, "127.0.0.1:0", "no DRAIN_PASSWORD set"},
		{"port taken", map[string]string{"DRAIN_PASSWORD": "pw"}, taken.Addr().String(), "address already in use"},
	} {
		dbPath := filepath.Join(t.TempDir(), "drainwatch.db")
		code, _, errOut := run(t, c.env, "", "serve", "--db", dbPath, "--addr", c.addr)
		if code != 1 || !strings.Contains(errOut, c.err) {
			t.Errorf("%s: exit %d, stderr %q; want 1, %q", c.name, code, errOut, c.err)
		}
		for _, p := range []string{dbPath, dbPath + "-wal", dbPath + "-shm"} {
			if _, err := os.Stat(p); !os.IsNotExist(err) {
				t.Errorf("%s: %s left behind (%v)", c.name, filepath.Base(p), err)
			}
		}
		code, _, errOut = run(t, nil, "", "mem", "--db", dbPath)
		if code != 1 || !strings.Contains(errOut, "no such file") || !strings.Contains(errOut, "is --db right?") {
			t.Errorf("%s: query after: exit %d, %q", c.name, code, errOut)
		}
	}
}

// TestMisdirectedDrainURL: a drain pointed at / or at /logs/ without an
// app is told the URL it should have, not a bare 404 or the dashboard's
// sign-in page.
func TestMisdirectedDrainURL(t *testing.T) {
	s := startServer(t, filepath.Join(t.TempDir(), "m.db"))
	defer s.Close(context.Background())
	body, _ := os.ReadFile("../../parser/testdata/drain.logplex")
	for _, path := range []string{"/", "/logs/"} {
		req, _ := http.NewRequest("POST", "http://"+s.Addr()+path, bytes.NewReader(body))
		req.SetBasicAuth("drain", "pw")
		req.Header.Set("Content-Type", "application/logplex-1")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		msg, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 404 || strings.Contains(string(msg), "<") ||
			!strings.Contains(string(msg), "drains post to /logs/APP") || !strings.Contains(string(msg), s.Addr()+"/logs/myapp") {
			t.Errorf("POST %s: %d %q", path, resp.StatusCode, msg)
		}
	}
	// The right URL still stores.
	if code := post(t, "http://"+s.Addr()+"/logs/myapp", body, nil); code != 200 {
		t.Errorf("POST /logs/myapp: %d", code)
	}
}
