package sink

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"
)

// retry calls f until it succeeds or ctx ends, sleeping between attempts
// from RetryMin doubling up to RetryMax, each sleep jittered down by up to a
// half so that replicas that failed together do not retry together. It
// returns f's last error, wrapped with action, when ctx ends first.
func (s *Sink) retry(ctx context.Context, log *slog.Logger, action string, f func(context.Context) error) error {
	delay := s.cfg.RetryMin
	for attempt := 1; ; attempt++ {
		err := f(ctx)
		if err == nil {
			if attempt > 1 {
				log.Info("sink recovered", "action", action, "attempts", attempt)
			}
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%s: gave up after %d attempts: %w", action, attempt, err)
		}
		sleep := delay/2 + rand.N(delay/2+1)
		log.Warn("sink retrying", "action", action, "attempt", attempt, "backoff", sleep.String(), "error", err)
		t := time.NewTimer(sleep)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%s: gave up after %d attempts: %w", action, attempt, err)
		case <-t.C:
		}
		delay = min(2*delay, s.cfg.RetryMax)
	}
}

// drainContext returns a context for handling one fetched batch. It is not
// cancelled when ctx is, so that a batch fetched before shutdown is still
// inserted and committed, but it ends grace after ctx does, so that shutdown
// is bounded. Its helper goroutine (started by context.AfterFunc only once ctx
// ends) exits when the grace timer fires or the returned cancel is called.
func drainContext(ctx context.Context, grace time.Duration) (context.Context, context.CancelFunc) {
	dctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, func() {
		t := time.NewTimer(grace)
		defer t.Stop()
		select {
		case <-t.C:
			cancel()
		case <-dctx.Done():
		}
	})
	return dctx, func() {
		stop()
		cancel()
	}
}
