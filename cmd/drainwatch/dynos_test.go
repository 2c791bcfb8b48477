package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// A worker with 50 R14s and its runtime metrics off
// (testdata/no-metrics.log): dynos lists it beside web.1, says it has no
// memory samples, and says why that may be.
func TestDynosWithoutMetrics(t *testing.T) {
	env := map[string]string{"DRAINWATCH_DB": filepath.Join(t.TempDir(), "nm.db")}
	if code, _, errOut := run(t, env, "", "import", "--app", "nm", "--quiet", "testdata/no-metrics.log"); code != 0 {
		t.Fatalf("import: %d %s", code, errOut)
	}
	code, out, errOut := run(t, env, "", "dynos", "--utc")
	if code != 0 {
		t.Fatalf("dynos: %d %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[1], "nm   web.1") {
		t.Fatalf("want web.1 and worker.1:\n%s", out)
	}
	worker := strings.Fields(lines[2])
	if strings.Join(worker, " ") != "nm worker.1 2026-11-20 10:00:03Z 2026-11-20 10:16:23Z - - - no memory samples* - 50" {
		t.Errorf("worker.1's row: %q", lines[2])
	}
	if !strings.Contains(errOut, "* nm/worker.1: error lines but no memory samples") || !strings.Contains(errOut, "log-runtime-metrics") {
		t.Errorf("no note on stderr: %q", errOut)
	}
	code, out, _ = run(t, env, "", "dynos", "--json")
	var dynos []struct {
		Dyno     string `json:"dyno"`
		Errors   int    `json:"memory_errors"`
		NoMemory bool   `json:"no_memory_samples"`
	}
	if err := json.Unmarshal([]byte(out), &dynos); err != nil || code != 0 || len(dynos) != 2 || dynos[0].NoMemory ||
		dynos[1].Dyno != "worker.1" || !dynos[1].NoMemory || dynos[1].Errors != 50 {
		t.Errorf("--json: %d %v %s", code, err, out)
	}
}
