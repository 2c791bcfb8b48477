package main

import (
	"net"
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
