package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// importedDB imports the heroku-logs sample into a new database.
func importedDB(t *testing.T) map[string]string {
	t.Helper()
	env := map[string]string{"DRAINWATCH_DB": filepath.Join(t.TempDir(), "f.db")}
	if code, _, errOut := run(t, env, "", "import", "--app", "av", "--quiet", "../../parser/testdata/heroku-logs.txt"); code != 0 {
		t.Fatalf("import: %d %s", code, errOut)
	}
	return env
}

func TestChartRefusedWithJSONOrCSV(t *testing.T) {
	env := importedDB(t)
	for _, args := range [][]string{{"--chart", "--json"}, {"--chart", "--csv"}, {"--json", "--chart=true"}} {
		code, out, errOut := run(t, env, "", append([]string{"mem"}, args...)...)
		if code != 2 || out != "" || !strings.Contains(errOut, "--chart draws for a terminal, --json and --csv print the data: pick one") {
			t.Errorf("mem %v: exit %d, stdout %q, stderr %q", args, code, out, errOut)
		}
	}
	// --chart=false with --json is no conflict.
	if code, out, errOut := run(t, env, "", "mem", "--chart=false", "--json"); code != 0 || !strings.HasPrefix(out, "[") {
		t.Errorf("--chart=false --json: %d %q %q", code, out, errOut)
	}
}

func TestErrorsCodeAnyCaseAndUnknownRefused(t *testing.T) {
	env := importedDB(t)
	var upper, lower []errRow
	for _, c := range []struct {
		code string
		into *[]errRow
	}{{"R14,MEM", &upper}, {" r14 , mem", &lower}} {
		code, out, errOut := run(t, env, "", "errors", "--code", c.code, "--json")
		if code != 0 {
			t.Fatalf("--code %q: %d %s", c.code, code, errOut)
		}
		if err := json.Unmarshal([]byte(out), c.into); err != nil {
			t.Fatal(err)
		}
	}
	if len(upper) == 0 || len(upper) != len(lower) {
		t.Fatalf("R14,MEM gave %d rows, r14,mem %d", len(upper), len(lower))
	}
	for _, r := range lower {
		if r.Code != "R14" && r.Code != "mem" {
			t.Errorf("row with code %q", r.Code)
		}
	}
	for _, bad := range []string{"R14X", "oom", "14"} {
		code, out, errOut := run(t, env, "", "errors", "--code", "R15,"+bad)
		if code != 2 || out != "" || !strings.Contains(errOut, "is not a code drainwatch stores; valid: R10-R99") || !strings.Contains(errOut, "crash") {
			t.Errorf("--code %s: exit %d, stdout %q, stderr %q", bad, code, out, errOut)
		}
	}
}

func TestSinceUntilSameDayIsThatDay(t *testing.T) {
	env := importedDB(t)
	// The sample's memory lines are at 2026-11-20 10:00 UTC; ask for that
	// local day.
	day := time.Date(2026, 11, 20, 10, 0, 20, 0, time.UTC).Local().Format("2006-01-02")
	code, out, errOut := run(t, env, "", "mem", "--since", day, "--until", day, "--json")
	if code != 0 {
		t.Fatalf("one day refused: %d %s", code, errOut)
	}
	var rows []memRow
	if err := json.Unmarshal([]byte(out), &rows); err != nil || len(rows) != 3 {
		t.Fatalf("%d rows (%v): %s", len(rows), err, out)
	}
	// The day before, through its end, holds none of them.
	prev := time.Date(2026, 11, 20, 10, 0, 20, 0, time.UTC).Local().AddDate(0, 0, -1).Format("2006-01-02")
	if code, out, _ := run(t, env, "", "mem", "--until", prev, "--json"); code != 0 || strings.TrimSpace(out) != "[]" {
		t.Errorf("--until the day before: %d %s", code, out)
	}
	// Until before since is still refused.
	if code, _, errOut := run(t, env, "", "mem", "--since", day, "--until", prev); code != 2 || !strings.Contains(errOut, "--since must be before --until") {
		t.Errorf("reversed range: %d %s", code, errOut)
	}
}

