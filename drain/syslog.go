package drain

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/drainwatch/drainwatch/parser"
	"github.com/drainwatch/drainwatch/store"
)

// SyslogConfig configures the syslog+tls drain listener: logplex connects
// over TCP+TLS and streams octet-counted, fully RFC 5424 frames whose
// HOSTNAME is the drain token.
type SyslogConfig struct {
	Addr string
	// TLS serves TLS; nil serves plain TCP (tests, or behind a TLS proxy).
	TLS *tls.Config
	// Tokens maps drain tokens to apps: an unknown token closes the
	// connection. Syslog has no password, so this is what authenticates a
	// sender; ListenSyslog refuses to start without it unless AllowAnyApp.
	Tokens map[string]string
	// AllowAnyApp accepts every token, each its own app name: anyone who
	// can reach the port can post lines for any app. For a listener that
	// only trusted senders can reach.
	AllowAnyApp bool
	// MaxConns caps open connections. At the cap, a new connection closes
	// the one silent the longest (ConnCap): idle connections never keep a
	// sender out. Default 64.
	MaxConns int
	// FirstByteTimeout closes a connection that has sent nothing (not even
	// a TLS handshake) this long after it was accepted. Default 5s.
	FirstByteTimeout time.Duration
	// IdleTimeout closes a connection silent this long. Default 5m.
	IdleTimeout time.Duration
	// FlushEvery is how long lines wait for more before being stored.
	// Default 200ms.
	FlushEvery time.Duration
	// MaxBatch flushes a batch at this many lines: a connection holds at
	// most this many parsed lines (~1 KB each). Default 256.
	MaxBatch int
	Logger   *slog.Logger
	Observer Observer
	// Apps, if set, bounds the apps whose lines are taken: a new app's
	// lines beyond it are dropped (the connection stays open).
	Apps *AppLimit
}

// SyslogServer is a running syslog+tls listener.
type SyslogServer struct {
	cfg   SyslogConfig
	w     store.BatchWriter
	ln    *ConnCap
	log   *slog.Logger
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns map[net.Conn]struct{}
	done  chan struct{}

	// Lines counts lines stored; Refused counts connections closed for an
	// unknown token; Malformed counts frames that could not be parsed.
	Lines, Refused, Malformed atomic.Int64
}

// ErrSyslogOpen is returned by ListenSyslog when no Tokens are given and
// AllowAnyApp is not set.
var ErrSyslogOpen = errors.New("drain: a syslog listener without drain tokens would take lines for any app from anyone who reaches it")

// ListenSyslog starts the listener.
func ListenSyslog(cfg SyslogConfig, w store.BatchWriter) (*SyslogServer, error) {
	if len(cfg.Tokens) == 0 && !cfg.AllowAnyApp {
		return nil, ErrSyslogOpen
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = 64
	}
	if cfg.FirstByteTimeout <= 0 {
		cfg.FirstByteTimeout = 5 * time.Second
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 5 * time.Minute
	}
	if cfg.FlushEvery <= 0 {
		cfg.FlushEvery = 200 * time.Millisecond
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 256
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	var ln net.Listener
	var err error
	if cfg.TLS != nil {
		ln, err = tls.Listen("tcp", cfg.Addr, cfg.TLS)
	} else {
		ln, err = net.Listen("tcp", cfg.Addr)
	}
	if err != nil {
		return nil, fmt.Errorf("syslog listen: %w", err)
	}
	s := &SyslogServer{cfg: cfg, w: w, ln: NewConnCap(ln, cfg.MaxConns), log: cfg.Logger,
		conns: map[net.Conn]struct{}{}, done: make(chan struct{})}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// Addr is the listening address.
func (s *SyslogServer) Addr() net.Addr { return s.ln.Addr() }

// Conns is the listener's connection cap, with its counters.
func (s *SyslogServer) Conns() *ConnCap { return s.ln }

// Close stops accepting, ends every connection, stores what they had read,
// and waits for them.
func (s *SyslogServer) Close() error {
	close(s.done)
	err := s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.SetReadDeadline(time.Now()) // unblocks the reader; the handler flushes
	}
	s.mu.Unlock()
	s.wg.Wait()
	return err
}

func (s *SyslogServer) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			select {
			case <-s.done:
				return
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			s.log.Error("syslog accept", "error", err.Error())
			time.Sleep(50 * time.Millisecond)
			continue
		}
		s.mu.Lock()
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serve(c)
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
			c.Close()
			s.ln.Forget(c)
		}()
	}
}

// idleReader pushes the read deadline forward before every read, so a
// connection is closed after IdleTimeout of silence, not of total time, or
// after FirstByteTimeout when it has sent nothing yet. It tells the
// listener's cap when data arrives.
type idleReader struct {
	c         net.Conn
	first     time.Duration
	idle      time.Duration
	done      <-chan struct{}
	stop      *atomic.Bool // the connection was refused
	cap       *ConnCap
	something *bool // data has arrived
}

