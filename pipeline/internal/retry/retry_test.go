package retry

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestDo(t *testing.T) {
	b := Backoff{Min: time.Millisecond, Max: 4 * time.Millisecond}
	errDown := errors.New("server down")
	t.Run("retries until success", func(t *testing.T) {
		calls, retries := 0, 0
		err := Do(context.Background(), b, "insert", func(context.Context) error {
			calls++
			if calls < 5 {
				return errDown
			}
			return nil
		}, func(attempt int, wait time.Duration, err error) {
			retries++
			if attempt != retries || wait > b.Max || !errors.Is(err, errDown) {
				t.Errorf("onRetry(%d, %v, %v)", attempt, wait, err)
			}
		})
		if err != nil || calls != 5 || retries != 4 {
			t.Fatalf("Do = %v after %d calls and %d retries, want nil after 5 and 4", err, calls, retries)
		}
	})
	t.Run("gives up when the context ends", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		calls := 0
		err := Do(ctx, b, "insert", func(context.Context) error {
			calls++
			if calls == 3 {
				cancel()
			}
			return errDown
		}, nil)
		if !errors.Is(err, errDown) || calls != 3 {
			t.Fatalf("Do = %v after %d calls, want errDown after 3", err, calls)
		}
	})
}