func TestDaemonURL(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"127.0.0.1:8080", "http://127.0.0.1:8080"},
		{"localhost:8080", "http://localhost:8080"},
		{"localhost", "http://localhost"},
		{"my-drainwatch.herokuapp.com", "https://my-drainwatch.herokuapp.com"},
		{"https://my-drainwatch.herokuapp.com/", "https://my-drainwatch.herokuapp.com/"},
		{"http://10.0.0.5:8080", "http://10.0.0.5:8080"},
	} {
		got, err := daemonURL(c.in)
		if err != nil || got != c.want {
			t.Errorf("daemonURL(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{"", "ftp://host", "http://", "http://:8080", "a b:c"} {
		if got, err := daemonURL(bad); err == nil {
			t.Errorf("daemonURL(%q) = %q, want an error", bad, got)
		}
	}
	// Through the command: a clear message, exit 2, no Go URL error.
	code, _, errOut := run(t, nil, "", "mem", "--url", "http://", "--token", "t")
	if code != 2 || !strings.Contains(errOut, "is not a daemon's address: give one like https://") {
		t.Errorf("bad --url: %d %s", code, errOut)
	}
}

func TestImportAllSkippedFails(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.txt")
	if err := os.WriteFile(junk, []byte("hello\nthis is not a log\nnor this\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"DRAINWATCH_DB": filepath.Join(dir, "j.db")}
	code, out, errOut := run(t, env, "", "import", "--app", "x", "--quiet", junk)
	if code != 1 || !strings.Contains(out, "skipped:           3") ||
		!strings.Contains(errOut, "all 3 lines were skipped, nothing imported: is this `heroku logs` output or a logplex drain body?") {
		t.Errorf("all skipped: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	// Some lines good: success, the bad ones counted.
	good, _ := os.ReadFile("../../parser/testdata/heroku-logs.txt")
	mixed := filepath.Join(dir, "mixed.txt")
	os.WriteFile(mixed, append([]byte("not a log line\n"), good...), 0o600)
	if code, out, errOut := run(t, env, "", "import", "--app", "x", "--quiet", mixed); code != 0 || !strings.Contains(out, "skipped:           1") {
		t.Errorf("mixed: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

func TestImportWithoutAppSaysWhichApp(t *testing.T) {
	env := map[string]string{"DRAINWATCH_DB": filepath.Join(t.TempDir(), "d.db")}
	code, out, errOut := run(t, env, "", "import", "--quiet", "../../parser/testdata/heroku-logs.txt")
	if code != 0 || !strings.Contains(errOut, `no --app given: storing the lines under app "default"`) || !strings.Contains(out, `into app "default"`) {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if _, _, errOut := run(t, env, "", "import", "--app", "av", "--quiet", "../../parser/testdata/heroku-logs.txt"); strings.Contains(errOut, "no --app given") {
		t.Errorf("with --app: %q", errOut)
	}
}

func TestFmtBytesBinaryUnits(t *testing.T) {
	for _, c := range []struct {
		n    int64
		want string
	}{
		{0, "0 B"}, {1023, "1023 B"}, {1024, "1.0 KiB"}, {384102, "375.1 KiB"},
		{1 << 20, "1.0 MiB"}, {3 << 29, "1.5 GiB"},
	} {
		if got := fmtBytes(c.n); got != c.want {
			t.Errorf("fmtBytes(%d) = %q, want %q", c.n, got, c.want)
		}
	}
}

// --limit N keeps the newest N rows, printed oldest first, and says on
// stderr that the list stopped at the limit (testdata/over-quota.log:
// samples every 20 s from 10:00 to 10:20, errors up to 10:30).
func TestLimitKeepsTheNewest(t *testing.T) {
	env := map[string]string{"DRAINWATCH_DB": filepath.Join(t.TempDir(), "lim.db")}
	if code, _, errOut := run(t, env, "", "import", "--app", "oq", "--quiet", "testdata/over-quota.log"); code != 0 {
		t.Fatalf("import: %d %s", code, errOut)
	}
	code, out, errOut := run(t, env, "", "mem", "--limit", "2", "--utc", "--chart=false")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 3 || !strings.HasPrefix(lines[1], "2026-11-20 10:19:40Z") || !strings.HasPrefix(lines[2], "2026-11-20 10:20:00Z") {
		t.Errorf("mem --limit 2: want the samples of 10:19:40 and 10:20:00, in that order: %d\n%s", code, out)
	}
	if !strings.Contains(errOut, "(the newest 2 rows: the limit;") {
		t.Errorf("no note of the limit: %q", errOut)
	}
	code, out, _ = run(t, env, "", "errors", "--limit", "2", "--json")
	var errs []errRow
	if err := json.Unmarshal([]byte(out), &errs); err != nil || code != 0 || len(errs) != 2 || errs[0].Code != "R14" || errs[1].Code != "R15" {
		t.Errorf("errors --limit 2: want the R14 of 10:25 and the R15 of 10:30: %d %s", code, out)
	}
}
