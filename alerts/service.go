package alerts

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/drainwatch/drainwatch/analyze"
	"github.com/drainwatch/drainwatch/parser"
	"github.com/drainwatch/drainwatch/store"
)

// Store is what the service needs of the database. store/sqlite's DB is one.
type Store interface {
	InsertAlert(ctx context.Context, a store.AlertRecord, deliver bool) (int64, error)
	OpenAlerts(ctx context.Context) ([]store.AlertRecord, error)
	PendingDeliveries(ctx context.Context, limit int) ([]store.Delivery, error)
	UpdateDelivery(ctx context.Context, alertID int64, status string, attempts int, next time.Time, lastErr string, now time.Time) error
}

// Notifier delivers one alert. When it fails, retry says whether trying
// again later may succeed (a timeout, 429, 5xx) or not (a 4xx: bad URL,
// revoked token).
type Notifier interface {
	Notify(ctx context.Context, a Alert) (retry bool, err error)
}

// RetryAfterError is a failure that says when to try again (Slack's 429).
type RetryAfterError struct {
	After time.Duration
	Err   error
}

func (e *RetryAfterError) Error() string { return e.Err.Error() }
func (e *RetryAfterError) Unwrap() error { return e.Err }

// ServiceConfig configures a Service. Zero values take the defaults.
type ServiceConfig struct {
	Rules      Config
	QueueLen   int           // batches of observations waiting for the engine; default 4096
	QueueBytes int64         // their memory (estimated) at most; default 16 MiB
	MaxAge     time.Duration // give up delivering an alert this old; default 6h
	MinBackoff time.Duration // first retry after; default 2s
	MaxBackoff time.Duration // longest wait between retries; default 5m
	Timeout    time.Duration // one delivery attempt; default 10s
	Now        func() time.Time
	Logger     *slog.Logger
	// Suspects, if set, names the request paths going with memory growth in
	// app before log time at; a firing leak or over-quota alert quotes the
	// named ones.
	Suspects func(ctx context.Context, app string, at time.Time) ([]analyze.Suspect, error)
}

// Service runs the engine and the deliveries, each in its own goroutine.
// Observe never blocks: when the engine falls behind, observations are
// dropped and counted, and ingest goes on.
type Service struct {
	cfg      ServiceConfig
	store    Store
	notifier Notifier
	engine   *Engine
	drops    *Drops // RuleDrops, beside the engine's rules
	log      *slog.Logger

	mu     sync.RWMutex
	closed bool
	in     chan work
	wake   chan struct{}
	cancel context.CancelFunc
	// engineDone is closed when the engine goroutine has drained its queue.
	engineDone chan struct{}
	wg         sync.WaitGroup

	// Dropped counts observation batches dropped because the engine was behind.
	Dropped atomic.Int64
	// Fired counts alerts recorded (fired or resolved).
	Fired atomic.Int64
	// Evicted counts dynos the engine forgot at its per-app limit or its
	// memory limit.
	Evicted atomic.Int64
	queued  atomic.Int64 // bytes of the observations in s.in
}

// QueuedBytes is the estimated memory of the observations waiting for the
// engine.
func (s *Service) QueuedBytes() int64 { return s.queued.Load() }

// obsBytes estimates the memory of a batch of observations.
func obsBytes(obs []Observation) int64 {
	n := int64(cap(obs)) * int64(unsafe.Sizeof(Observation{}))
	for i := range obs {
		n += int64(len(obs[i].Dyno) + len(obs[i].Boot)) // the app's name is shared
	}
	return n
}

// NewService restores the episodes open at the last stop and starts the
// engine and delivery goroutines. notifier may be nil: alerts are then
// recorded but not delivered.
func NewService(ctx context.Context, cfg ServiceConfig, st Store, notifier Notifier) (*Service, error) {
	if cfg.QueueLen <= 0 {
		cfg.QueueLen = 4096
	}
	if cfg.QueueBytes <= 0 {
		cfg.QueueBytes = 16 << 20
	}
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = 6 * time.Hour
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 2 * time.Second
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 5 * time.Minute
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Service{cfg: cfg, store: st, notifier: notifier, engine: NewEngine(cfg.Rules), drops: NewDrops(), log: cfg.Logger,
		in: make(chan work, cfg.QueueLen), wake: make(chan struct{}, 1), engineDone: make(chan struct{})}
	open, err := st.OpenAlerts(ctx)
	if err != nil {
		return nil, err
	}
	var restored []Alert
	for _, r := range open {
		var a Alert
		if err := json.Unmarshal([]byte(r.Details), &a); err != nil {
			return nil, fmt.Errorf("alerts: restore alert %d: %w", r.ID, err)
		}
		restored = append(restored, a)
	}
	s.engine.Restore(restored)
	s.drops.Restore(restored)

	runCtx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	go s.runEngine()
	if notifier != nil {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.runDeliveries(runCtx)
		}()
	}
	return s, nil
}

