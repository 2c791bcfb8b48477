// Package importer loads saved logs into the store: the text that
// `heroku logs` prints, or raw logplex drain bodies (octet-counted frames).
package importer

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/drainwatch/drainwatch/parser"
	"github.com/drainwatch/drainwatch/store"
)

// Formats of input.
const (
	FormatText    = "heroku-logs" // `heroku logs` output
	FormatLogplex = "logplex"     // octet-counted frames
)

// MaxLine is the longest line (or frame) imported; longer ones are skipped.
const MaxLine = 1 << 20

// Options tune Import.
type Options struct {
	App string // the app the lines belong to; default "default"
	// ChunkBytes is how much input goes into one batch. Default 4 MiB.
	ChunkBytes int
	// Progress, if set, is called after each batch.
	Progress func(Progress)
	// Observe, if set, sees every newly stored batch (the alert engine). It
	// must copy what it keeps.
	Observe func(app string, events []parser.Event)
}

// Progress is how far an import has got.
type Progress struct {
	Bytes  int64 // input bytes read
	Lines  int64
	Stored int64
}

// Summary is what an import did.
type Summary struct {
	Format     string           `json:"format"`
	Bytes      int64            `json:"bytes"`
	Lines      int64            `json:"lines_read"`
	Stored     int64            `json:"lines_stored"`
	Duplicate  int64            `json:"lines_already_imported"`
	Skipped    int64            `json:"lines_skipped"`
	Reasons    map[string]int64 `json:"skipped_reasons"`
	Examples   []string         `json:"skipped_examples"` // the first few, "line N: reason"
	ByKind     map[string]int64 `json:"lines_by_kind"`
	FirstTime  time.Time        `json:"first_time"`
	LastTime   time.Time        `json:"last_time"`
	maxExample int
}

// ReasonList returns the skip reasons, most frequent first.
func (s *Summary) ReasonList() []string {
	var out []string
	for r := range s.Reasons {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool {
		if s.Reasons[out[i]] != s.Reasons[out[j]] {
			return s.Reasons[out[i]] > s.Reasons[out[j]]
		}
		return out[i] < out[j]
	})
	return out
}

func (s *Summary) skip(line int64, reason string) {
	s.Skipped++
	s.Reasons[reason]++
	if len(s.Examples) < s.maxExample {
		s.Examples = append(s.Examples, fmt.Sprintf("line %d: %s", line, reason))
	}
}

// Import reads r to the end and stores every line it can parse, in batches.
// It detects the format from the first bytes. Importing the same input twice
// stores it once: each batch is keyed by a hash of its bytes.
func Import(ctx context.Context, r io.Reader, w store.BatchWriter, opts Options) (Summary, error) {
	if opts.App == "" {
		opts.App = "default"
	}
	if opts.ChunkBytes <= 0 {
		opts.ChunkBytes = 4 << 20
	}
	im := &importer{
		w:     w,
		opts:  opts,
		br:    bufio.NewReaderSize(r, 64<<10),
		chunk: make([]byte, 0, opts.ChunkBytes+MaxLine),
		sum:   Summary{Reasons: map[string]int64{}, ByKind: map[string]int64{}, maxExample: 5},
	}
	im.sum.Format = FormatText
	if looksLikeLogplex(im.br) {
		im.sum.Format = FormatLogplex
	}
	var err error
	if im.sum.Format == FormatLogplex {
		err = im.readFrames(ctx)
	} else {
		err = im.readLines(ctx)
	}
	if err == nil {
		err = im.flush(ctx)
	}
	return im.sum, err
}

type importer struct {
	w      store.BatchWriter
	opts   Options
	br     *bufio.Reader
	chunk  []byte // input lines of the current batch; events are views into it
	events []parser.Event
	sum    Summary
	line   int64
}

// looksLikeLogplex peeks at the first non-blank bytes for "<digits> <".
func looksLikeLogplex(br *bufio.Reader) bool {
	b, _ := br.Peek(64)
	b = bytes.TrimLeft(b, " \r\n")
	i := 0
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	return i > 0 && i+1 < len(b) && b[i] == ' ' && b[i+1] == '<'
}

func (im *importer) countBytes(n int) { im.sum.Bytes += int64(n) }

