package parser

// BodyStats says what ParseBody found in a body.
type BodyStats struct {
	Frames     int   // frames found, good or bad
	Parsed     int   // lines parsed into events
	BadFrames  int   // frames whose octet count was broken or too large
	BadHeaders int   // frames whose syslog header could not be read
	FirstError error // the first problem, for a log line or a 400 reason
}

// Skipped returns how many frames were skipped.
func (s BodyStats) Skipped() int { return s.BadFrames + s.BadHeaders }

// ParseBody frames an octet-counted logplex body and parses every frame,
// skipping (and counting) malformed ones. It appends to events[:0], reusing
// the Events already there and their buffers, and returns the slice. Each
// frame says whether it has a STRUCTURED-DATA field (DialectAuto).
func ParseBody(body []byte, maxFrame int, events []Event) ([]Event, BodyStats) {
	return ParseBodyAs(body, maxFrame, events, DialectAuto)
}

// ParseBodyAs is ParseBody with the frames read in dialect d.
//
// With DialectAuto, one body is taken to come from one client, written one
// way: when some of its RFC 5424 frames have a STRUCTURED-DATA field and
// others have none (log-shuttle with -msgid '-' writes none, and its lines
// that begin with "- " or "[x]" would look like one), the body is read
// again without the field, so that those lines keep their text.
func ParseBodyAs(body []byte, maxFrame int, events []Event, d Dialect) ([]Event, BodyStats) {
	events, st, sd, noSD := parseBody(body, maxFrame, events, d)
	if d != DialectLogplex && sd > 0 && noSD > 0 {
		events, st, _, _ = parseBody(body, maxFrame, events, DialectLogplex)
	}
	return events, st
}

// parseBody is ParseBodyAs in one pass; it also counts the frames read with
// and without a STRUCTURED-DATA field among those that may have one.
func parseBody(body []byte, maxFrame int, events []Event, d Dialect) (_ []Event, st BodyStats, sd, noSD int) {
	f := NewFramer(body, maxFrame)
	events, sd, noSD = parseFrames(&f, -1, events[:0], d, &st)
	return events, st, sd, noSD
}

// parseFrames parses up to n frames (all: n < 0) from f, appending to
// events, counting in st.
func parseFrames(f *Framer, n int, events []Event, d Dialect, st *BodyStats) (_ []Event, sd, noSD int) {
	for ; n != 0 && !f.Done(); n-- {
		fr, err := f.Next()
		if err != nil {
			st.Frames++
			st.BadFrames++
			if st.FirstError == nil {
				st.FirstError = err
			}
			continue
		}
		if fr == nil {
			break
		}
		st.Frames++
		events = grow(events)
		h, err := ParseHeaderAs(fr, d)
		if err != nil {
			events = events[:len(events)-1]
			st.BadHeaders++
			if st.FirstError == nil {
				st.FirstError = &FrameError{Offset: f.off - len(fr), Err: err}
			}
			continue
		}
		if h.HasStructuredData {
			sd++
		} else if d == DialectRFC5424 || d == DialectAuto && string(h.Host) != "host" {
			noSD++
		}
		Parse(&h, &events[len(events)-1])
		st.Parsed++
	}
	return events, sd, noSD
}

// sdCounts counts, over the rest of f, the frames with and without a
// STRUCTURED-DATA field as parseFrames does, reading headers only.
func sdCounts(f Framer, d Dialect) (sd, noSD int) {
	for !f.Done() {
		fr, err := f.Next()
		if err != nil {
			continue
		}
		if fr == nil {
			break
		}
		h, err := ParseHeaderAs(fr, d)
		if err != nil {
			continue
		}
		if h.HasStructuredData {
			sd++
		} else if d == DialectRFC5424 || d == DialectAuto && string(h.Host) != "host" {
			noSD++
		}
	}
	return sd, noSD
}

// BodyReader parses a body a chunk of frames at a time, so that a body of
// many small frames never needs an Event for each of them at once: an Event
// is about 1 KB, and a 1 MiB body holds up to ~25,000 minimal frames. The
// events of all its chunks are those ParseBodyAs gives, in order.
type BodyReader struct {
	body     []byte
	maxFrame int
	d        Dialect
	f        Framer
	st       BodyStats
	started  bool
}

// NewBodyReader returns a reader of body's frames in dialect d.
func NewBodyReader(body []byte, maxFrame int, d Dialect) *BodyReader {
	return &BodyReader{body: body, maxFrame: maxFrame, d: d, f: NewFramer(body, maxFrame)}
}

// Next parses the next n frames (good or bad) into events[:0], reusing
// their buffers, and returns them. Chunks end at the same frames for the
// same body and n, so a chunk can be told apart from the others on a retry.
func (r *BodyReader) Next(events []Event, n int) []Event {
	if n <= 0 {
		n = 1
	}
	if r.started {
		events, _, _ = parseFrames(&r.f, n, events[:0], r.d, &r.st)
		return events
	}
	r.started = true
	events, sd, noSD := parseFrames(&r.f, n, events[:0], r.d, &r.st)
	if r.d == DialectLogplex {
		return events
	}
	if !r.f.Done() {
		// More chunks follow: the body's dialect is decided on all its
		// frames, as ParseBodyAs does.
		sd2, noSD2 := sdCounts(r.f, r.d)
		sd, noSD = sd+sd2, noSD+noSD2
	}
	if sd > 0 && noSD > 0 {
		r.d, r.st, r.f = DialectLogplex, BodyStats{}, NewFramer(r.body, r.maxFrame)
		events, _, _ = parseFrames(&r.f, n, events[:0], r.d, &r.st)
	}
	return events
}

// Done reports whether every frame has been read.
func (r *BodyReader) Done() bool { return r.started && r.f.Done() }

// Stats returns what the chunks read so far held.
func (r *BodyReader) Stats() BodyStats { return r.st }

// grow extends events by one, reusing the spare element's buffers.
func grow(events []Event) []Event {
	if len(events) < cap(events) {
		return events[:len(events)+1]
	}
	return append(events, Event{})
}
