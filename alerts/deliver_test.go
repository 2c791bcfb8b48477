package alerts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drainwatch/drainwatch/store"
	"github.com/drainwatch/drainwatch/store/sqlite"
)

// fakeClock is the deliveries' clock, moved by the test.
type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time          { return c.now }
func (c *fakeClock) Add(d time.Duration)     { c.now = c.now.Add(d) }
func (c *fakeClock) Since(t time.Time) int64 { return int64(c.now.Sub(t) / time.Second) }

// scriptedNotifier answers each attempt with the next of its answers (nil:
// delivered), and records which alert it was asked for, and when.
type scriptedNotifier struct {
	clock   *fakeClock
	answers map[string][]error // by alert summary
	tries   []string           // "summary@seconds since t0"
}

var errRetryable = errors.New("503 from Slack")

// permanent marks an answer that retrying will not change (a 4xx).
type permanent struct{ error }

func (n *scriptedNotifier) Notify(ctx context.Context, a Alert) (bool, error) {
	n.tries = append(n.tries, fmt.Sprintf("%s@%d", a.Summary, n.clock.Since(t0)))
	answers := n.answers[a.Summary]
	if len(answers) == 0 {
		return false, nil
	}
	err := answers[0]
	n.answers[a.Summary] = answers[1:]
	if err == nil {
		return false, nil
	}
	var p permanent
	return !errors.As(err, &p), err
}

