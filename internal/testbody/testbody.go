// Package testbody builds the logplex body that the parser and store
// benchmarks share, so that their figures are for the very same input.
package testbody

import (
	"bytes"
	"os"
	"strconv"
	"strings"
)

// Mixed returns a logplex body of about size bytes made from the
// real-format messages in messagesFile (one a line): four router lines to
// one other line (metrics, errors, lifecycle, app lines), the long 12 KB
// line left out. It also returns the number of frames.
func Mixed(messagesFile string, size int) ([]byte, int, error) {
	raw, err := os.ReadFile(messagesFile)
	if err != nil {
		return nil, 0, err
	}
	var router, other []string
	for _, m := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		switch {
		case strings.Contains(m, "params=xxx"):
		case strings.Contains(m, " router - "):
			router = append(router, m)
		default:
			other = append(other, m)
		}
	}
	var buf bytes.Buffer
	n := 0
	for i := 0; buf.Len() < size; i++ {
		m := router[i%len(router)]
		if i%5 == 4 {
			m = other[(i/5)%len(other)]
		}
		buf.WriteString(strconv.Itoa(len(m)+1) + " " + m + "\n")
		n++
	}
	return buf.Bytes(), n, nil
}
