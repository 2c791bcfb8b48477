package alerts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/drainwatch/drainwatch/store"
)

// runDeliveries sends pending alerts in the order they were recorded. A
// failing alert holds back the ones after it (so Slack shows them in order),
// with exponential backoff; an alert older than MaxAge is given up on with a
// log line. Everything is in the database, so a restart neither loses nor
// repeats a delivery (but for one whose success was not yet recorded: at
// least once).
func (s *Service) runDeliveries(ctx context.Context) {
	for {
		wait, err := s.deliverPending(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			s.log.Error("alert delivery", "error", err.Error())
			wait = s.cfg.MinBackoff
		}
		var timer *time.Timer
		var due <-chan time.Time
		if wait > 0 {
			timer = time.NewTimer(wait)
			due = timer.C
		}
		select {
		case <-ctx.Done():
		case <-s.wake:
		case <-due:
		}
		if timer != nil {
			timer.Stop()
		}
		if ctx.Err() != nil {
			return
		}
	}
}

// deliverPending tries the pending deliveries in order. It returns how long
// to wait before the next attempt is due (0: nothing pending, wait for a new
// alert).
func (s *Service) deliverPending(ctx context.Context) (time.Duration, error) {
	for {
		pending, err := s.store.PendingDeliveries(ctx, 50)
		if err != nil || len(pending) == 0 {
			return 0, err
		}
		for _, d := range pending {
			now := s.cfg.Now()
			if age := now.Sub(d.Alert.Created); age > s.cfg.MaxAge {
				s.log.Error("alert delivery given up", "id", d.Alert.ID, "app", d.Alert.App, "dyno", d.Alert.Dyno,
					"rule", d.Alert.Rule, "attempts", d.Attempts, "age", age.Round(time.Second).String(), "last_error", d.LastError)
				if err := s.store.UpdateDelivery(ctx, d.Alert.ID, store.DeliveryFailed, d.Attempts, now, d.LastError, now); err != nil {
					return 0, err
				}
				continue
			}
			if d.NextAttempt.After(now) {
				return d.NextAttempt.Sub(now), nil
			}
			if err := s.attempt(ctx, d, now); err != nil {
				return 0, err
			}
			if ctx.Err() != nil {
				return 0, ctx.Err()
			}
			// The head failed and waits: keep the order.
			if next, ok := s.headWaits(ctx, d); ok {
				return next, nil
			}
		}
	}
}

// headWaits reports whether delivery d is still pending (it failed), and for
// how long it waits.
func (s *Service) headWaits(ctx context.Context, d store.Delivery) (time.Duration, bool) {
	pending, err := s.store.PendingDeliveries(ctx, 1)
	if err != nil || len(pending) == 0 || pending[0].Alert.ID != d.Alert.ID {
		return 0, false
	}
	return max(pending[0].NextAttempt.Sub(s.cfg.Now()), time.Millisecond), true
}

func (s *Service) attempt(ctx context.Context, d store.Delivery, now time.Time) error {
	var a Alert
	if err := json.Unmarshal([]byte(d.Alert.Details), &a); err != nil {
		s.log.Error("alert delivery given up: unreadable alert", "id", d.Alert.ID, "error", err.Error())
		return s.store.UpdateDelivery(ctx, d.Alert.ID, store.DeliveryFailed, d.Attempts, now, err.Error(), now)
	}
	a.ID = d.Alert.ID
	actx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	retry, err := s.notifier.Notify(actx, a)
	cancel()
	attempts := d.Attempts + 1
	now = s.cfg.Now()
	if err == nil {
		s.log.Info("alert delivered", "id", a.ID, "app", a.App, "dyno", a.Dyno, "rule", string(a.Rule), "state", string(a.State), "attempts", attempts)
		return s.store.UpdateDelivery(ctx, a.ID, store.DeliverySent, attempts, now, "", now)
	}
	if ctx.Err() != nil {
		return nil // shutting down: the attempt does not count
	}
	if !retry {
		s.log.Error("alert delivery failed for good", "id", a.ID, "app", a.App, "dyno", a.Dyno, "error", err.Error())
		return s.store.UpdateDelivery(ctx, a.ID, store.DeliveryFailed, attempts, now, err.Error(), now)
	}
	backoff := s.cfg.MinBackoff << min(attempts-1, 20)
	backoff = min(backoff, s.cfg.MaxBackoff)
	var ra *RetryAfterError
	if errors.As(err, &ra) && ra.After > backoff {
		backoff = ra.After
	}
	s.log.Warn("alert delivery failed; will retry", "id", a.ID, "attempts", attempts, "retry_in", backoff.String(), "error", err.Error())
	return s.store.UpdateDelivery(ctx, a.ID, store.DeliveryRetry, attempts, now.Add(backoff), fmt.Sprint(err), now)
}
