// Package rollup is what every storage backend does alike with router
// lines: it rolls them up into per-minute rows of (app, dyno, path
// template, status class) — a count, errors, bytes, H-codes and two latency
// sketches — and encodes those the one way every backend stores them, so
// that rows written by SQLite and PostgreSQL merge and copy into each
// other. It has no SQL and no cgo.
package rollup

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/DataDog/sketches-go/ddsketch"

	"github.com/drainwatch/drainwatch/store/pending"
)

// SketchAccuracy is the relative accuracy of the latency sketches: a p99 of
// 2000 ms is reported within ±20 ms.
const SketchAccuracy = 0.01

// Rollup resolutions, in seconds.
const (
	Minute = 60
	Hour   = 3600
)

// Key names one rollup row.
type Key struct {
	App               string
	Res               int64 // seconds
	Start             int64 // Unix microseconds
	Dyno, Path, Class string
}

// KeyOf is the minute row of app a router line belongs to.
func KeyOf(app string, l *pending.RouterLine) Key {
	return Key{App: app, Res: Minute, Start: (l.Unix - l.Unix%60) * 1e6, Dyno: l.Dyno, Path: l.Path,
		Class: StatusClass(int(l.Status))}
}

// Acc is one rollup row being built, or a delta to add to a stored one.
type Acc struct {
	Count, Errors, Bytes int64
	Codes                map[string]int64
	Service, Connect     *ddsketch.DDSketch
}

// NewSketch returns an empty latency sketch.
func NewSketch() *ddsketch.DDSketch {
	s, err := ddsketch.NewDefaultDDSketch(SketchAccuracy)
	if err != nil {
		panic(err) // only for an invalid accuracy constant
	}
	return s
}

// NewAcc returns an empty row.
func NewAcc() *Acc {
	return &Acc{Service: NewSketch(), Connect: NewSketch()}
}

// Add counts one router line into a.
func (a *Acc) Add(l *pending.RouterLine) {
	a.Count++
	if l.Code != "" || l.Status >= 500 {
		a.Errors++
	}
	if l.Code != "" {
		if a.Codes == nil {
			a.Codes = map[string]int64{}
		}
		a.Codes[l.Code]++
	}
	if l.Len > 0 {
		a.Bytes += l.Len
	}
	if l.Service >= 0 {
		a.Service.Add(float64(l.Service))
	}
	if l.Connect >= 0 {
		a.Connect.Add(float64(l.Connect))
	}
}

// Merge adds b into a.
func (a *Acc) Merge(b *Acc) error {
	a.Count += b.Count
	a.Errors += b.Errors
	a.Bytes += b.Bytes
	for c, n := range b.Codes {
		if a.Codes == nil {
			a.Codes = map[string]int64{}
		}
		a.Codes[c] += n
	}
	if err := a.Service.MergeWith(b.Service); err != nil {
		return err
	}
	return a.Connect.MergeWith(b.Connect)
}

// Decode merges a stored row's codes and sketches into a.
func (a *Acc) Decode(codes string, service, connect []byte) error {
	a.Codes = DecodeCodes(codes, a.Codes)
	if len(service) > 0 {
		if err := a.Service.DecodeAndMergeWith(service); err != nil {
			return fmt.Errorf("rollup sketch: %w", err)
		}
	}
	if len(connect) > 0 {
		if err := a.Connect.DecodeAndMergeWith(connect); err != nil {
			return fmt.Errorf("rollup sketch: %w", err)
		}
	}
	return nil
}

// EncodeSketches returns a's sketches in sketches-go's encoding, in *buf
// (reused; nil: a new buffer): a concatenation of two encodings decodes as
// their merge, which is how a backend can merge sketches in SQL.
func (a *Acc) EncodeSketches(buf *[]byte) (service, connect []byte) {
	if buf == nil {
		buf = new([]byte)
	}
	*buf = (*buf)[:0]
	a.Service.Encode(buf, false)
	n := len(*buf)
	a.Connect.Encode(buf, false)
	return (*buf)[:n:n], (*buf)[n:]
}

// EncodeCodes stores H-codes as "H12=3,H13=1", sorted.
func EncodeCodes(codes map[string]int64) string {
	if len(codes) == 0 {
		return ""
	}
	keys := make([]string, 0, len(codes))
	for k := range codes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(strconv.FormatInt(codes[k], 10))
	}
	return b.String()
}

// DecodeCodes adds the codes EncodeCodes wrote into into (made when nil).
func DecodeCodes(s string, into map[string]int64) map[string]int64 {
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			continue
		}
		n, _ := strconv.ParseInt(v, 10, 64)
		if into == nil {
			into = map[string]int64{}
		}
		into[k] += n
	}
	return into
}

// MergeCodes is two encoded code lists added up, encoded.
func MergeCodes(a, b string) string {
	return EncodeCodes(DecodeCodes(b, DecodeCodes(a, nil)))
}

// StatusClasses are the status classes rows are kept by; "-" is a line
// with no valid status.
var StatusClasses = [...]string{"-", "1xx", "2xx", "3xx", "4xx", "5xx"}

// StatusClass is the class of an HTTP status.
func StatusClass(status int) string { return StatusClasses[StatusClassIndex(status)] }

// StatusClassIndex is StatusClass's index in StatusClasses.
func StatusClassIndex(status int) int {
	if status < 100 || status > 599 {
		return 0
	}
	return status / 100
}
