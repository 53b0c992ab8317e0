// Package retry runs an operation until it succeeds, backing off
// exponentially with jitter between attempts: what every stage does while a
// dependency (Redis, Kafka, ClickHouse) is unavailable.
package retry

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"
)

// Backoff bounds the waits: the first is about Min, each next one doubles,
// none exceeds Max. Each wait is jittered down by up to a half so that
// replicas that failed together do not retry together.
type Backoff struct {
	Min, Max time.Duration
}

// Do calls op until it returns nil or ctx ends. Before each wait it tells
// onRetry (which may be nil) the attempt number, the wait and the error.
// When ctx ends first it returns op's last error, wrapped with action.
func Do(ctx context.Context, b Backoff, action string, op func(context.Context) error, onRetry func(attempt int, wait time.Duration, err error)) error {
	delay := max(b.Min, time.Millisecond)
	for attempt := 1; ; attempt++ {
		err := op(ctx)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%s: gave up after %d attempts: %w", action, attempt, err)
		}
		wait := delay/2 + rand.N(delay/2+1)
		if onRetry != nil {
			onRetry(attempt, wait, err)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%s: gave up after %d attempts: %w", action, attempt, err)
		case <-t.C:
		}
		delay = min(2*delay, max(b.Max, b.Min))
	}
}