func (r idleReader) Read(p []byte) (int, error) {
	select {
	case <-r.done:
		return 0, net.ErrClosed
	default:
	}
	if r.stop.Load() {
		return 0, io.EOF
	}
	wait := r.idle
	if !*r.something {
		wait = r.first
	}
	r.c.SetReadDeadline(time.Now().Add(wait))
	n, err := r.c.Read(p)
	if n > 0 {
		*r.something = true
		r.cap.Touch(r.c)
	}
	return n, err
}

// connBatch collects one connection's lines between flushes.
type connBatch struct {
	mu     sync.Mutex
	app    string
	events []parser.Event
}

func (s *SyslogServer) serve(c net.Conn) {
	remote := c.RemoteAddr().String()
	b := &connBatch{}
	var refused atomic.Bool // the token was unknown: nothing more is read
	stop := make(chan struct{})
	tickDone := make(chan struct{})
	go func() {
		defer close(tickDone)
		t := time.NewTicker(s.cfg.FlushEvery)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				s.flush(b)
			}
		}
	}()

	var something bool
	fr := parser.NewFrameReader(idleReader{c: c, first: s.cfg.FirstByteTimeout, idle: s.cfg.IdleTimeout, done: s.done, stop: &refused, cap: s.ln, something: &something},
		syslogMaxFrame)
	for {
		frame, err := fr.Next()
		var fe *parser.FrameError
		if errors.As(err, &fe) {
			s.Malformed.Add(1)
			continue
		}
		if err != nil || frame == nil {
			break
		}
		if !s.take(b, frame, remote) {
			refused.Store(true)
			break
		}
	}
	close(stop)
	<-tickDone
	s.flush(b)
}

// syslogMaxFrame is the largest syslog frame taken: logplex truncates
// messages at about 10 KB. A connection buffers twice this.
const syslogMaxFrame = 16 << 10

// take parses one frame (an RFC 5424 header, the drain token as HOSTNAME)
// into the connection's batch, and flushes a full batch. It returns false
// for an unknown token: the connection is refused.
func (s *SyslogServer) take(b *connBatch, frame []byte, remote string) bool {
	// The events keep views into their frame: a copy of its own, as the
	// reader's buffer moves on.
	frame = append([]byte(nil), frame...)
	h, err := parser.ParseHeaderAs(frame, parser.DialectRFC5424)
	if err != nil || len(h.Message) == 0 {
		s.Malformed.Add(1)
		return true
	}
	token := string(h.Host)
	app := token
	if len(s.cfg.Tokens) > 0 {
		var known bool
		if app, known = s.cfg.Tokens[token]; !known {
			s.Refused.Add(1)
			s.log.Warn("syslog drain refused: unknown drain token", "remote", remote, "token_hash", TokenHash(token))
			return false
		}
	}
	if !ValidApp(app) {
		s.Malformed.Add(1)
		return true
	}
	b.mu.Lock()
	if b.app != "" && b.app != app {
		b.mu.Unlock()
		s.flush(b)
		b.mu.Lock()
	}
	b.app = app
	b.events = append(b.events, parser.Event{})
	parser.Parse(&h, &b.events[len(b.events)-1])
	full := len(b.events) >= s.cfg.MaxBatch
	b.mu.Unlock()
	if full {
		s.flush(b)
	}
	return true
}

// flush stores a connection's pending lines. Syslog has no acknowledgement:
// a failure is retried a few times, then logged with the count lost.
func (s *SyslogServer) flush(b *connBatch) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.events) == 0 {
		return
	}
	if s.cfg.Apps != nil && !s.cfg.Apps.Allow(b.app, len(b.events)) {
		b.events = b.events[:0]
		return
	}
	// A random frame id: a retry after a time-out that did commit is then
	// recognised and not stored twice.
	var id [16]byte
	rand.Read(id[:])
	batch := &store.Batch{App: b.app, FrameID: "syslog-" + hex.EncodeToString(id[:]), Events: b.events}
	if obs := s.cfg.Observer; obs != nil {
		// Once, on commit: not again when a retry finds it stored.
		batch.OnCommit = func(b *store.Batch) { obs.Observe(b.App, b.Events) }
	}
	reuse := true
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		var res store.Result
		res, err = s.w.Write(ctx, batch)
		cancel()
		if err == nil {
			s.Lines.Add(int64(res.Stored))
			break
		}
		if errors.Is(err, context.DeadlineExceeded) {
			reuse = false // the writer may still read these events
		}
		time.Sleep(time.Duration(50<<attempt) * time.Millisecond)
	}
	if err != nil {
		s.log.Error("syslog lines lost", "app", b.app, "lines", len(batch.Events), "error", err.Error())
	}
	if reuse {
		b.events = b.events[:0]
	} else {
		b.events = nil
	}
}