// readLines imports `heroku logs` text, a line at a time.
func (im *importer) readLines(ctx context.Context) error {
	for {
		line, err := im.br.ReadSlice('\n')
		im.countBytes(len(line))
		if errors.Is(err, bufio.ErrBufferFull) {
			// Longer than the reader's buffer: gather it up to MaxLine.
			long := append([]byte(nil), line...)
			for errors.Is(err, bufio.ErrBufferFull) {
				line, err = im.br.ReadSlice('\n')
				im.countBytes(len(line))
				if len(long) <= MaxLine {
					long = append(long, line...)
				}
			}
			line = long
		}
		if len(bytes.TrimSpace(line)) > 0 {
			im.line++
			im.sum.Lines++
			if len(line) > MaxLine {
				im.sum.skip(im.line, "line longer than 1 MiB")
			} else if ferr := im.add(ctx, line); ferr != nil {
				return ferr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return fmt.Errorf("read: %w", err)
		}
	}
}

// readFrames imports octet-counted frames, a frame at a time, framed as
// the drain frames a body (parser.FrameReader).
func (im *importer) readFrames(ctx context.Context) error {
	fr := parser.NewFrameReader(im.br, MaxLine)
	var read int64
	for {
		frame, err := fr.Next()
		im.countBytes(int(fr.Offset() - read))
		read = fr.Offset()
		var fe *parser.FrameError
		switch {
		case errors.As(err, &fe):
			im.line++
			im.sum.Lines++
			im.sum.skip(im.line, fe.Err.Error())
			continue
		case err != nil:
			return fmt.Errorf("read: %w", err)
		case frame == nil:
			return nil
		}
		im.line++
		im.sum.Lines++
		if err := im.makeRoom(ctx, len(frame)); err != nil {
			return err
		}
		start := len(im.chunk)
		im.chunk = append(im.chunk, frame...)
		im.parse(im.chunk[start:], true)
	}
}

// makeRoom flushes the current batch if n more bytes would not fit.
func (im *importer) makeRoom(ctx context.Context, n int) error {
	if len(im.chunk)+n > cap(im.chunk) || len(im.chunk) >= im.opts.ChunkBytes {
		return im.flush(ctx)
	}
	return nil
}

// add copies a text line into the chunk and parses it there.
func (im *importer) add(ctx context.Context, line []byte) error {
	if err := im.makeRoom(ctx, len(line)); err != nil {
		return err
	}
	start := len(im.chunk)
	im.chunk = append(im.chunk, line...)
	im.parse(im.chunk[start:], false)
	return nil
}

func (im *importer) parse(b []byte, framed bool) {
	if len(im.events) < cap(im.events) {
		im.events = im.events[:len(im.events)+1]
	} else {
		im.events = append(im.events, parser.Event{})
	}
	ev := &im.events[len(im.events)-1]
	var err error
	if framed {
		err = parser.ParseFrame(b, ev)
	} else {
		err = parser.ParseTextLine(b, ev)
	}
	if err != nil {
		im.events = im.events[:len(im.events)-1]
		im.sum.skip(im.line, err.Error())
		return
	}
	im.sum.ByKind[ev.Kind.String()]++
	if im.sum.FirstTime.IsZero() || ev.Time.Before(im.sum.FirstTime) {
		im.sum.FirstTime = ev.Time
	}
	if ev.Time.After(im.sum.LastTime) {
		im.sum.LastTime = ev.Time
	}
}

// flush stores the current batch, retrying while the writer is busy.
func (im *importer) flush(ctx context.Context) error {
	if len(im.events) > 0 {
		h := sha256.Sum256(im.chunk)
		b := &store.Batch{App: im.opts.App, FrameID: "import-" + hex.EncodeToString(h[:16]), Events: im.events}
		backoff := 10 * time.Millisecond
		for {
			res, err := im.w.Write(ctx, b)
			if errors.Is(err, store.ErrQueueFull) {
				select {
				case <-time.After(backoff):
				case <-ctx.Done():
					return ctx.Err()
				}
				backoff = min(2*backoff, time.Second)
				continue
			}
			if err != nil {
				return fmt.Errorf("store: %w", err)
			}
			if res.Duplicate {
				im.sum.Duplicate += int64(len(b.Events))
			} else if im.opts.Observe != nil {
				im.opts.Observe(b.App, b.Events)
			}
			im.sum.Stored += int64(res.Stored)
			break
		}
	}
	im.chunk = im.chunk[:0]
	im.events = im.events[:0]
	if im.opts.Progress != nil {
		im.opts.Progress(Progress{Bytes: im.sum.Bytes, Lines: im.sum.Lines, Stored: im.sum.Stored})
	}
	return nil
}
