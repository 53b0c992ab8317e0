package sink

import (
	"context"
	"testing"
	"time"
)

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
