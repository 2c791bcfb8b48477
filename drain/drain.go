// Package drain is the HTTPS endpoint that Heroku's logplex posts to: it
// checks the drain's credentials, caps and reads the body, frames and parses
// it, and answers only once the lines are durably stored.
package drain

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sync/semaphore"

	"github.com/drainwatch/drainwatch/parser"
	"github.com/drainwatch/drainwatch/store"
)

// Observer is told about every batch once it is stored (the alert engine):
// exactly once for each committed batch, whatever becomes of its request
// (answered, timed out, client gone), and never for a retry found to be a
// duplicate. Observe must not block, and must copy what it keeps: the
// events are views into a buffer that is reused when the request is
// answered.
type Observer interface {
	Observe(app string, events []parser.Event)
}

// Config configures the drain endpoint.
type Config struct {
	// User and Password are the drain URL's basic-auth credentials
	// (https://USER:PASSWORD@host/logs/APP). An empty User accepts any user
	// name with the right password. An empty Password is refused unless
	// AllowNoAuth is set.
	User, Password string
	// AllowNoAuth lets the endpoint run without credentials (local testing).
	AllowNoAuth bool
	// MaxBody caps a request body, and a gzipped body once decompressed;
	// larger gets 413. Default 1 MiB (logplex sends up to about 100 KiB,
	// log-shuttle up to 500 lines).
	MaxBody int64
	// MaxFrame caps one frame; larger frames are skipped. Default
	// parser.DefaultMaxFrame.
	MaxFrame int
	// ChunkLines is how many frames are parsed and stored at a time: a
	// body of more is stored in several batches, in order, the Nth after
	// the first under the frame id "FRAME-ID/N" (a retry stores only the
	// batches not stored before). Bounds a request's parsed lines to
	// ChunkLines Events (~1 KB each). Default 1024.
	ChunkLines int
	// Memory is how many bytes the requests being read, parsed and stored
	// at once may reserve: each reserves twice its body (Content-Length,
	// or MaxBody when unknown; plus MaxBody for a gzipped body once
	// decompressed) and room for its parsed lines. A request that cannot
	// reserve within MemoryWait gets 503 (logplex retries). Default 64 MiB.
	Memory int64
	// MemoryWait: see Memory. Default 1s.
	MemoryWait time.Duration
	// AckTimeout is how long a request waits for its batch to be committed
	// before answering 503 (logplex gives up after 5 s). Default 4 s.
	AckTimeout time.Duration
	// Logger gets one line per problem; default slog.Default().
	Logger *slog.Logger
	// Observer, if set, sees every newly stored batch.
	Observer Observer
	// Tokens, if set, maps each allowed Logplex-Drain-Token to its app: a
	// request with another token (or none) gets 403.
	Tokens map[string]string
	// RequireHTTPS refuses (403) requests that the Heroku router says came
	// over plain HTTP (X-Forwarded-Proto: http), so the drain password never
	// travels in clear.
	RequireHTTPS bool
	// MaxFuture skips lines stamped further than this ahead of the clock (a
	// broken clock would otherwise age every dyno out of the alert rules).
	// Default 1h.
	MaxFuture time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Apps, if set, bounds the apps whose lines are taken: a request for a
	// new app beyond it is answered 200 with nothing stored.
	Apps *AppLimit
}

// eventBytes is what one parsed line takes in memory.
const eventBytes = int64(unsafe.Sizeof(parser.Event{}))

// minFrame is about the shortest frame that parses into a line
// ("NN <0>1 2026-01-01T00:00:00Z h a p - x"): a body holds at most its
// size / minFrame lines.
const minFrame = 32

// ErrNoPassword is returned by New when no password is configured and
// AllowNoAuth is not set: a drain must never be silently open.
var ErrNoPassword = errors.New("drain: no DRAIN_PASSWORD set; refusing to accept logs from anyone (set one, or allow no auth explicitly for local use)")

// Stats are the endpoint's counters since start.
type Stats struct {
	Requests, Stored, Skipped, Duplicates, Rejected, Unavailable atomic.Int64
	// Future counts lines skipped for a time too far ahead (also in Skipped).
	Future atomic.Int64
	// StoredLate counts batches committed after their client had gone.
	StoredLate atomic.Int64
	// Busy counts requests answered 503 because the memory for bodies
	// (Config.Memory) stayed taken for MemoryWait; Chunked counts bodies
	// stored in more than one batch (Config.ChunkLines).
	Busy, Chunked atomic.Int64
	// lastFail and lastOK are when a write last failed and last succeeded
	// (Unix nanoseconds), and failErr why it failed: see StoreFailure.
	lastFail, lastOK atomic.Int64
	failErr          atomic.Pointer[error]
}

