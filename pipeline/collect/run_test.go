package collect

import (
	"context"
	"net"
	"testing"
	"time"
)

func TestRunStopsWhenContextEnds(t *testing.T) {
	cfg := testConfig()
	cfg.Addr = "127.0.0.1:0"
	c, _ := newTestCollector(t, cfg, &fakePublisher{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run after cancel: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}

func TestRunReportsListenError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cfg := testConfig()
	cfg.Addr = ln.Addr().String()
	c, _ := newTestCollector(t, cfg, &fakePublisher{})
	if err := c.Run(context.Background()); err == nil {
		t.Fatal("Run on a busy address returned nil")
	}
}
