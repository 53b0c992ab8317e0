package sink

import (
	"context"
	"log/slog"
	"time"

	"github.com/cxstream/cxstream/pipeline/internal/retry"
)

// retry calls f until it succeeds or ctx ends (see retry.Do), logging each
// failure and the recovery.
func (s *Sink) retry(ctx context.Context, log *slog.Logger, action string, f func(context.Context) error) error {
	failed := false
	err := retry.Do(ctx, retry.Backoff{Min: s.cfg.RetryMin, Max: s.cfg.RetryMax}, action, f, func(attempt int, wait time.Duration, err error) {
		failed = true
		log.Warn("sink retrying", "action", action, "attempt", attempt, "backoff", wait.String(), "error", err)
	})
	if err == nil && failed {
		log.Info("sink recovered", "action", action)
	}
	return err
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