// Observe hands one committed batch's events to the engine. It copies what
// the rules need and returns at once.
func (s *Service) Observe(app string, events []parser.Event) {
	obs := FromEvents(app, events, nil)
	if len(obs) == 0 {
		return
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return
	}
	size := obsBytes(obs)
	if s.queued.Add(size) <= s.cfg.QueueBytes {
		select {
		case s.in <- work{obs: obs, bytes: size}:
			return
		default:
		}
	}
	s.queued.Add(-size)
	if s.Dropped.Add(1)%100 == 1 {
		s.log.Warn("alert engine behind: observations dropped", "dropped_batches", s.Dropped.Load(), "queued_bytes", s.queued.Load())
	}
}

// work is one item of the engine's queue: a batch of observations, or a
// marker whose channel is closed when everything before it is judged.
type work struct {
	obs   []Observation
	bytes int64 // obsBytes(obs)
	done  chan struct{}
}

// Flush waits until the engine has judged every batch handed to Observe
// before the call, and recorded the alerts they raised.
func (s *Service) Flush(ctx context.Context) error {
	done := make(chan struct{})
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return nil
	}
	select {
	case s.in <- work{done: done}:
	case <-ctx.Done():
		s.mu.RUnlock()
		return ctx.Err()
	}
	s.mu.RUnlock()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close processes the observations already queued, records their alerts,
// and stops. Deliveries still pending stay in the database for the next start.
func (s *Service) Close() error {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.in)
	}
	s.mu.Unlock()
	<-s.engineDone
	s.cancel()
	s.wg.Wait()
	return nil
}

func (s *Service) runEngine() {
	defer close(s.engineDone)
	tick := time.NewTicker(time.Minute)
	defer tick.Stop()
	for {
		select {
		case w, ok := <-s.in:
			if !ok {
				return
			}
			if w.done != nil {
				close(w.done)
				continue
			}
			batch := w.obs
			for _, a := range s.engine.Tick(s.cfg.Now()) {
				s.record(a)
			}
			evicted := s.engine.Evicted
			for _, o := range batch {
				for _, a := range s.engine.Observe(o) {
					s.record(a)
				}
				for _, a := range s.drops.Observe(o) {
					s.record(a)
				}
			}
			s.queued.Add(-w.bytes)
			if s.engine.Evicted != evicted {
				s.Evicted.Store(s.engine.Evicted)
				if evicted == 0 || s.engine.Evicted/1000 != evicted/1000 {
					s.log.Warn("alert engine at its limit of dynos per app (1000) or of memory (ALERT_STATE_MB): the quietest dynos are forgotten",
						"evicted", s.engine.Evicted, "state_bytes", s.engine.Bytes())
				}
			}
		case <-tick.C:
			for _, a := range s.engine.Tick(s.cfg.Now()) {
				s.record(a)
			}
		}
	}
}

func (s *Service) record(a Alert) {
	if s.cfg.Suspects != nil && a.State == Firing && (a.Rule == RuleLeak || a.Rule == RuleOverQuota) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		sus, err := s.cfg.Suspects(ctx, a.App, a.Time)
		cancel()
		if err != nil {
			s.log.Warn("suspects for an alert", "app", a.App, "error", err.Error())
		}
		for _, x := range sus {
			if x.Named && len(a.Suspects) < 3 {
				a.Suspects = append(a.Suspects, x)
			}
		}
	}
	details, err := json.Marshal(a)
	if err != nil {
		s.log.Error("alert not recorded", "error", err.Error())
		return
	}
	rec := store.AlertRecord{App: a.App, Dyno: a.Dyno, Rule: string(a.Rule), State: string(a.State), Time: a.Time,
		Summary: a.Summary, Details: string(details), Created: s.cfg.Now()}
	id, err := s.store.InsertAlert(context.Background(), rec, s.notifier != nil)
	if err != nil {
		s.log.Error("alert not recorded", "app", a.App, "dyno", a.Dyno, "rule", string(a.Rule), "error", err.Error())
		return
	}
	s.Fired.Add(1)
	s.log.Info("alert "+string(a.State), "id", id, "app", a.App, "dyno", a.Dyno, "rule", string(a.Rule), "summary", a.Summary)
	select {
	case s.wake <- struct{}{}:
	default:
	}
}
