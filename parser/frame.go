// Package parser turns Heroku log bytes into typed events: it splits
// octet-counted logplex bodies into frames, reads their syslog headers, and
// parses the messages (router lines, runtime metrics, memory errors, dyno
// lifecycle, add-on metrics, l2met app lines). It does no I/O of its own:
// FrameReader reads only the io.Reader it is given.
//
// The hot path allocates nothing: frames, headers and event fields are views
// into the caller's body, valid for as long as the body is not modified.
package parser

import (
	"errors"
	"fmt"
)

// DefaultMaxFrame is the largest frame a Framer accepts unless told otherwise.
// Logplex truncates messages at about 10 KB; anything much larger is not from
// logplex, but other shippers send longer lines, so the cap is generous.
const DefaultMaxFrame = 64 << 10

// Framing errors. A FrameError wraps one of these.
var (
	// ErrBadLength means the octet count is missing, not a number, or zero.
	ErrBadLength = errors.New("bad frame length")
	// ErrTruncated means the octet count runs past the end of the body.
	ErrTruncated = errors.New("frame length runs past end of body")
	// ErrTooLarge means the frame is longer than the framer's cap; it was skipped.
	ErrTooLarge = errors.New("frame too large")
)

// FrameError says where in a body framing failed and why.
type FrameError struct {
	Offset int   // byte offset in the body of the frame (its length prefix, or its message for a header error)
	Err    error // ErrBadLength, ErrTruncated, ErrTooLarge, or a header error
	End    int   // with ErrTruncated and ErrTooLarge: where the frame ends by its count
}

func (e *FrameError) Error() string { return fmt.Sprintf("offset %d: %v", e.Offset, e.Err) }
func (e *FrameError) Unwrap() error { return e.Err }

// Framer splits an RFC 6587 octet-counted body ("<len> <msg><len> <msg>…") into
// frames. The count includes the message's trailing newline; bodies are never
// split on newlines.
//
// When a frame is malformed, Next reports it and moves on where it can: an
// over-long frame is skipped by its count; a broken length prefix is skipped up
// to the next line that starts like a frame ("\n<digits> <"). So the good frames
// of a mixed body are all returned.
//
// Written instead of using heroku/x's logplex/encoding scanner for speed:
// BenchmarkFramer vs BenchmarkOracleDrainScanner (parser/bench_test.go); the
// oracle stays as the reference in TestFramerMatchesOracle and FuzzFramer.
type Framer struct {
	body     []byte
	off      int
	maxFrame int
}

// NewFramer returns a Framer over body. maxFrame <= 0 means DefaultMaxFrame.
func NewFramer(body []byte, maxFrame int) Framer {
	if maxFrame <= 0 {
		maxFrame = DefaultMaxFrame
	}
	return Framer{body: body, maxFrame: maxFrame}
}

// Done reports whether the whole body has been consumed.
func (f *Framer) Done() bool { return f.off >= len(f.body) }

// Next returns the next frame's message bytes (without the length prefix).
// It returns (nil, nil) at the end of the body, and (nil, *FrameError) for a
// malformed frame; call Next again to continue after an error.
func (f *Framer) Next() ([]byte, error) {
	b := f.body
	// Tolerate whitespace between frames (some shippers add a newline after a
	// frame whose count excluded it).
	for f.off < len(b) && (b[f.off] == '\n' || b[f.off] == '\r' || b[f.off] == ' ') {
		f.off++
	}
	if f.off >= len(b) {
		return nil, nil
	}
	start := f.off
	n, i := 0, start
	for ; i < len(b) && i-start < 9; i++ {
		c := b[i]
		if c < '0' || c > '9' {
			break
		}
		n = n*10 + int(c-'0')
	}
	if i == start || i >= len(b) || b[i] != ' ' || n == 0 {
		f.resync(start)
		return nil, &FrameError{Offset: start, Err: ErrBadLength}
	}
	i++ // the space
	end := i + n
	if end > len(b) || end < i {
		f.off = len(b)
		return nil, &FrameError{Offset: start, Err: ErrTruncated, End: end}
	}
	f.off = end
	if n > f.maxFrame {
		return nil, &FrameError{Offset: start, Err: ErrTooLarge, End: end}
	}
	return b[i:end], nil
}

// resync moves past a broken length prefix at from to the next position that
// follows a newline and looks like "<digits> <", or to the end of the body.
func (f *Framer) resync(from int) {
	b := f.body
	for i := from; i < len(b); i++ {
		if b[i] != '\n' {
			continue
		}
		j := i + 1
		for j < len(b) && b[j] >= '0' && b[j] <= '9' {
			j++
		}
		if j > i+1 && j+1 < len(b) && b[j] == ' ' && b[j+1] == '<' {
			f.off = i + 1
			return
		}
	}
	f.off = len(b)
}