// StoreFailure returns why storing a batch last failed, when no batch has
// been stored since; nil when the last write succeeded (or none was tried).
func (s *Stats) StoreFailure() error {
	if s.lastFail.Load() <= s.lastOK.Load() {
		return nil
	}
	if e := s.failErr.Load(); e != nil {
		return *e
	}
	return nil
}

func (s *Stats) storeFailed(err error) {
	s.failErr.Store(&err)
	s.lastFail.Store(time.Now().UnixNano())
}

func (s *Stats) storeOK() { s.lastOK.Store(time.Now().UnixNano()) }

// Handler serves POST /logs/{app} and POST /logs.
type Handler struct {
	cfg     Config
	w       store.BatchWriter
	mux     *http.ServeMux
	log     *slog.Logger
	userSum [32]byte
	passSum [32]byte
	pool    sync.Pool // *buffers
	mem     *semaphore.Weighted
	Stats   Stats
}

type buffers struct {
	body   []byte
	plain  []byte // a gzipped body, decompressed
	events []parser.Event
}

// New returns the drain endpoint.
func New(cfg Config, w store.BatchWriter) (*Handler, error) {
	if cfg.Password == "" && !cfg.AllowNoAuth {
		return nil, ErrNoPassword
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = 1 << 20
	}
	if cfg.MaxFrame <= 0 {
		cfg.MaxFrame = parser.DefaultMaxFrame
	}
	if cfg.ChunkLines <= 0 {
		cfg.ChunkLines = 1024
	}
	if cfg.Memory <= 0 {
		cfg.Memory = 64 << 20
	}
	if cfg.MemoryWait <= 0 {
		cfg.MemoryWait = time.Second
	}
	if cfg.AckTimeout <= 0 {
		cfg.AckTimeout = 4 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxFuture <= 0 {
		cfg.MaxFuture = time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	h := &Handler{cfg: cfg, w: w, log: cfg.Logger, mux: http.NewServeMux(), mem: semaphore.NewWeighted(cfg.Memory)}
	h.userSum = sha256.Sum256([]byte(cfg.User))
	h.passSum = sha256.Sum256([]byte(cfg.Password))
	h.pool.New = func() any { return &buffers{body: make([]byte, 0, 128<<10)} }
	h.mux.HandleFunc("/logs/{app}", h.serveLogs)
	h.mux.HandleFunc("/logs", h.serveLogs)
	return h, nil
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// authorized checks basic auth in constant time (hashes first, so that the
// lengths do not leak either).
func (h *Handler) authorized(r *http.Request) bool {
	if h.cfg.Password == "" {
		return true
	}
	user, pass, ok := r.BasicAuth()
	if !ok {
		return false
	}
	u := sha256.Sum256([]byte(user))
	p := sha256.Sum256([]byte(pass))
	okUser := subtle.ConstantTimeCompare(u[:], h.userSum[:])
	if h.cfg.User == "" {
		okUser = 1
	}
	okPass := subtle.ConstantTimeCompare(p[:], h.passSum[:])
	return okUser&okPass == 1
}

// ValidApp reports whether s is an app name drainwatch accepts, in a URL
// (/logs/APP) or in DRAIN_TOKENS: 1 to 100 letters, digits, '-', '_' or '.'
// (Heroku's app names, and a little more).
func ValidApp(s string) bool {
	if len(s) == 0 || len(s) > 100 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

func (h *Handler) fail(w http.ResponseWriter, r *http.Request, status int, reason string, attrs ...any) {
	if status == http.StatusServiceUnavailable {
		h.Stats.Unavailable.Add(1)
		w.Header().Set("Retry-After", "1")
	} else {
		h.Stats.Rejected.Add(1)
	}
	args := append([]any{"status", status, "reason", reason, "path", r.URL.Path, "remote", r.RemoteAddr,
		"request_id", w.Header().Get("X-Request-Id"), "frame_id", r.Header.Get("Logplex-Frame-Id")}, attrs...)
	h.log.Warn("drain request refused", args...)
	http.Error(w, reason, status)
}

func (h *Handler) serveLogs(w http.ResponseWriter, r *http.Request) {
	h.Stats.Requests.Add(1)
	reqID := requestID(r)
	w.Header().Set("X-Request-Id", reqID)
	app, gz, ok := h.admit(w, r)
	if !ok {
		return
	}
	if h.cfg.Apps != nil {
		n, _ := strconv.Atoi(r.Header.Get("Logplex-Msg-Count"))
		if !h.cfg.Apps.Allow(app, n) {
			// 2xx: logplex would drop a 4xx batch silently, and retry a 5xx.
			h.answer(w, fmt.Sprintf("ok stored=0 dropped: this drainwatch takes lines for %d apps at most (MAX_APPS)\n", h.cfg.Apps.Max()))
			return
		}
	}
	need := h.reservation(r.ContentLength, gz)
	wait, cancelWait := context.WithTimeout(r.Context(), h.cfg.MemoryWait)
	err := h.mem.Acquire(wait, need)
	cancelWait()
	if err != nil {
		h.Stats.Busy.Add(1)
		h.fail(w, r, http.StatusServiceUnavailable, "too many bodies at once; retry", "reserving", need)
		return
	}
	defer h.mem.Release(need)

	buf := h.pool.Get().(*buffers)
	reuse := true // false while the writer may still read the buffers
	defer func() {
		if reuse {
			h.release(buf)
		}
	}()
	body, ok := h.body(w, r, buf, gz)
	if !ok {
		return
	}
	dialect := parser.DialectAuto
	if strings.HasPrefix(r.Header.Get("User-Agent"), "log-shuttle/") {
		dialect = parser.DialectRFC5424 // whatever HOSTNAME it was given
	}
	// The writes go on if the client goes away: a batch committed after
	// that is stored (and observed) all the same, and logged as such.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), h.cfg.AckTimeout)
	defer cancel()
	st := h.store(ctx, app, r.Header.Get("Logplex-Frame-Id"), body, dialect, buf)
	if st.err != nil {
		// Every failure to store is ours and passing: logplex retries a
		// 503, and the batches stored before are recognised by their ids.
		reuse = ctx.Err() == nil // else the batch may still be in the writer's queue, reading these buffers
		h.Stats.storeFailed(st.err)
		h.Stats.Stored.Add(int64(st.stored))
		h.fail(w, r, http.StatusServiceUnavailable, "could not store the batch now; retry", "error", st.err.Error(), "stored_before", st.stored)
		return
	}
	h.report(w, r, reqID, app, st)
}

// requestID is the request's X-Request-Id (set by the Heroku router), or a
// new one.
func requestID(r *http.Request) string {
	id := r.Header.Get("X-Request-Id")
	if id == "" || len(id) > 200 {
		var b [8]byte
		rand.Read(b[:])
		id = hex.EncodeToString(b[:])
	}
	return id
}

// admit checks everything about a drain POST but its body: scheme,
// method, credentials, app and token, content type and encoding, declared
// length. It answers a refusal itself; ok is false then.
func (h *Handler) admit(w http.ResponseWriter, r *http.Request) (app string, gz, ok bool) {
	if h.cfg.RequireHTTPS && strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "http") {
		h.fail(w, r, http.StatusForbidden, "drain must use https")
		return "", false, false
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		h.fail(w, r, http.StatusMethodNotAllowed, "drain accepts POST only")
		return "", false, false
	}
	if !h.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Basic realm="drainwatch"`)
		h.fail(w, r, http.StatusUnauthorized, "wrong or missing drain credentials")
		return "", false, false
	}
	if app, ok = h.appOf(w, r); !ok {
		return "", false, false
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/logplex-1" {
			h.fail(w, r, http.StatusUnsupportedMediaType, "Content-Type must be application/logplex-1", "content_type", ct)
			return "", false, false
		}
	}
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip", "x-gzip":
		gz = true
	default:
		h.fail(w, r, http.StatusUnsupportedMediaType, "Content-Encoding "+strconv.Quote(enc)+" is not supported: send gzip or none", "content_encoding", enc)
		return "", false, false
	}
	if r.ContentLength > h.cfg.MaxBody {
		h.fail(w, r, http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than %d bytes", h.cfg.MaxBody))
		return "", false, false
	}
	return app, gz, true
}

// appOf is the app a POST is for: its drain token's (when tokens are set),
// else the path's, else the token itself, else "default".
func (h *Handler) appOf(w http.ResponseWriter, r *http.Request) (string, bool) {
	app := r.PathValue("app")
	token := r.Header.Get("Logplex-Drain-Token")
	if len(h.cfg.Tokens) > 0 {
		tokenApp, known := h.cfg.Tokens[token]
		if !known {
			h.fail(w, r, http.StatusForbidden, "unknown drain token", "token_hash", TokenHash(token))
			return "", false
		}
		if app != "" && app != tokenApp {
			h.fail(w, r, http.StatusForbidden, "drain token belongs to another app", "token_hash", TokenHash(token))
			return "", false
		}
		app = tokenApp
	}
	if app == "" {
		app = token
	}
	if app == "" {
		app = "default"
	}
	if !ValidApp(app) {
		h.fail(w, r, http.StatusBadRequest, "app name must be 1-100 letters, digits, '-', '_' or '.'")
		return "", false
	}
	return app, true
}

// body reads the request's body into buf, decompressed if gz. It answers a
// body too large, unreadable, not gzip or empty itself; ok is false then.
func (h *Handler) body(w http.ResponseWriter, r *http.Request, buf *buffers, gz bool) (_ []byte, ok bool) {
	body, err := readBody(w, r, buf.body[:0], h.cfg.MaxBody)
	buf.body = body[:0]
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			h.fail(w, r, http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than %d bytes", h.cfg.MaxBody))
			return nil, false
		}
		// The client went away or stalled past the read timeout: the same
		// body sent again may well arrive whole.
		h.fail(w, r, http.StatusServiceUnavailable, "could not read the body; retry", "error", err.Error())
		return nil, false
	}
	if gz && len(body) > 0 {
		plain, err := gunzip(body, buf.plain[:0], h.cfg.MaxBody)
		buf.plain = plain[:0]
		switch {
		case errors.Is(err, errTooLarge):
			h.fail(w, r, http.StatusRequestEntityTooLarge, fmt.Sprintf("gzipped body larger than %d bytes once decompressed", h.cfg.MaxBody))
			return nil, false
		case err != nil:
			h.fail(w, r, http.StatusBadRequest, "body is not valid gzip: "+err.Error())
			return nil, false
		}
		body = plain
	}
	if len(body) == 0 {
		h.fail(w, r, http.StatusBadRequest, "empty body")
		return nil, false
	}
	return body, true
}

// stored is what storing a body did.
type stored struct {
	frameID                       string
	stored, future, batches, dups int
	parse                         parser.BodyStats
	err                           error // a batch could not be stored
}

// store parses body and stores it ChunkLines frames at a time, so that a
// body of many tiny frames never holds an Event (~1 KB) for each of them;
// chunk N>0 is stored under frame id ID/N, so that a retry stores only what
// was not stored. Lines dated past MaxFuture are dropped.
func (h *Handler) store(ctx context.Context, app, frameID string, body []byte, dialect parser.Dialect, buf *buffers) stored {
	st := stored{frameID: frameID}
	rd := parser.NewBodyReader(body, h.cfg.MaxFrame, dialect)
	limit := h.cfg.Now().Add(h.cfg.MaxFuture)
	for chunk := 0; !rd.Done(); chunk++ {
		events := rd.Next(buf.events, h.cfg.ChunkLines)
		buf.events = events
		events, n := dropFuture(events, limit)
		st.future += n
		if len(events) == 0 {
			continue
		}
		id := frameID
		if chunk > 0 && id != "" {
			id += "/" + strconv.Itoa(chunk)
		}
		batch := &store.Batch{App: app, FrameID: id, Events: events}
		if obs := h.cfg.Observer; obs != nil {
			batch.OnCommit = func(b *store.Batch) { obs.Observe(b.App, b.Events) }
		}
		res, err := h.w.Write(ctx, batch)
		if err != nil {
			st.err = err
			return st
		}
		h.Stats.storeOK()
		st.batches++
		if res.Duplicate {
			st.dups++
		}
		st.stored += res.Stored
	}
	st.parse = rd.Stats()
	st.parse.Parsed -= st.future
	return st
}

// report counts and logs what storing a body did, and answers the POST.
func (h *Handler) report(w http.ResponseWriter, r *http.Request, reqID, app string, st stored) {
	if st.batches > 1 {
		h.Stats.Chunked.Add(1)
	}
	if st.future > 0 {
		h.Stats.Future.Add(int64(st.future))
		h.log.Warn("lines dated too far in the future skipped", "app", app, "lines", st.future, "max_future", h.cfg.MaxFuture.String(),
			"request_id", reqID, "frame_id", st.frameID)
	}
	if mc := r.Header.Get("Logplex-Msg-Count"); mc != "" {
		if n, err := strconv.Atoi(mc); err != nil || n != st.parse.Frames {
			h.log.Warn("Logplex-Msg-Count does not match frames found", "app", app, "msg_count", mc, "frames", st.parse.Frames,
				"request_id", reqID, "frame_id", st.frameID)
		}
	}
	if st.parse.Skipped() > 0 {
		h.Stats.Skipped.Add(int64(st.parse.Skipped()))
		h.log.Warn("malformed frames skipped", "app", app, "skipped", st.parse.Skipped(), "parsed", st.parse.Parsed, "first_error", st.parse.FirstError.Error(),
			"request_id", reqID, "frame_id", st.frameID)
	}
	skipped := st.parse.Skipped() + st.future
	if st.parse.Parsed == 0 && st.future == 0 {
		reason := "no parseable frame in body"
		if st.parse.FirstError != nil {
			reason += ": " + st.parse.FirstError.Error()
		}
		h.fail(w, r, http.StatusBadRequest, reason)
		return
	}
	h.Stats.Skipped.Add(int64(st.future))
	if st.batches == 0 {
		// Only lines from the future (and perhaps broken frames): nothing
		// to store, and nothing a retry would change.
		h.answer(w, fmt.Sprintf("ok stored=0 skipped=%d\n", skipped))
		return
	}
	if st.dups == st.batches {
		h.Stats.Duplicates.Add(1)
		h.answer(w, "ok duplicate\n")
		return
	}
	h.Stats.Stored.Add(int64(st.stored))
	if r.Context().Err() != nil {
		h.Stats.StoredLate.Add(1)
		h.log.Info("batch stored after its client went away", "app", app, "stored", st.stored,
			"request_id", reqID, "frame_id", st.frameID)
		return
	}
	h.answer(w, fmt.Sprintf("ok stored=%d skipped=%d\n", st.stored, skipped))
}

// reservation is what a request reserves of Config.Memory before its body
// is read: the body, as much again for what storing it copies, the
// decompressed body of a gzipped one, and its parsed lines (a chunk of
// ChunkLines at most); never more than Memory itself, so that a request
// alone always fits.
func (h *Handler) reservation(contentLength int64, gz bool) int64 {
	body := contentLength
	if body <= 0 || body > h.cfg.MaxBody {
		body = h.cfg.MaxBody
	}
	plain := body
	if gz {
		plain = h.cfg.MaxBody
		body += plain
	}
	lines := min(int64(h.cfg.ChunkLines), plain/minFrame+1)
	return min(body+plain+lines*eventBytes, h.cfg.Memory)
}

// answer writes a 200 with its one-line text.
func (h *Handler) answer(w http.ResponseWriter, text string) {
	w.Header().Set("Content-Length", strconv.Itoa(len(text)))
	w.WriteHeader(http.StatusOK)
	io.WriteString(w, text)
}

// TokenHash is a short, stable digest of a secret (a drain token) that
// tells tokens apart in logs without revealing them: the first 8 hex digits
// of its SHA-256.
func TokenHash(token string) string {
	if token == "" {
		return "none"
	}
	s := sha256.Sum256([]byte(token))
	return hex.EncodeToString(s[:4])
}

var errTooLarge = errors.New("decompressed body too large")

// gunzip decompresses body into dst, up to max bytes: a body that would be
// larger fails with errTooLarge as soon as it passes max, so a small bomb
// costs at most max bytes of memory and the time to inflate them.
func gunzip(body, dst []byte, max int64) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		return dst, err
	}
	defer zr.Close()
	out := bytes.NewBuffer(dst)
	n, err := out.ReadFrom(io.LimitReader(zr, max+1))
	if err != nil {
		return out.Bytes(), err
	}
	if n > max {
		return out.Bytes(), errTooLarge
	}
	return out.Bytes(), nil
}

// dropFuture removes events stamped after limit, keeping the order, and
// says how many it removed. The removed events' buffers stay in the slice's
// spare capacity for reuse.
func dropFuture(events []parser.Event, limit time.Time) ([]parser.Event, int) {
	n := 0
	for i := range events {
		if events[i].Time.After(limit) {
			continue
		}
		if n != i {
			events[n], events[i] = events[i], events[n]
		}
		n++
	}
	return events[:n], len(events) - n
}

// release returns a request's buffers to the pool, unless one grew unusually
// large (a pool must not pin a burst's memory).
func (h *Handler) release(b *buffers) {
	if cap(b.body) > 4<<20 || cap(b.plain) > 4<<20 || cap(b.events) > 4096 {
		return
	}
	h.pool.Put(b)
}

// readBody reads r's body into dst, capped at max bytes.
func readBody(w http.ResponseWriter, r *http.Request, dst []byte, max int64) ([]byte, error) {
	if r.ContentLength > max {
		return dst, &http.MaxBytesError{Limit: max}
	}
	if r.ContentLength > 0 && int64(cap(dst)) < r.ContentLength {
		dst = make([]byte, 0, r.ContentLength)
	}
	buf := bytes.NewBuffer(dst)
	_, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, max))
	return buf.Bytes(), err
}
