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

	"github.com/drainwatch/drainwatch/internal/memchart"
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

// chartLabelW is the width of the chart's left margin: the y labels, and
// the names of the mark lines under the axis.
const chartLabelW = 9

// termChart is one dyno's memory chart for a terminal: a column a slice of
// time, from the first sample or R14/R15 to the last.
type termChart struct {
	dyno        string
	first, last time.Time
	step        time.Duration // the time a column spans
	vals        []float64     // the highest memory_total of each column
	has         []bool        // whether a column has a value (sampled, or between samples)
	errMarks    []rune        // ^ R14, ! R15
	restarts    []rune        // ↻ where the boot id changes
	quota       float64
	bottom, top float64 // the y axis
}

// memChart draws one dyno's memory_total over time as columns of blocks,
// with the quota as a line, and under the axis a line of R14/R15 marks and
// a line of restarts (new boot ids).
func memChart(w io.Writer, rows []store.MemorySample, errs []store.ErrorEvent, width, height int, fmtTime func(time.Time) string) {
	c := newTermChart(rows, errs, max(width-chartLabelW-1, 10))
	if c == nil {
		fmt.Fprintln(w, "(no memory samples to chart)")
		return
	}
	c.scale()
	c.write(w, height, fmtTime)
}

// newTermChart puts the samples and errors in cols columns; nil when no
// sample has memory_total.
func newTermChart(rows []store.MemorySample, errs []store.ErrorEvent, cols int) *termChart {
	var first, last time.Time
	for _, r := range rows {
		if r.TotalMB != nil {
			if first.IsZero() {
				first = r.Time
			}
			last = r.Time
		}
	}
	if first.IsZero() {
		return nil
	}
	// The errors stretch the time axis: an R14 after the last sample is
	// often the last thing a dyno says.
	for _, e := range errs {
		if e.Time.Before(first) {
			first = e.Time
		}
		if e.Time.After(last) {
			last = e.Time
		}
	}
	c := &termChart{dyno: rows[0].Dyno, first: first, last: last, quota: memchart.Quota(rows),
		step: last.Sub(first)/time.Duration(cols) + 1, vals: make([]float64, cols), has: make([]bool, cols),
		errMarks: []rune(strings.Repeat(" ", cols)), restarts: []rune(strings.Repeat(" ", cols))}
	pts := memchart.Buckets(rows, first, c.step)
	for _, p := range pts {
		i := c.col(p.T)
		if !c.has[i] || p.Total > c.vals[i] {
			c.vals[i] = p.Total
		}
		c.has[i] = true
	}
	// Carry a value across empty columns between samples, so gaps in
	// sampling do not look like drops to zero; none after the last sample.
	for i := c.col(pts[0].T) + 1; i <= c.col(pts[len(pts)-1].T); i++ {
		if !c.has[i] {
			c.vals[i], c.has[i] = c.vals[i-1], true
		}
	}
	for _, i := range memchart.Restarts(pts) {
		c.restarts[c.col(pts[i].T)] = '↻'
	}
	for _, e := range errs {
		switch i := c.col(e.Time); {
		case e.Code == "R15":
			c.errMarks[i] = '!'
		case e.Code == "R14" && c.errMarks[i] != '!':
			c.errMarks[i] = '^'
		}
	}
	return c
}

// col is the column of time t.
func (c *termChart) col(t time.Time) int {
	return min(max(int(t.Sub(c.first)/c.step), 0), len(c.vals)-1)
}

// scale sets the y axis: it spans the data and the quota, not from zero,
// as the shape (levels off, or keeps climbing) is the point.
func (c *termChart) scale() {
	lo, hi := math.Inf(1), math.Inf(-1)
	for i, v := range c.vals {
		if c.has[i] {
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
	}
	if c.quota > 0 {
		lo, hi = math.Min(lo, c.quota), math.Max(hi, c.quota)
	}
	extent := hi - lo
	if extent <= 0 {
		extent = math.Max(hi*0.1, 1)
	}
	c.top = hi + extent*0.05
	c.bottom = math.Max(lo-extent*0.1, 0)
}

// write draws the chart height rows high: the header, the rows, the axis,
// the mark lines and the time labels.
func (c *termChart) write(w io.Writer, height int, fmtTime func(time.Time) string) {
	perRow := (c.top - c.bottom) / float64(height) // MB a row spans
	quotaRow := -1
	if c.quota > 0 {
		quotaRow = min(int((c.quota-c.bottom)/perRow), height-1)
	}
	fmt.Fprintf(w, "%s — memory_total (MB)", c.dyno)
	if c.quota > 0 {
		fmt.Fprintf(w, ", quota %.0f MB (─)", c.quota)
	}
	fmt.Fprintln(w, "; ^ R14, ! R15, ↻ restart")
	for row := height - 1; row >= 0; row-- {
		// A label names its row by the value in the row's middle; the
		// quota's row by the quota, and the rows next to it none.
		label := ""
		switch {
		case row == quotaRow:
			label = fmt.Sprintf("%.0f", c.quota)
		case quotaRow >= 0 && row >= quotaRow-1 && row <= quotaRow+1:
		case row == height-1, row == height/2, row == 0:
			label = fmt.Sprintf("%.0f", c.bottom+(float64(row)+0.5)*perRow)
		}
		var b strings.Builder
		fmt.Fprintf(&b, "%*s │", chartLabelW-2, label)
		for i, v := range c.vals {
			cell := (v-c.bottom)/perRow - float64(row) // how much of this cell the bar fills
			switch {
			case row == quotaRow:
				b.WriteRune('─') // across the bars too: above it is over the quota
			case !c.has[i] || cell <= 0:
				b.WriteRune(' ')
			case cell >= 1:
				b.WriteRune('█')
			default:
				b.WriteRune(eighths[int(cell*8)])
			}
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
	fmt.Fprintf(w, "%*s └%s\n", chartLabelW-2, "", strings.Repeat("─", len(c.vals)))
	fmt.Fprintln(w, strings.TrimRight(fmt.Sprintf("%*s  %s", chartLabelW-2, "R14/R15", string(c.errMarks)), " "))
	fmt.Fprintln(w, strings.TrimRight(fmt.Sprintf("%*s  %s", chartLabelW-2, "restart", string(c.restarts)), " "))
	left, right := fmtTime(c.first), fmtTime(c.last)
	gap := max(len(c.vals)-len(left)-len(right), 1)
	fmt.Fprintf(w, "%*s  %s%s%s\n", chartLabelW-2, "", left, strings.Repeat(" ", gap), right)
}
