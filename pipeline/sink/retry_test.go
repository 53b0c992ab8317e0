package sink

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"
)

func testSink(t *testing.T) *Sink {
	t.Helper()
	cfg := Default()
	cfg.RetryMin, cfg.RetryMax = time.Millisecond, 4*time.Millisecond
	return &Sink{cfg: cfg, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
}

func TestRetry(t *testing.T) {
	errDown := errors.New("server down")
	t.Run("retries until success", func(t *testing.T) {
		s := testSink(t)
		calls := 0
		err := s.retry(context.Background(), s.log, "insert", func(context.Context) error {
			calls++
			if calls < 5 {
				return errDown
			}
			return nil
		})
		if err != nil || calls != 5 {
			t.Fatalf("retry = %v after %d calls, want nil after 5", err, calls)
		}
	})
	t.Run("gives up when the context ends", func(t *testing.T) {
		s := testSink(t)
		ctx, cancel := context.WithCancel(context.Background())
		calls := 0
		err := s.retry(ctx, s.log, "insert", func(context.Context) error {
			calls++
			if calls == 3 {
				cancel()
			}
			return errDown
		})
		if !errors.Is(err, errDown) || calls != 3 {
			t.Fatalf("retry = %v after %d calls, want errDown after 3", err, calls)
		}
	})
}

func TestDrainContext(t *testing.T) {
	t.Run("outlives its parent by the grace", func(t *testing.T) {
		parent, cancelParent := context.WithCancel(context.Background())
		ctx, cancel := drainContext(parent, 50*time.Millisecond)
		defer cancel()
		cancelParent()
		if ctx.Err() != nil {
			t.Fatal("drain context ended with its parent")
		}
		select {
		case <-ctx.Done():
		case <-time.After(10 * time.Second):
			t.Fatal("drain context did not end after the grace")
		}
	})
	t.Run("cancel ends it", func(t *testing.T) {
		ctx, cancel := drainContext(context.Background(), time.Hour)
		cancel()
		if ctx.Err() == nil {
			t.Fatal("cancel did not end the drain context")
		}
	})
}
