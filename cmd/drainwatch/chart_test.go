package main

import (
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// A dyno above its quota (545–553 MB of 512), restarted at 10:10 with an
// R14 in the same second, and an R14 and an R15 after its last sample
// (testdata/over-quota.log): the chart draws the quota line on the row
// labelled 512 across the bars, marks both errors after the last sample,
// and shows the restart and the R14 of one column on lines of their own.
func TestMemChartOverQuota(t *testing.T) {
	env := map[string]string{"DRAINWATCH_DB": filepath.Join(t.TempDir(), "oq.db"), "COLUMNS": "80"}
	if code, _, errOut := run(t, env, "", "import", "--app", "oq", "--quiet", "testdata/over-quota.log"); code != 0 {
		t.Fatalf("import: %d %s", code, errOut)
	}
	code, out, errOut := run(t, env, "", "mem", "--dyno", "worker.1", "--chart", "--utc", "--since", "2026-11-20")
	if code != 0 {
		t.Fatalf("mem --chart: %d %s", code, errOut)
	}
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	const height, cols = 14, 80 - chartLabelW - 1
	if len(lines) != 1+height+4 {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), 1+height+4, out)
	}
	if !strings.Contains(lines[0], "quota 512 MB (─)") {
		t.Errorf("header: %q", lines[0])
	}
	label := func(l string) string { return strings.TrimSpace(string([]rune(l)[:chartLabelW-2])) }
	cells := func(l string) []rune {
		r := []rune(l)
		if len(r) <= chartLabelW {
			return nil
		}
		return r[chartLabelW:]
	}
	rows := lines[1 : 1+height]
	quotaRow := -1
	for i, l := range rows {
		if label(l) == "512" {
			quotaRow = i
		}
	}
	if quotaRow < 0 {
		t.Fatalf("no row labelled 512 (the quota):\n%s", out)
	}
	if got := string(cells(rows[quotaRow])); got != strings.Repeat("─", cols) {
		t.Errorf("the quota row is not a line across the chart: %q\n%s", got, out)
	}
	// The axis spans the samples: the highest reaches the top row, and the
	// rows above the quota line are bars (over quota), each label above it
	// more than 512, each below less.
	if !strings.ContainsAny(string(cells(rows[0])), "▁▂▃▄▅▆▇█") {
		t.Errorf("the highest sample (553 MB) does not reach the top row:\n%s", out)
	}
	for i, l := range rows {
		if label(l) == "" || i == quotaRow {
			continue
		}
		v, err := strconv.ParseFloat(label(l), 64)
		if err != nil || (i < quotaRow) != (v > 512) {
			t.Errorf("row %d labelled %q, the quota's row is %d:\n%s", i, label(l), quotaRow, out)
		}
	}
	// The last sample's column: the last bar just above the quota line.
	bars := cells(rows[quotaRow-1])
	lastBar := strings.LastIndexFunc(string(bars), func(r rune) bool { return r != ' ' })
	lastBar = len([]rune(string(bars)[:lastBar]))
	errLine, restartLine := lines[1+height+1], lines[1+height+2]
	if label(errLine) != "R14/R15" || label(restartLine) != "restart" {
		t.Fatalf("mark lines: %q, %q", errLine, restartLine)
	}
	marks, restarts := cells(errLine), cells(restartLine)
	if len(marks) != cols || marks[cols-1] != '!' {
		t.Errorf("the R15 at 10:30, the end of the time axis, is not marked in the last column: %q", string(marks))
	}
	if i := strings.LastIndex(string(marks[:cols-1]), "^"); i < 0 || len([]rune(string(marks[:cols-1])[:i])) <= lastBar {
		t.Errorf("the R14 at 10:25 is not marked after the last sample (column %d): %q", lastBar, string(marks))
	}
	r := strings.IndexRune(string(restarts), '↻')
	if r < 0 || strings.Count(string(restarts), "↻") != 1 {
		t.Fatalf("want one restart mark: %q", string(restarts))
	}
	if col := len([]rune(string(restarts)[:r])); marks[col] != '^' {
		t.Errorf("the R14 of the restart's column (%d) is not marked: %q", col, string(marks))
	}
	if !strings.HasSuffix(lines[len(lines)-1], "2026-11-20 10:30:00Z") {
		t.Errorf("the time axis does not end at the R15: %q", lines[len(lines)-1])
	}
}
