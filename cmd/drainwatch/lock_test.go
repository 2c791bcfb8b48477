package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/drainwatch/drainwatch/internal/lockfile"
	"github.com/drainwatch/drainwatch/store/sqlite"
)

// stopChild sends SIGTERM and waits for a clean exit.
func stopChild(t *testing.T, c *child) {
	t.Helper()
	c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-c.done:
		if err != nil {
			t.Fatalf("exit: %v\n%s", err, c.out)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("daemon did not exit after SIGTERM")
	}
}

func storedCounts(t *testing.T, dbPath string) map[string]int64 {
	t.Helper()
	db, err := sqlite.Open(context.Background(), dbPath, sqlite.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	c, err := db.Counts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// A second daemon on the same database refuses to start, in one line that
// names the daemon holding it.
func TestSecondServeRefused(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "one.db")
	c := startChild(t, dbPath)
	defer stopChild(t, c)
	code, _, stderr := run(t, map[string]string{"DRAIN_PASSWORD": "pw"}, "", "serve", "--addr", "127.0.0.1:0", "--db", dbPath)
	if code != 1 {
		t.Fatalf("second serve: exit %d, stderr %q", code, stderr)
	}
	host, _ := os.Hostname()
	for _, want := range []string{dbPath + " is in use by drainwatch serve", fmt.Sprintf("pid %d on %s since ", c.cmd.Process.Pid, host), "one daemon per database"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr %q does not say %q", stderr, want)
		}
	}
	if n := strings.Count(strings.TrimSpace(stderr), "\n"); n != 0 {
		t.Errorf("the refusal is %d lines, want one: %q", n+1, stderr)
	}
}

// `drainwatch import` into the database of a running daemon, while a drain
// posts the same app's lines of the same minutes: the daemon imports the
// lines itself, and the database holds every acknowledged line and every
// imported one.
func TestImportIntoRunningDaemon(t *testing.T) {
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "live.db")
	c := startChild(t, dbPath)
	const bodies, lines = 40, 20 + routerPerBody
	var file bytes.Buffer
	for seq := range bodies {
		file.Write(uniqueBody(1, seq, 20))
	}
	logs := filepath.Join(dir, "saved.logplex")
	if err := os.WriteFile(logs, file.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	acked := make(chan int)
	go func() {
		n := 0
		for seq := range bodies {
			if post(t, "http://"+c.addr+"/logs/x", uniqueBody(1, seq, 20), nil) == 200 {
				n++
			}
		}
		acked <- n
	}()
	code, stdout, stderr := run(t, nil, "", "import", "--app", "x", "--db", dbPath, logs)
	posted := <-acked
	if code != 0 {
		t.Fatalf("import: exit %d\n%s%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, fmt.Sprintf("through the running drainwatch serve (pid %d", c.cmd.Process.Pid)) ||
		!strings.Contains(stdout, fmt.Sprintf("stored:            %d", bodies*lines)) {
		t.Errorf("import said:\n%s", stdout)
	}
	stopChild(t, c)
	if posted != bodies {
		t.Fatalf("%d of %d posts acknowledged", posted, bodies)
	}
	got := storedCounts(t, dbPath)
	if want := int64(2 * bodies * routerPerBody); got["router_lines"] != want {
		t.Errorf("router lines %d, want %d (drain and import)", got["router_lines"], want)
	}
	if want := int64(2 * bodies * 20); got["memory"] != want {
		t.Errorf("memory samples %d, want %d", got["memory"], want)
	}
}

// A database held by another import (no daemon to hand the lines to): the
// import refuses, says how to go on, exits 1, and writes nothing.
func TestImportRefusedWhileAnotherImportRuns(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "busy.db")
	l, err := lockfile.Acquire(dbPath, lockfile.Holder{Command: "import"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	code, _, stderr := run(t, nil, "", "import", "--app", "x", "--db", dbPath, "../../parser/testdata/heroku-logs.txt")
	if code != 1 || !strings.Contains(stderr, "in use by drainwatch import (pid ") || !strings.Contains(stderr, "wait for it to finish") {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	if _, err := os.Stat(dbPath); !os.IsNotExist(err) {
		t.Errorf("the refused import touched the database: %v", err)
	}
}
