package main

import (
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/drainwatch/drainwatch/store"
)

// termWidth is the terminal's width: the real one when w is a terminal,
// else $COLUMNS, else 100.
func termWidth(w io.Writer, getenv func(string) string) int {
	if f, ok := w.(*os.File); ok {
		if cols, _, err := term.GetSize(int(f.Fd())); err == nil && cols > 20 {
			return cols
		}
	}
	if n, err := strconv.Atoi(getenv("COLUMNS")); err == nil && n > 20 {
		return n
	}
	return 100
}

var eighths = []rune(" ▁▂▃▄▅▆▇█")

// memChart draws one dyno's memory_total over time as columns of blocks,
// with the quota as a line, R14/R15 marks and restarts (new boot ids) on the
// line under the axis.
func memChart(w io.Writer, rows []store.MemorySample, errs []store.ErrorEvent, width, height int, fmtTime func(time.Time) string) {
	var pts []store.MemorySample
	for _, r := range rows {
		if r.TotalMB != nil {
			pts = append(pts, r)
		}
	}
	if len(pts) == 0 {
		fmt.Fprintln(w, "(no memory samples to chart)")
		return
	}
	const labelW = 9
	cols := max(width-labelW-1, 10)
	first, last := pts[0].Time, pts[len(pts)-1].Time
	span := last.Sub(first)
	col := func(t time.Time) int {
		if span <= 0 {
			return 0
		}
		c := int(float64(t.Sub(first)) / float64(span) * float64(cols-1))
		return min(max(c, 0), cols-1)
	}
	// Per column: the highest sample, the quota, restarts.
	vals := make([]float64, cols)
	has := make([]bool, cols)
	marks := make([]rune, cols)
	for i := range marks {
		marks[i] = ' '
	}
	quota, top, bottom := 0.0, 0.0, math.Inf(1)
	prevBoot := ""
	for _, p := range pts {
		c := col(p.Time)
		if !has[c] || *p.TotalMB > vals[c] {
			vals[c] = *p.TotalMB
		}
		has[c] = true
		top = math.Max(top, *p.TotalMB)
		bottom = math.Min(bottom, *p.TotalMB)
		if p.QuotaMB != nil {
			quota = *p.QuotaMB
		}
		if prevBoot != "" && p.Boot != prevBoot {
			marks[c] = '↻'
		}
		prevBoot = p.Boot
	}
	for _, e := range errs {
		if e.Time.Before(first) || e.Time.After(last) {
			continue
		}
		switch e.Code {
		case "R15":
			marks[col(e.Time)] = '!'
		case "R14":
			if marks[col(e.Time)] != '!' {
				marks[col(e.Time)] = '^'
			}
		}
	}
	// Carry the last value across empty columns, so gaps in sampling do not
	// look like drops to zero.
	for c := 1; c < cols; c++ {
		if !has[c] && has[c-1] {
			vals[c] = vals[c-1]
		}
	}
	// The y axis spans the data and the quota, not from zero: the shape
	// (levels off, or keeps climbing) is the point.
	top = math.Max(top, quota)
	extent := top - bottom
	if extent <= 0 {
		extent = math.Max(top*0.1, 1)
	}
	top += extent * 0.05
	bottom = math.Max(bottom-extent*0.1, 0)
	rng := top - bottom
	quotaRow := -1
	if quota > 0 {
		quotaRow = int((quota - bottom) / rng * float64(height))
	}
	fmt.Fprintf(w, "%s — memory_total (MB)", pts[0].Dyno)
	if quota > 0 {
		fmt.Fprintf(w, ", quota %.0f MB (─)", quota)
	}
	fmt.Fprintln(w, "; ^ R14, ! R15, ↻ restart")
	for row := height - 1; row >= 0; row-- {
		label := ""
		switch row {
		case height - 1:
			label = fmt.Sprintf("%.0f", top)
		case height / 2:
			label = fmt.Sprintf("%.0f", bottom+rng/2)
		case 0:
			label = fmt.Sprintf("%.0f", bottom)
		}
		var b strings.Builder
		fmt.Fprintf(&b, "%*s │", labelW-2, label)
		for c := 0; c < cols; c++ {
			h := (vals[c] - bottom) / rng * float64(height) // height of the bar in rows
			cell := h - float64(row)
			switch {
			case cell >= 1:
				b.WriteRune('█')
			case cell > 0:
				b.WriteRune(eighths[int(cell*8)])
			case row == quotaRow:
				b.WriteRune('─')
			default:
				b.WriteRune(' ')
			}
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
	fmt.Fprintf(w, "%*s └%s\n", labelW-2, "", strings.Repeat("─", cols))
	fmt.Fprintf(w, "%*s  %s\n", labelW-2, "", strings.TrimRight(string(marks), " "))
	left, right := fmtTime(first), fmtTime(last)
	gap := max(cols-len(left)-len(right), 1)
	fmt.Fprintf(w, "%*s  %s%s%s\n", labelW-2, "", left, strings.Repeat(" ", gap), right)
}
