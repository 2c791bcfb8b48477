package parser

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// FrameReader reads the frames of an octet-counted stream — a syslog
// connection, a file of saved drain bodies — with a Framer over the bytes it
// has buffered, so that a stream is framed as the same bytes in one body
// would be: the same frames, the same errors at the same offsets, the same
// recovery. A frame the buffer does not hold yet is read in full first; one
// too large ever to fit is skipped by its count.
type FrameReader struct {
	br       *bufio.Reader
	maxFrame int
	f        Framer // over win
	win      []byte // the buffered bytes being framed, a view into br
	used     int    // bytes of win read
	base     int64  // the stream offset of win[0]
	atEOF    bool   // no more bytes will come
	err      error  // the error that ended the stream, if not io.EOF
	resync   bool   // after a broken length prefix: win begins on the line where the search for the next frame goes on
}

// NewFrameReader returns a FrameReader of r. maxFrame <= 0 means
// DefaultMaxFrame; the reader buffers twice that.
func NewFrameReader(r io.Reader, maxFrame int) *FrameReader {
	if maxFrame <= 0 {
		maxFrame = DefaultMaxFrame
	}
	return &FrameReader{br: bufio.NewReaderSize(r, 2*(maxFrame+16)), maxFrame: maxFrame}
}

// Offset is how many bytes of the stream have been read.
func (r *FrameReader) Offset() int64 { return r.base + int64(r.used) }

// Next returns the next frame's message, valid until the next call. It
// returns (nil, nil) at the end of the stream; (nil, *FrameError) for a
// malformed frame, its offsets in the stream (call Next again to go on);
// and (nil, err) when reading failed (the reader's error), after the frames
// read before it.
func (r *FrameReader) Next() ([]byte, error) {
	for {
		if r.used < len(r.win) {
			if msg, ok, err := r.frame(); ok {
				return msg, err
			}
		}
		if r.atEOF {
			return nil, r.err
		}
		r.fill()
	}
}

// frame frames the next bytes of win; ok is false when they hold only part
// of a frame, or only white space, or the search for a frame goes on.
func (r *FrameReader) frame() (msg []byte, ok bool, err error) {
	start := r.used
	if r.resync {
		// Past a broken length prefix, a frame begins only on a line that
		// starts like one, as Framer.resync has it in one body.
		r.resync = false
		if r.f.resync(start); r.f.Done() {
			r.carry(start)
			return nil, false, nil
		}
		start, r.used = r.f.off, r.f.off
	}
	msg, err = r.f.Next()
	var fe *FrameError
	if !errors.As(err, &fe) {
		r.used = r.f.off
		return msg, msg != nil, nil
	}
	e := *fe
	e.Offset += int(r.base)
	if e.End > 0 {
		e.End += int(r.base)
	}
	switch {
	case e.Err == ErrBadLength && !r.atEOF && partialCount(r.win[fe.Offset:]):
		// The window ends inside the count.
		r.used = start
		return nil, false, nil
	case e.Err == ErrTruncated && !r.atEOF && fe.End-start <= r.br.Size():
		// The rest of the frame is still to come, and will fit.
		r.used = start
		return nil, false, nil
	case e.Err == ErrTruncated && !r.atEOF:
		// Too large ever to fit: skipped by its count, if the stream has it.
		e.Err = ErrTooLarge
		if !r.discard(fe.End) {
			e.Err = ErrTruncated
		}
	case e.Err == ErrBadLength && r.f.Done():
		r.carry(start)
	default:
		r.used = r.f.off
	}
	return nil, true, &e
}

// carry ends the window's search for a frame begun at start. A frame
// begins after a newline, with a count and "<" (at most 12 bytes): when the
// window's last newline has fewer bytes after it, the search goes on from
// there once more are read.
func (r *FrameReader) carry(start int) {
	r.used = len(r.win)
	if r.atEOF {
		return
	}
	if nl := bytes.LastIndexByte(r.win[start:], '\n'); nl >= 0 && len(r.win)-(start+nl) < 12 {
		r.used = start + nl
	}
	r.resync = true
}

// discard drops the window's first n bytes, the buffered ones and those
// still to come; false when the stream ends first.
func (r *FrameReader) discard(n int) bool {
	got, err := r.br.Discard(n)
	r.base += int64(got)
	r.win, r.used, r.f = nil, 0, Framer{}
	if err != nil {
		r.atEOF = true
		if err != io.EOF {
			r.err = err
		}
	}
	return got == n
}

// fill drops what was read and buffers at least one more byte, or sets
// atEOF.
func (r *FrameReader) fill() {
	n, _ := r.br.Discard(r.used)
	r.base += int64(n)
	r.used = 0
	if _, err := r.br.Peek(r.br.Buffered() + 1); err != nil {
		r.atEOF = true
		if err != io.EOF {
			r.err = err
		}
	}
	r.win, _ = r.br.Peek(r.br.Buffered())
	r.f = NewFramer(r.win, r.maxFrame)
}

// partialCount reports whether b, the end of a window, may be the start of
// a length prefix that the next bytes complete: fewer than 10 digits.
func partialCount(b []byte) bool {
	if len(b) > 9 {
		return false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