// deliveries is a Service with only its delivery side (no goroutines), on a
// real database and a fake clock.
func deliveries(t *testing.T, cfg ServiceConfig, answers map[string][]error) (*Service, *sqlite.DB, *fakeClock, *scriptedNotifier) {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "d.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	clock := &fakeClock{now: t0}
	n := &scriptedNotifier{clock: clock, answers: answers}
	cfg.Now = clock.Now
	if cfg.MinBackoff == 0 {
		cfg.MinBackoff = 2 * time.Second
	}
	if cfg.MaxBackoff == 0 {
		cfg.MaxBackoff = 5 * time.Minute
	}
	if cfg.MaxAge == 0 {
		cfg.MaxAge = 6 * time.Hour
	}
	cfg.Timeout = time.Second
	s := &Service{cfg: cfg, store: db, notifier: n, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	return s, db, clock, n
}

// queue records an alert to deliver, created now.
func queue(t *testing.T, db *sqlite.DB, clock *fakeClock, summary string) int64 {
	t.Helper()
	a := Alert{App: "shop", Dyno: "web.1", Rule: RuleOverQuota, State: Firing, Time: clock.now, Summary: summary}
	details, _ := json.Marshal(a)
	id, err := db.InsertAlert(context.Background(), store.AlertRecord{App: a.App, Dyno: a.Dyno, Rule: string(a.Rule), State: string(a.State),
		Time: a.Time, Summary: summary, Details: string(details), Created: clock.now}, true)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// step runs one round of deliveries and returns how long they wait.
func step(t *testing.T, s *Service) time.Duration {
	t.Helper()
	wait, err := s.deliverPending(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return wait
}

func status(t *testing.T, db *sqlite.DB, id int64) string {
	t.Helper()
	st, attempts, lastErr, err := db.DeliveryStatus(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%s/%d/%s", st, attempts, lastErr)
}

// A failing delivery waits 2, 4, 8… seconds between attempts, up to
// MaxBackoff; an attempt is made only once it is due.
func TestDeliveryBackoff(t *testing.T) {
	s, db, clock, n := deliveries(t, ServiceConfig{MaxBackoff: 10 * time.Second},
		map[string][]error{"a": {errRetryable, errRetryable, errRetryable, errRetryable, errRetryable, nil}})
	id := queue(t, db, clock, "a")
	var waits []string
	for i := 0; i < 20; i++ {
		wait := step(t, s)
		if wait == 0 {
			break
		}
		waits = append(waits, wait.String())
		clock.Add(wait)
	}
	if got := strings.Join(waits, " "); got != "2s 4s 8s 10s 10s" {
		t.Errorf("waits %s, want 2s 4s 8s 10s 10s", got)
	}
	if got := strings.Join(n.tries, " "); got != "a@0 a@2 a@6 a@14 a@24 a@34" {
		t.Errorf("attempts %s", got)
	}
	if got := status(t, db, id); got != "sent/6/" {
		t.Errorf("status %s", got)
	}
	// Not due yet: no attempt, the wait left.
	s2, db2, clock2, n2 := deliveries(t, ServiceConfig{}, map[string][]error{"b": {errRetryable, nil}})
	queue(t, db2, clock2, "b")
	step(t, s2)
	clock2.Add(1500 * time.Millisecond)
	if wait := step(t, s2); wait != 500*time.Millisecond || len(n2.tries) != 1 {
		t.Errorf("before it is due: wait %s, %d attempts", wait, len(n2.tries))
	}
}

// A failing alert holds back the ones recorded after it, so that Slack
// shows them in order; once it is delivered, they follow in the same round.
func TestDeliveryKeepsOrder(t *testing.T) {
	s, db, clock, n := deliveries(t, ServiceConfig{}, map[string][]error{"first": {errRetryable, nil}})
	first := queue(t, db, clock, "first")
	second := queue(t, db, clock, "second")
	third := queue(t, db, clock, "third")
	if wait := step(t, s); wait != 2*time.Second {
		t.Fatalf("wait %s", wait)
	}
	if got := strings.Join(n.tries, " "); got != "first@0" {
		t.Fatalf("the alerts after a failing one were tried: %s", got)
	}
	clock.Add(2 * time.Second)
	if wait := step(t, s); wait != 0 {
		t.Errorf("wait %s, want none (all delivered)", wait)
	}
	if got := strings.Join(n.tries, " "); got != "first@0 first@2 second@2 third@2" {
		t.Errorf("attempts %s", got)
	}
	for _, id := range []int64{first, second, third} {
		if !strings.HasPrefix(status(t, db, id), "sent/") {
			t.Errorf("alert %d: %s", id, status(t, db, id))
		}
	}
}

// An alert still failing after MaxAge is given up (failed, with its last
// error), as are those held back behind it as long; one Slack refuses for
// good fails at once, and the next is delivered. Slack's Retry-After is
// waited when longer than the backoff.
func TestDeliveryGivesUp(t *testing.T) {
	s, db, clock, n := deliveries(t, ServiceConfig{MaxAge: time.Minute, MaxBackoff: 20 * time.Second}, map[string][]error{
		"stuck":   {errRetryable, errRetryable, errRetryable, errRetryable, errRetryable, errRetryable, errRetryable},
		"refused": {permanent{errors.New("404 no_service")}},
		"slow":    {&RetryAfterError{After: 30 * time.Second, Err: errors.New("429 rate limited")}},
	})
	stuck := queue(t, db, clock, "stuck")
	behind := queue(t, db, clock, "behind")
	for i := 0; i < 10 && strings.HasPrefix(status(t, db, stuck), "pending"); i++ {
		clock.Add(step(t, s))
	}
	// Attempts at 0, 2, 6, 14, 30, 50 s; at 70 s it is past its minute.
	if got := status(t, db, stuck); got != "failed/6/503 from Slack" || clock.Since(t0) != 70 {
		t.Errorf("stuck: %s at %d s, want given up after 6 attempts, at 70 s", got, clock.Since(t0))
	}
	if got := status(t, db, behind); got != "failed/0/" {
		t.Errorf("behind: %s, want given up unsent, as old", got)
	}
	refused := queue(t, db, clock, "refused")
	slow := queue(t, db, clock, "slow")
	wait := step(t, s)
	if got := status(t, db, refused); got != "failed/1/404 no_service" {
		t.Errorf("refused: %s, want failed at once", got)
	}
	if got := status(t, db, slow); got != "pending/1/429 rate limited" || wait != 30*time.Second {
		t.Errorf("slow: %s, waits %s; want Retry-After's 30s", got, wait)
	}
	clock.Add(wait)
	step(t, s)
	if got := status(t, db, slow); got != "sent/2/" || n.tries[len(n.tries)-1] != "slow@100" {
		t.Errorf("slow: %s, attempts %v", got, n.tries)
	}
}

// An attempt cut short by shutdown does not count.
func TestDeliveryShutdownDoesNotCount(t *testing.T) {
	s, db, clock, _ := deliveries(t, ServiceConfig{}, nil)
	id := queue(t, db, clock, "a")
	ctx, cancel := context.WithCancel(context.Background())
	s.notifier = notifyFunc(func(ctx context.Context, a Alert) (bool, error) {
		cancel()
		return true, ctx.Err()
	})
	s.deliverPending(ctx)
	if got := status(t, db, id); got != "pending/0/" {
		t.Errorf("status %s, want the attempt not counted", got)
	}
}

type notifyFunc func(ctx context.Context, a Alert) (bool, error)

func (f notifyFunc) Notify(ctx context.Context, a Alert) (bool, error) { return f(ctx, a) }
